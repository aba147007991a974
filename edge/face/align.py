"""The 112x112 face crop the embedders take: five landmarks moved onto ArcFace's template.

The same crop as insightface's `norm_crop` (a least-squares similarity transform, Umeyama 1991,
then one warp), written here because importing it loads all of insightface, and with it onnx,
SciPy and scikit-image: about 60 MB of a gate's memory and a second of its start, for twenty
lines of arithmetic. tests/edge/test_align.py holds it to insightface's own result.
"""

from __future__ import annotations

import cv2
import numpy as np

ARCFACE_TEMPLATE = np.array([[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366],
                             [41.5493, 92.3655], [70.7299, 92.2041]], dtype=np.float64)  # at 112x112


def similarity(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """The 2x3 rotation, uniform scale and shift taking `source` points closest to `target` (least squares)."""
    source, target = np.asarray(source, np.float64), np.asarray(target, np.float64)
    source_mean, target_mean = source.mean(axis=0), target.mean(axis=0)
    source_centred, target_centred = source - source_mean, target - target_mean
    covariance = target_centred.T @ source_centred / len(source)
    u, singular, vt = np.linalg.svd(covariance)
    sign = np.ones(2)
    if np.linalg.det(covariance) < 0:
        sign[1] = -1.0  # a reflection fits better: take the best rotation instead
    rotation = u @ np.diag(sign) @ vt
    scale = float((singular * sign).sum() / source_centred.var(axis=0).sum())
    matrix = np.zeros((2, 3))
    matrix[:, :2] = scale * rotation
    matrix[:, 2] = target_mean - scale * rotation @ source_mean
    return matrix


def norm_crop(image: np.ndarray, landmarks: np.ndarray, size: int = 112) -> np.ndarray:
    """The face aligned to the template, `size` pixels square (a multiple of 112)."""
    matrix = similarity(landmarks, ARCFACE_TEMPLATE * (size / 112.0))
    return cv2.warpAffine(image, matrix, (size, size), borderValue=0.0)
