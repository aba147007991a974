"""The thermal stage: inner eye corners → blackbody correction → °C with flags and liveness.

The colour camera's landmarks are mapped onto the thermal image with the configured homography.
The hottest robust value at the inner canthi, corrected by the blackbody reference in view,
estimates core temperature; too few pixels, a missing reference or a frozen sensor make the
reading unavailable, never normal.
"""

from __future__ import annotations

import numpy as np

from edge.config import ThermalConfig
from edge.stages.base import FrameContext, ThermalReading

CANTHUS_OFFSET_C = 0.3  # inner canthus reads this much below core temperature
MIN_SKIN_C = 33.0  # a live face's canthus, corrected, is never colder than this
MIN_GRADIENT_C = 0.6  # canthus above the face's median: a flat photo or screen has none
MAX_DISTANCE_M = 1.2
MIN_EYE_PIXELS = 8.0  # thermal pixels between the eyes; fewer blur the canthi into the skin
MIN_DISTANCE_M = 0.3


class ThermalStage:
    name = "thermal"

    def __init__(self, config: ThermalConfig, *, blackbody_c: float | None, blackbody_box: list[int] | None) -> None:
        self.config = config
        self.homography = np.asarray(config.homography, dtype=np.float64)
        self.blackbody_c = blackbody_c
        self.blackbody_box = blackbody_box
        self._last: np.ndarray | None = None
        self._unchanged_since: float | None = None
        self.fault: str | None = None

    def process(self, context: FrameContext) -> None:
        frame = context.thermal_frame
        face = context.face.primary if context.face else None
        if frame is None:
            self.fault = "no thermal frame"
        else:
            self._watch_frozen(frame.celsius, context.now)
        if face is None:
            return
        context.thermal = self.measure(frame.celsius if frame is not None else None, face.landmarks, face.distance_m)

    def _watch_frozen(self, celsius: np.ndarray, now: float) -> None:
        if self._last is not None and np.array_equal(celsius, self._last):
            self._unchanged_since = self._unchanged_since or now
            if now - self._unchanged_since >= self.config.frozen_after_s:
                self.fault = "thermal sensor frozen (frames not changing)"
        else:
            self._unchanged_since = None
            self.fault = None
        self._last = celsius

    def measure(self, celsius: np.ndarray | None, landmarks: np.ndarray, distance_m: float) -> ThermalReading:
        if self.fault:
            return ThermalReading(False, reason=self.fault)
        if celsius is None:
            return ThermalReading(False, reason="no thermal frame")
        if not np.isfinite(celsius).all():
            return ThermalReading(False, reason="thermal frame holds NaN or infinite pixels")
        flags = []
        if distance_m > MAX_DISTANCE_M:
            flags.append("too far")
        if distance_m < MIN_DISTANCE_M:
            flags.append("too close")
        offset = self._blackbody_offset(celsius)
        if offset is None:
            flags.append("blackbody missing")
        points = self._to_thermal(landmarks[:3])
        eyes, nose = points[:2], points[2]
        inner = eyes + (eyes[::-1] - eyes) * 0.18
        eye_px = float(np.linalg.norm(eyes[0] - eyes[1]))
        radius = max(1, int(round(0.15 * eye_px)))
        values = [self._window_max(celsius, point, radius) for point in inner]
        if eye_px < MIN_EYE_PIXELS or any(v is None for v in values):
            flags.append("too few pixels")
            return ThermalReading(False, flags=flags, reason="too few thermal pixels on the eyes")
        canthus = max(v for v in values if v is not None) - (offset or 0.0)
        face_median = self._face_median(celsius, eyes, nose, eye_px) - (offset or 0.0)
        live = canthus >= MIN_SKIN_C and canthus - face_median >= MIN_GRADIENT_C
        estimate = canthus + CANTHUS_OFFSET_C
        uncertainty = 0.2 if offset is not None else 0.8
        if "too far" in flags or "too close" in flags:
            return ThermalReading(False, estimate, uncertainty, live, flags, reason=f"face {flags[0]} for a reading")
        if offset is None:
            return ThermalReading(False, estimate, uncertainty, live, flags, reason="blackbody reference missing")
        return ThermalReading(True, round(estimate, 2), uncertainty, live, flags,
                              reason="" if live else "no live skin-temperature pattern")

    def _to_thermal(self, points: np.ndarray) -> np.ndarray:
        homogeneous = np.hstack([points, np.ones((len(points), 1))]) @ self.homography.T
        return homogeneous[:, :2] / homogeneous[:, 2:3]

    @staticmethod
    def _window_max(celsius: np.ndarray, point: np.ndarray, radius: int) -> float | None:
        x, y = int(round(point[0])), int(round(point[1]))
        h, w = celsius.shape
        if not (0 <= x < w and 0 <= y < h):
            return None
        window = celsius[max(0, y - radius):y + radius + 1, max(0, x - radius):x + radius + 1]
        return float(np.sort(window, axis=None)[-2]) if window.size > 2 else float(window.max())

    @staticmethod
    def _face_median(celsius: np.ndarray, eyes: np.ndarray, nose: np.ndarray, eye_px: float) -> float:
        h, w = celsius.shape
        x0 = int(max(0, min(eyes[:, 0]) - 0.5 * eye_px))
        x1 = int(min(w, max(eyes[:, 0]) + 0.5 * eye_px + 1))
        y0 = int(max(0, min(eyes[:, 1]) - 0.6 * eye_px))
        y1 = int(min(h, nose[1] + 0.8 * eye_px + 1))
        region = celsius[y0:y1, x0:x1]
        return float(np.median(region)) if region.size else float("nan")

    def _blackbody_offset(self, celsius: np.ndarray) -> float | None:
        if self.blackbody_c is None or self.blackbody_box is None:
            return None
        x, y, w, h = self.blackbody_box
        region = celsius[y:y + h, x:x + w]
        if region.size == 0:
            return None
        inner = region[h // 4: h - h // 4 or None, w // 4: w - w // 4 or None]
        measured = float(np.median(inner if inner.size else region))
        offset = measured - self.blackbody_c
        if abs(offset) > 5.0 or float(np.std(inner if inner.size else region)) > 0.5:
            return None  # not the reference: blocked, moved or not yet warm
        return offset
