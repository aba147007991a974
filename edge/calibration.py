"""Registration of the colour camera onto the thermal image: a homography from matched points.

Points come from a CSV (rgb_x, rgb_y, thermal_x, thermal_y) or from pairs of frames of a heated
target seen by both cameras (`NAME.png`/`.jpg` and `NAME.npy` in °C): the target is the
brightest blob in the colour frame and the hottest in the thermal one.
"""

from __future__ import annotations

import csv
from pathlib import Path

import cv2
import numpy as np

from edge.errors import ConfigError


def read_points(path: Path) -> tuple[np.ndarray, np.ndarray]:
    rgb, thermal = [], []
    try:
        with open(path, newline="") as handle:
            for number, row in enumerate(csv.DictReader(handle), start=2):
                try:
                    rgb.append([float(row["rgb_x"]), float(row["rgb_y"])])
                    thermal.append([float(row["thermal_x"]), float(row["thermal_y"])])
                except (KeyError, TypeError, ValueError):
                    raise ConfigError(f"{path}: line {number}: expected numbers in rgb_x, rgb_y, thermal_x, "
                                      "thermal_y") from None
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    return np.array(rgb, np.float64), np.array(thermal, np.float64)


def _centroid(mask: np.ndarray) -> np.ndarray | None:
    moments = cv2.moments(mask.astype(np.uint8))
    if moments["m00"] == 0:
        return None
    return np.array([moments["m10"] / moments["m00"], moments["m01"] / moments["m00"]])


def _peak(image: np.ndarray) -> np.ndarray:
    """The pixels close to the image's maximum: the target."""
    top, background = float(image.max()), float(np.median(image))
    return image >= top - 0.3 * (top - background)


def target_points(directory: Path) -> tuple[np.ndarray, np.ndarray]:
    rgb, thermal = [], []
    for npy in sorted(Path(directory).glob("*.npy")):
        image_path = next((npy.with_suffix(s) for s in (".png", ".jpg", ".jpeg") if npy.with_suffix(s).exists()), None)
        if image_path is None:
            raise ConfigError(f"{npy}: no colour frame beside it ({npy.stem}.png or .jpg)")
        grey = cv2.imread(str(image_path), cv2.IMREAD_GRAYSCALE)
        celsius = np.load(npy)
        if grey is None:
            raise ConfigError(f"{image_path}: not a readable image")
        bright = _centroid(_peak(grey.astype(np.float32)))
        hot = _centroid(_peak(celsius))
        if bright is None or hot is None:
            raise ConfigError(f"{npy.stem}: target not found in both frames")
        rgb.append(bright)
        thermal.append(hot)
    return np.array(rgb, np.float64), np.array(thermal, np.float64)


def fit_homography(rgb: np.ndarray, thermal: np.ndarray) -> tuple[np.ndarray, float]:
    """(3x3 matrix mapping colour pixels to thermal pixels, mean reprojection error in thermal pixels)."""
    if len(rgb) < 4:
        raise ConfigError(f"calibration needs at least 4 matched points, got {len(rgb)}")
    matrix, _ = cv2.findHomography(rgb, thermal, 0)
    # points on a line give no matrix, or one that maps the view onto a line (no inverse)
    if matrix is None or not np.isfinite(matrix).all() or abs(matrix[2, 2]) < 1e-12 \
            or abs(np.linalg.det(matrix / matrix[2, 2])) < 1e-12:
        raise ConfigError("calibration points are degenerate (all on a line?); spread them over the view")
    projected = cv2.perspectiveTransform(rgb.reshape(-1, 1, 2), matrix).reshape(-1, 2)
    return matrix / matrix[2, 2], float(np.mean(np.linalg.norm(projected - thermal, axis=1)))
