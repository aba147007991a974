"""Is the face masked? A few measurements of the aligned crop and a logistic model over them.

The crop is the embedder's (112x112, eyes at row 52, nose tip at 72, mouth at 92). A mask covers the
nose tip, mouth, chin and lower cheeks with cloth: there the colour leaves the skin of the forehead
and brow, and the lips' edges go. The measurements compare the lower face with the upper, so light
and skin tone cancel. The weights are fitted by `bench/mask_train.py` on the MIT-licensed photos in
`../shared/data/faces` with masks drawn on (drivers/sim/mask.py), so they ship with the project; the
bench (`bench/face_masks.py`) measures them on photos they were not fitted on.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

# template rows and columns (start, stop) of the regions compared
UPPER = (slice(36, 50), slice(42, 70))  # between and above the brows: above any mask, below most fringes
NOSE = (slice(64, 78), slice(44, 68))  # the nose tip: the first a mask covers
LOWER = ((slice(82, 100), slice(38, 74)), (slice(100, 110), slice(42, 70)),  # mouth, chin
         (slice(76, 96), slice(18, 34)), (slice(76, 96), slice(78, 94)))  # lower cheeks
EYES = (slice(44, 60), slice(28, 84))
SKIN_CHROMA = 9.0  # within this distance (Cr, Cb units) of the brow's chroma a pixel reads as the same skin

FEATURES = ("lower_skin", "nose_skin", "chroma_gap", "light_gap", "light_gap_abs", "texture_ratio")
# fitted by bench/mask_train.py (see its output for the data and the fit); standardised features
MEANS = np.array([0.3739, 0.4452, 18.75, -0.1228, 0.162, 0.5416], np.float32)
SCALES = np.array([0.3411, 0.4272, 19.55, 0.1932, 0.1617, 0.403], np.float32)
WEIGHTS = np.array([-0.2257, -2.383, 1.996, 0.62, 1.156, -3.062], np.float32)
BIAS = -0.6447
THRESHOLD = 0.9  # probability above which a face is called masked: 0.4 % of bare development photos, one frame each


@dataclass(frozen=True)
class MaskReading:
    probability: float
    masked: bool


def features(crop: np.ndarray) -> np.ndarray:
    """The measurements of an aligned 112x112 BGR crop, in the order of FEATURES."""
    ycc = cv2.cvtColor(crop, cv2.COLOR_BGR2YCrCb).astype(np.float32)
    reference = _medians(ycc[UPPER].reshape(-1, 3))
    lower = np.concatenate([ycc[region].reshape(-1, 3) for region in LOWER])
    nose = ycc[NOSE].reshape(-1, 3)
    lower_skin = _skin_share(lower, reference)
    nose_skin = _skin_share(nose, reference)
    lower_median = _medians(lower)
    chroma_gap = float(np.linalg.norm(lower_median[1:] - reference[1:]))
    light_gap = float((lower_median[0] - reference[0]) / 255.0)
    grey = ycc[..., 0]
    texture = _laplacian_energy(grey[LOWER[0]]) / max(_laplacian_energy(grey[EYES]), 1e-3)
    return np.array([lower_skin, nose_skin, chroma_gap, light_gap, abs(light_gap), min(texture, 3.0)], np.float32)


def read_mask(crop: np.ndarray) -> MaskReading:
    probability = probability_of(features(crop))
    return MaskReading(probability, probability >= THRESHOLD)


def probability_of(measured: np.ndarray, weights: np.ndarray = WEIGHTS, bias: float = BIAS) -> float:
    z = float(((measured - MEANS) / SCALES) @ weights + bias)
    return 1.0 / (1.0 + np.exp(-np.clip(z, -30.0, 30.0)))


def _medians(pixels: np.ndarray) -> np.ndarray:
    """Each column's median, np.median's values without its overhead: these features run for every face searched
    (182 µs with it, 342 with np.median)."""
    middle = len(pixels) // 2
    if len(pixels) % 2:
        return np.partition(pixels, middle, axis=0)[middle]
    ordered = np.partition(pixels, (middle - 1, middle), axis=0)
    return (ordered[middle - 1] + ordered[middle]) / 2


def _skin_share(pixels: np.ndarray, reference: np.ndarray) -> float:
    gap = pixels[:, 1:] - reference[1:]
    return float(np.count_nonzero(np.einsum("ij,ij->i", gap, gap) < SKIN_CHROMA ** 2)) / len(pixels)


def _laplacian_energy(grey: np.ndarray) -> float:
    return float(np.mean(np.abs(cv2.Laplacian(grey, cv2.CV_32F))))
