"""Is this face good enough to recognise? Size, sharpness, pose and detector confidence."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from edge.face.detector import Detection


@dataclass(frozen=True)
class QualityLimits:
    min_eye_distance_px: float = 24.0
    min_sharpness: float = 30.0
    max_yaw: float = 0.35
    min_score: float = 0.6


@dataclass(frozen=True)
class Quality:
    eye_distance_px: float
    sharpness: float
    yaw: float
    score: float
    problems: tuple[str, ...]
    codes: tuple[str, ...] = ()  # one machine code per problem: too_small, blurred, turned_away, uncertain_detection

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def value(self) -> float:
        """One number to compare frames of the same track: bigger is better."""
        return self.eye_distance_px * min(1.0, self.sharpness / 200.0) * (1.0 - min(self.yaw, 0.9)) * self.score


def yaw_of(landmarks: np.ndarray) -> float:
    """Nose offset from the eyes' midpoint, over the eye distance (0 = frontal)."""
    eyes_mid = (landmarks[0] + landmarks[1]) / 2
    eye_distance = max(float(np.linalg.norm(landmarks[0] - landmarks[1])), 1e-6)
    return abs(float(landmarks[2][0] - eyes_mid[0])) / eye_distance


def sharpness_of(crop: np.ndarray) -> float:
    grey = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY) if crop.ndim == 3 else crop
    return float(cv2.Laplacian(grey, cv2.CV_64F).var())


def assess(detection: Detection, crop: np.ndarray, limits: QualityLimits) -> Quality:
    eye_distance = detection.eye_distance
    sharpness = sharpness_of(crop)
    yaw = yaw_of(detection.landmarks)
    problems, codes = [], []
    if eye_distance < limits.min_eye_distance_px:
        problems.append(f"too small (eyes {eye_distance:.0f} px apart, need {limits.min_eye_distance_px:.0f})")
        codes.append("too_small")
    if sharpness < limits.min_sharpness:
        problems.append(f"blurred (sharpness {sharpness:.0f}, need {limits.min_sharpness:.0f})")
        codes.append("blurred")
    if yaw > limits.max_yaw:
        problems.append(f"turned away (yaw {yaw:.2f}, limit {limits.max_yaw:.2f})")
        codes.append("turned_away")
    if detection.score < limits.min_score:
        problems.append(f"uncertain detection (score {detection.score:.2f})")
        codes.append("uncertain_detection")
    return Quality(eye_distance, sharpness, yaw, detection.score, tuple(problems), tuple(codes))
