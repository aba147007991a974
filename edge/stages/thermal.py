"""The thermal stage: inner eye corners → blackbody correction → ambient compensation → °C ± u.

The colour camera's landmarks are mapped onto the thermal image with the configured homography.
The highest robust value at the inner canthi (or the face maximum when too few pixels cover the
eyes), corrected by the blackbody reference in view and for the air temperature, estimates core
temperature. A reading that cannot be trusted (too far, too close, reference missing or
unstable, frozen sensor, NaN) is unavailable with its reason, never normal. Liveness: a live
face is warm skin with hotter canthi; a photo or a screen is cool or flat.

The thermal sensor has its own pace (an MLX90640 at 4 Hz): its newest frame may be a quarter of a
second older than the colour frame, and a person walking up has moved since. The face is looked
for in the thermal frame where the colour camera saw it when the thermal frame was captured
(landmarks interpolated between the colour frames around that moment), never where it is now: a
face read where it was not shows its cooler edge, and a fever read low is a fever let in. A frame
measured in two halves (an MLX90640's sub-pages, handed over as each arrives) is read half by half,
each where the face was when that half was measured.
"""

from __future__ import annotations

from collections import deque
from pathlib import Path

import numpy as np

from edge.config import ThermalConfig
from edge.stages.base import FrameContext, ThermalReading
from edge.thermal_baseline import PopulationBaseline

MIN_SKIN_C = 33.0  # a live face's canthus, corrected, is never colder than this
MIN_GRADIENT_C = 0.6  # canthus above the face's median: a flat photo or screen has none
MIN_EYE_PIXELS = 10.0  # thermal pixels between the eyes for a canthus reading (fewer blur the canthi)
SHARP_EYE_PIXELS = 14.0  # from here on the canthi are resolved; below, the uncertainty grows
MIN_FACE_PIXELS = 4.0  # below this, not even the face maximum is a reading
REFERENCE_AMBIENT_C = 22.0
BLACKBODY_WINDOW = 25  # frames of reference history
MAX_BLACKBODY_SPREAD_C = 0.15
VALID_RANGE_C = (-40.0, 150.0)
FACE_HISTORY = 64  # colour frames of the primary face kept for pairing (2.5 s at 25 frames/s)
PAIRING_S = 0.03  # a thermal frame this close to a colour frame's edge of the history is read with it
MAX_GAP_S = 0.2  # colour frames farther apart than this say too little about where the face was between
BASELINE_FILE = "thermal_baseline.json"


class ThermalStage:
    name = "thermal"

    def __init__(self, config: ThermalConfig, *, state_dir: Path | None = None) -> None:
        """`state_dir`: where screening mode keeps its samples across restarts (None: in memory only)."""
        self.config = config
        self.homography = np.asarray(config.homography, dtype=np.float64)
        self.blackbody_c = config.blackbody_c
        self.blackbody_box = config.blackbody_box
        self._offsets: deque[float] = deque(maxlen=BLACKBODY_WINDOW)
        # the samples are readings before the shift: they hold only while what produced them holds
        settings = (f"{config.driver} canthus {config.canthus_offset_c} slope {config.ambient_slope} "
                    f"emissivity {config.emissivity} blackbody {config.blackbody_c} reference {config.baseline.reference_c}")
        self.baseline = PopulationBaseline(config.baseline, settings=settings,
                                           path=state_dir / BASELINE_FILE if state_dir is not None else None)
        self._last: np.ndarray | None = None
        self._last_change = 0.0
        self.fault: str | None = None
        # (colour capture time, track, landmarks, distance) of the primary face, oldest first
        self._seen: deque[tuple[float, int, np.ndarray, float]] = deque(maxlen=FACE_HISTORY)

    def process(self, context: FrameContext) -> None:
        frame = context.thermal_frame
        if frame is None:
            self.fault = "no thermal frame"
        else:
            self._watch_frozen(frame.celsius, context.now)
            problem = self._frame_problem(frame.celsius)
            if problem:
                self.fault = problem
        face = context.face.primary if context.face else None
        if face is None:
            return
        self._seen.append((context.frame.time, face.track_id, face.landmarks, face.distance_m))
        if frame is None:
            context.thermal = self.measure(None, face.landmarks, face.distance_m)
            return
        seen = self.face_at(frame.time, face.track_id)
        if seen is None:
            context.thermal = ThermalReading(False, reason="no colour frame of this face when the thermal frame was taken")
            return
        landmarks, distance = seen
        halves = None
        if frame.fresh is not None:  # the other half is read only where the face was seen when it was measured
            before = None
            if frame.rest_time is not None and context.now - frame.rest_time <= self.config.max_frame_age_s:
                before = self.face_at(frame.rest_time, face.track_id)
            halves = (frame.fresh, before[0] if before else None)
        context.thermal = self.measure(frame.celsius, landmarks, distance, age_s=context.now - frame.time,
                                       emissivity_corrected=frame.emissivity_corrected, halves=halves)

    def face_at(self, when: float, track_id: int) -> tuple[np.ndarray, float] | None:
        """The face's landmarks and distance at `when`, interpolated between the colour frames around it;
        None when the face (this track) was not seen then."""
        seen = [(t, landmarks, distance) for t, track, landmarks, distance in self._seen if track == track_id]
        if not seen:
            return None
        if when <= seen[0][0]:
            return (seen[0][1], seen[0][2]) if seen[0][0] - when <= PAIRING_S else None
        if when >= seen[-1][0]:
            return (seen[-1][1], seen[-1][2]) if when - seen[-1][0] <= PAIRING_S else None
        for (t0, landmarks0, distance0), (t1, landmarks1, distance1) in zip(seen, seen[1:]):
            if t0 <= when <= t1:
                if t1 - t0 > MAX_GAP_S:
                    return None
                share = (when - t0) / (t1 - t0) if t1 > t0 else 0.0
                return (landmarks0 + (landmarks1 - landmarks0) * share, distance0 + (distance1 - distance0) * share)
        return None

    def learn(self, reading: ThermalReading | None) -> None:
        """A person's sharpest reading, when they have gone, joins the baseline if it is a trusted canthus reading."""
        if reading is not None and reading.trusted_canthus and reading.temperature_c is not None:
            self.baseline.add(reading.temperature_c - reading.baseline_shift_c)

    def _watch_frozen(self, celsius: np.ndarray, now: float) -> None:
        if self._last is not None and np.array_equal(celsius, self._last):
            if now - self._last_change >= self.config.frozen_after_s:
                self.fault = "thermal sensor frozen (frames not changing)"
        else:
            self._last_change = now
            self.fault = None
        self._last = celsius

    def measure(self, celsius: np.ndarray | None, landmarks: np.ndarray, distance_m: float, *,
                age_s: float = 0.0, emissivity_corrected: bool = False,
                halves: tuple[np.ndarray, np.ndarray | None] | None = None) -> ThermalReading:
        """A reading of the face at `landmarks` from a thermal frame `age_s` older than the colour frame.

        `halves`: for a frame measured in two halves, (the pixels measured with `landmarks`, the face's
        landmarks when the other half was measured, or None when it was not seen then: not trusted).
        """
        if self.fault:
            return ThermalReading(False, reason=self.fault)
        if celsius is None:
            return ThermalReading(False, reason="no thermal frame")
        if age_s > self.config.max_frame_age_s:  # the sensor's newest frame is from before the person moved on
            return ThermalReading(False, reason=f"thermal frame stale ({age_s:.2f} s old)")
        problem = self._frame_problem(celsius)
        if problem:
            return ThermalReading(False, reason=problem)
        flags: list[str] = []
        if distance_m > self.config.max_distance_m:
            flags.append("too far")
        if distance_m < self.config.min_distance_m:
            flags.append("too close")
        offset, spread = self._blackbody_offset(celsius)
        if offset is None:
            flags.append("blackbody missing")
        elif spread > MAX_BLACKBODY_SPREAD_C:
            flags.append("blackbody unstable")
        if halves is None:
            eye_px, windows, region = self._face_pixels(celsius, landmarks, None)
        else:  # each half read where the face was when it was measured
            fresh, rest_landmarks = halves
            eye_px, windows, region = self._face_pixels(celsius, landmarks, fresh)
            if rest_landmarks is not None:
                _, rest_windows, rest_region = self._face_pixels(celsius, rest_landmarks, ~fresh)
                windows = [np.concatenate(pair) for pair in zip(windows, rest_windows)]
                region = np.concatenate([region, rest_region])
            else:  # half the pixels miss the canthi as often as not: a fever read up to 0.5 °C low
                flags.append("half frame")
        values = [self._robust_max(window) for window in windows]
        if eye_px < MIN_EYE_PIXELS and distance_m * eye_px / MIN_EYE_PIXELS >= self.config.min_distance_m:
            flags.append("too small")  # a step closer, not inside the closest reading distance, resolves the canthi
        if eye_px >= MIN_EYE_PIXELS and all(v is not None for v in values):
            raw = max(v for v in values if v is not None)
        elif eye_px >= MIN_FACE_PIXELS and region.size:
            raw = float(np.percentile(region, 99))
            flags.append("face maximum")
        else:
            flags.append("too few pixels")
            return ThermalReading(False, flags=flags, reason="too few thermal pixels on the face")
        correction = offset or 0.0
        ambient = self._ambient(celsius) - correction
        canthus = self._skin(raw - correction, ambient, emissivity_corrected)
        face_median = self._skin(float(np.median(region)) - correction, ambient, emissivity_corrected) \
            if region.size else canthus
        # out of reading range the face is a few blurred pixels mixed with the background: its gradient
        # says nothing about liveness, so it is not judged there (a far live face would read as a photo)
        out_of_range = "too far" in flags or "too close" in flags
        live = None if out_of_range else bool(canthus >= MIN_SKIN_C and canthus - face_median >= MIN_GRADIENT_C)
        shift = self.baseline.shift_c
        estimate = (canthus + self.config.canthus_offset_c
                    + self.config.ambient_slope * (REFERENCE_AMBIENT_C - ambient) + shift)
        # the face maximum of a small face reads low (blur spreads the canthi): its uncertainty covers that
        uncertainty = (0.15 + 0.05 * max(0.0, SHARP_EYE_PIXELS - eye_px) + (0.6 if offset is None else 0.0)
                       + (0.6 if "face maximum" in flags else 0.0))
        reading = ThermalReading(True, round(estimate, 2), round(uncertainty, 2), live, flags,
                                 baseline_shift_c=round(shift, 3))
        blocking = [f for f in flags if f in ("too far", "too close", "blackbody missing", "blackbody unstable",
                                              "half frame")]
        if blocking:
            reading.available = False
            reading.reason = f"reading not trusted: {blocking[0]}"
        elif not live:
            reading.reason = "no live skin-temperature pattern"
        return reading

    @staticmethod
    def _frame_problem(celsius: np.ndarray) -> str:
        if not np.isfinite(celsius).all():
            return "thermal frame holds NaN or infinite pixels"
        if celsius.min() < VALID_RANGE_C[0] or celsius.max() > VALID_RANGE_C[1]:
            return "thermal pixels out of range"
        return ""

    def _to_thermal(self, points: np.ndarray) -> np.ndarray:
        homogeneous = np.hstack([points, np.ones((len(points), 1))]) @ self.homography.T
        return homogeneous[:, :2] / homogeneous[:, 2:3]

    def _face_pixels(self, celsius: np.ndarray, landmarks: np.ndarray,
                     mask: np.ndarray | None) -> tuple[float, list[np.ndarray], np.ndarray]:
        """(thermal pixels between the eyes, the pixels around each inner canthus, the face's pixels) of
        the face at `landmarks`, counting only the pixels in `mask` (None: all)."""
        points = self._to_thermal(landmarks[:3])
        eyes, nose = points[:2], points[2]
        eye_px = float(np.linalg.norm(eyes[0] - eyes[1]))
        inner = eyes + (eyes[::-1] - eyes) * 0.18
        radius = max(1, int(round(0.15 * eye_px)))
        h, w = celsius.shape
        windows = []
        for x, y in np.round(inner).astype(int):
            inside = 0 <= x < w and 0 <= y < h
            rows, columns = slice(max(0, y - radius), y + radius + 1), slice(max(0, x - radius), x + radius + 1)
            windows.append(_pixels(celsius, rows, columns, mask) if inside else np.empty(0, celsius.dtype))
        x0 = int(max(0, min(eyes[:, 0]) - 0.5 * eye_px))
        x1 = int(min(w, max(eyes[:, 0]) + 0.5 * eye_px + 1))
        y0 = int(max(0, min(eyes[:, 1]) - 0.6 * eye_px))
        y1 = int(min(h, nose[1] + 0.8 * eye_px + 1))
        return eye_px, windows, _pixels(celsius, slice(y0, max(y0, y1)), slice(x0, max(x0, x1)), mask)

    @staticmethod
    def _robust_max(window: np.ndarray) -> float | None:
        """The second-highest pixel (one hot pixel is not a canthus); None for no pixels."""
        if window.size == 0:
            return None
        return float(np.sort(window)[-2]) if window.size > 2 else float(window.max())

    def _skin(self, apparent: float, ambient: float, corrected: bool) -> float:
        """Skin temperature from what a sensor calibrated on a black body reports: skin reflects a little of the room."""
        if corrected:
            return apparent
        emissivity = self.config.emissivity
        return (apparent - (1.0 - emissivity) * ambient) / emissivity

    @staticmethod
    def _ambient(celsius: np.ndarray) -> float:
        """The air, as the scene's background shows it: the lower quartile of the frame."""
        return float(np.percentile(celsius[::2, ::2], 25))

    def _blackbody_offset(self, celsius: np.ndarray) -> tuple[float | None, float]:
        """(sensor offset from the reference, spread of recent offsets); None if no reference is seen."""
        if self.blackbody_c is None or not self.blackbody_box:
            return None, 0.0
        x, y, w, h = self.blackbody_box
        region = celsius[y:y + h, x:x + w]
        inner = region[h // 4: h - h // 4 or None, w // 4: w - w // 4 or None]
        sample = inner if inner.size else region
        if sample.size == 0:
            return None, 0.0
        offset = float(np.median(sample)) - self.blackbody_c
        if abs(offset) > 5.0 or float(np.std(sample)) > 0.5:
            self._offsets.clear()
            return None, 0.0  # not the reference: blocked, moved or not yet warm
        self._offsets.append(offset)
        return float(np.median(self._offsets)), float(np.std(self._offsets))


def _pixels(celsius: np.ndarray, rows: slice, columns: slice, mask: np.ndarray | None) -> np.ndarray:
    """The pixels of a rectangle, as a flat array, only those in `mask` where one is given."""
    block = celsius[rows, columns]
    return block.ravel() if mask is None else block[mask[rows, columns]]
