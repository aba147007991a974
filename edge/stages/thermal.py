"""The thermal stage: inner eye corners → blackbody correction → ambient compensation → °C ± u.

The colour camera's landmarks are mapped onto the thermal image with the configured homography.
The highest robust value at the inner canthi (or the face maximum when too few pixels cover the
eyes), corrected by the blackbody reference in view and for the air temperature, estimates core
temperature. A reading that cannot be trusted (too far, too close, reference missing or
unstable, frozen sensor, NaN) is unavailable with its reason and a machine code, never normal.
Liveness: a live face is warm skin with hotter canthi; a photo or a screen is cool or flat.

Each reading carries a measured uncertainty, from what this frame shows: the sensor's noise on
the blackbody, the spread of the canthus window, the reference's residual and how long ago it
was last seen steady, the eye distance in thermal pixels and whether the frame came in halves.
That part averages out over a visit's readings (edge/thermal_fusion.py); the part every reading
of a visit shares (how people's eye corners differ, how well the site is calibrated) is
`systematic_c`. The constants that turn observations into °C were calibrated on the simulator's
drawn worlds (`python bench/thermal_accuracy.py`: of the stated 95 % intervals, 95 % hold the
truth; README "Thermal screening").

The thermal sensor has its own pace (an MLX90640 at 4 Hz): its newest frame may be a quarter of a
second older than the colour frame, and a person walking up has moved since. The face is looked
for in the thermal frame where the colour camera saw it when the thermal frame was captured
(landmarks interpolated between the colour frames around that moment), never where it is now: a
face read where it was not shows its cooler edge, and a fever read low is a fever let in. A frame
measured in two halves (an MLX90640's sub-pages, handed over as each arrives) is read half by half,
each where the face was when that half was measured.
"""

from __future__ import annotations

import math
from collections import deque
from pathlib import Path

import numpy as np

from edge.config import ThermalConfig
from edge.blackbody import BLACKBODY_WINDOW, Blackbody, Reference
from edge.readings import PERSON_SD_C, ThermalReading
from edge.stages.base import FrameContext
from edge.thermal_baseline import HEALTHY_MEAN_SD_C, PopulationBaseline

MIN_SKIN_C = 33.0  # a live face's canthus, corrected, is never colder than this
MIN_GRADIENT_C = 0.4  # canthus above the face's median at room temperature: a flat photo or screen has none
ROOM_CONTRAST_C = 14.0  # a canthus stands this far above 22 °C air; in warmer air the face flattens with it
MIN_ABOVE_AIR_C = 2.0  # a photo held in the hand is within about 1 °C of the air; a live canthus stands above
JUDGED_ABOVE_AIR_C = 10.0  # closer to the air than this (air above about 27 °C) a live face can be flat: not judged
FLAT_NOISE_K = 4.5  # a flat surface's gradient, read through the robust maximum, stays under this many noise SDs
MIN_EYE_PIXELS = 10.0  # thermal pixels between the eyes for a canthus reading (fewer blur the canthi)
SHARP_EYE_PIXELS = 14.0  # from here on the canthi are resolved; below, the uncertainty grows
MIN_FACE_PIXELS = 4.0  # below this, not even the face maximum is a reading
REFERENCE_AMBIENT_C = 22.0
VALID_RANGE_C = (-40.0, 150.0)
FACE_HISTORY = 64  # colour frames of the primary face kept for pairing (2.5 s at 25 frames/s)
PAIRING_S = 0.03  # a thermal frame this close to a colour frame's edge of the history is read with it
MAX_GAP_S = 0.2  # colour frames farther apart than this say too little about where the face was between
BASELINE_FILE = "thermal_baseline.json"
NO_FRAME = ("no thermal frame", "no_frame")  # (for people, for machines)

# What turns observations into a reading's uncertainty (°C), calibrated on drawn worlds (see the docstring)
ROBUST_MAX_NOISE = 0.7  # the second-highest of a canthus window's noisy pixels scatters this much of one pixel's noise
BLUR_C_PER_PIXEL = 0.05  # canthi under SHARP_EYE_PIXELS blur into the skin around them
HALVES_C = 0.05  # two halves placed where the face was for each: registration of two moments
FACE_MAXIMUM_C = 0.6  # a blurred face's maximum reads low by up to this
NO_REFERENCE_C = 0.6  # the sensor's own offset, with no reference to correct it
DRIFT_C_PER_S = 0.05  # a held reference: how fast an uncorrected sensor may drift since its last good check

# why a reading is not trusted, for machines (the first that applies)
BLOCKING = {"too far": "too_far", "too close": "too_close", "blackbody missing": "blackbody_missing",
            "blackbody unstable": "blackbody_unstable", "half frame": "half_frame"}


class ThermalStage:
    name = "thermal"

    def __init__(self, config: ThermalConfig, *, state_dir: Path | None = None, calibration=None) -> None:
        """`state_dir`: where screening mode keeps its samples across restarts (None: in memory only);
        `calibration`: the site's offset learned from rechecks (edge/thermal_calibration.py), if any."""
        self.config = config
        self.homography = np.asarray(config.homography)  # floats: the configuration says so
        self.blackbody = Blackbody(config.blackbody_c, config.blackbody_box, hold_s=config.blackbody_hold_s)
        self.calibration = calibration
        # the samples are readings before the shift: they hold only while what produced them holds
        settings = (f"{config.driver} canthus {config.canthus_offset_c} slope {config.ambient_slope} "
                    f"emissivity {config.emissivity} blackbody {config.blackbody_c} reference {config.baseline.reference_c}")
        self.baseline = PopulationBaseline(config.baseline, settings=settings,
                                           path=state_dir / BASELINE_FILE if state_dir is not None else None)
        # the frozen-sensor watch's first values: the first frame equals none of them and sets each
        self._last: np.ndarray | None = None  # pragma: no mutate
        self._last_change = 0.0  # pragma: no mutate
        self._repeated = False  # pragma: no mutate (the newest frame's pixels are the frame before's: no new measurement)
        self._last_reading: tuple[int, ThermalReading] | None = None  # (track, reading) of the newest frame
        self.fault: str | None = None  # pragma: no mutate (read for its truth: "" is no fault too)
        self.fault_code = ""  # pragma: no mutate (read only with a fault)
        # (colour capture time, track, landmarks, distance) of the primary face, oldest first
        self._seen: deque[tuple[float, int, np.ndarray, float]] = deque(maxlen=FACE_HISTORY)

    def process(self, context: FrameContext) -> None:
        frame = context.thermal_frame
        if frame is None:
            self.fault, self.fault_code = NO_FRAME
        else:
            self._watch_frozen(frame.celsius, context.now)
            problem = _frame_problem(frame.celsius)
            if problem is not None:
                self.fault, self.fault_code = problem
        face = context.face.primary if context.face else None
        if face is None:
            return
        self._seen.append((context.frame.time, face.track_id, face.landmarks, face.distance_m))
        if frame is None:
            context.thermal = _unavailable(*NO_FRAME)
            return
        seen = self.face_at(frame.time, face.track_id)
        if seen is None:
            context.thermal = _unavailable("no colour frame of this face when the thermal frame was taken",
                                           "no_colour_frame")
            return
        landmarks, distance = seen
        if self._repeated and not self.fault and self._last_reading is not None and self._last_reading[0] == face.track_id:
            context.thermal = self._last_reading[1]  # the same measurement read again is not a second reading
            return
        halves = None
        if frame.fresh is not None:  # the other half is read only where the face was seen when it was measured
            before = None
            if frame.rest_time is not None and context.now - frame.rest_time <= self.config.max_frame_age_s:
                before = self.face_at(frame.rest_time, face.track_id)
            halves = (frame.fresh, before[0] if before is not None else None)
        context.thermal = self.measure(frame.celsius, landmarks, distance, age_s=context.now - frame.time,
                                       emissivity_corrected=frame.emissivity_corrected, halves=halves,
                                       now=frame.time)
        self._last_reading = (face.track_id, context.thermal)

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
            if when <= t1:  # the first frame at or after `when`; the one before it is before (t0 < when)
                if t1 - t0 > MAX_GAP_S:
                    return None
                share = (when - t0) / (t1 - t0)
                return (landmarks0 + (landmarks1 - landmarks0) * share, distance0 + (distance1 - distance0) * share)
        return None  # pragma: no mutate (unreached: `when` lies before the newest frame)

    def learn(self, reading: ThermalReading | None) -> None:
        """A person has gone: their sharpest reading joins the baseline, as measured, before the screening-mode
        shift and the site's offset (a shifted sample would pull the shift towards half its size)."""
        if reading is not None and reading.trusted_canthus and reading.raw_c is not None:
            self.baseline.add(reading.raw_c, reading.ambient_c)

    def _watch_frozen(self, celsius: np.ndarray, now: float) -> None:
        """A frame identical to the one before is no new measurement (the sensor's pace is slower than the
        camera's; or it stalled); one that stays the same for `frozen_after_s` is a frozen sensor."""
        self._repeated = self._last is not None and (celsius is self._last or np.array_equal(celsius, self._last))
        if self._repeated:
            if now - self._last_change >= self.config.frozen_after_s:
                self.fault, self.fault_code = "thermal sensor frozen (frames not changing)", "sensor_frozen"
        else:
            self._last_change = now
            self.fault, self.fault_code = None, ""  # pragma: no mutate (the code is read only with a fault)
        self._last = celsius

    def measure(self, celsius: np.ndarray | None, landmarks: np.ndarray, distance_m: float, *,
                age_s: float = 0.0, emissivity_corrected: bool = False,
                halves: tuple[np.ndarray, np.ndarray | None] | None = None, now: float | None = None) -> ThermalReading:
        """A reading of the face at `landmarks` from a thermal frame `age_s` older than the colour frame.

        `halves`: for a frame measured in two halves, (the pixels measured with `landmarks`, the face's
        landmarks when the other half was measured, or None when it was not seen then: not trusted).
        `now`: when the frame was measured, for how long ago the reference was last seen steady.
        """
        if self.fault:
            return _unavailable(self.fault, self.fault_code)
        if celsius is None:
            return _unavailable(*NO_FRAME)
        if age_s > self.config.max_frame_age_s:  # the sensor's newest frame is from before the person moved on
            return _unavailable(f"thermal frame stale ({age_s:.2f} s old)", "stale")
        problem = _frame_problem(celsius)
        if problem is not None:
            return _unavailable(*problem)
        flags: list[str] = []
        if distance_m > self.config.max_distance_m:
            flags.append("too far")
        if distance_m < self.config.min_distance_m:
            flags.append("too close")
        reference = self.blackbody.reference(celsius, now)
        if reference.problem:
            flags.append(reference.problem)
        eye_px, windows, region = self._face_region(celsius, landmarks, halves, flags)
        peaks = [peak for peak in map(_robust_max, windows) if peak is not None]  # a window off the frame has none
        if eye_px < MIN_EYE_PIXELS and distance_m * eye_px / MIN_EYE_PIXELS >= self.config.min_distance_m:
            flags.append("too small")  # a step closer, not inside the closest reading distance, resolves the canthi
        if eye_px >= MIN_EYE_PIXELS and len(peaks) == len(windows):
            best = int(np.argmax(peaks))
            raw, window = peaks[best], windows[best]
        elif eye_px >= MIN_FACE_PIXELS and region.size:
            raw, window = float(np.percentile(region, 99)), region
            flags.append("face maximum")
        else:
            flags.append("too few pixels")
            return ThermalReading(False, flags=flags, reason="too few thermal pixels on the face", code="too_few_pixels")
        return self._reading(raw, window, region, celsius, reference, eye_px, halves, flags, emissivity_corrected, now)

    def _reading(self, raw: float, window: np.ndarray, region: np.ndarray, celsius: np.ndarray,
                 reference: Reference, eye_px: float, halves, flags: list[str], emissivity_corrected: bool,
                 now: float | None) -> ThermalReading:
        correction = reference.offset_c or 0.0
        ambient = _ambient(celsius) - correction
        canthus = self._skin(raw - correction, ambient, emissivity_corrected)
        face_median = self._skin(float(np.median(region)) - correction, ambient, emissivity_corrected)  # never empty: it holds the canthi
        # out of reading range, or with too few pixels between the eyes to resolve the eye corners, the face is a
        # few blurred pixels mixed with the background: its gradient says nothing about liveness, so it is not
        # judged there (a far live face in warm air reads as flat as a photo, and was called a spoof on the way up)
        unresolved = "too far" in flags or "too close" in flags or "face maximum" in flags
        live = None if unresolved else _live(canthus, canthus - face_median, ambient, reference.noise_c)
        if live is None and not unresolved:
            flags.append("warm air")  # liveness cannot be judged: no pass, no spoof; the guard decides
        shift = self.baseline.shift_at(ambient)
        site_offset = self.calibration.offset_c if self.calibration is not None else 0.0
        estimate = (canthus + self.config.canthus_offset_c
                    + self.config.ambient_slope * (REFERENCE_AMBIENT_C - ambient) + shift + site_offset)
        independent, correlated = self._uncertainty(window, reference, eye_px, halves, flags)
        reading = ThermalReading(True, round(estimate, 3), round(math.hypot(independent, correlated), 3), live, flags,
                                 baseline_shift_c=round(shift, 4), correlated_c=round(correlated, 3),
                                 systematic_c=round(self.systematic_c, 3), site_offset_c=round(site_offset, 4),
                                 relative_limit_c=self.baseline.relative_limit_at(ambient),
                                 skin_c=round(canthus, 3), gradient_c=round(canthus - face_median, 3), time=now or 0.0,
                                 ambient_c=round(ambient, 2), eye_px=round(eye_px, 2))
        blocking = [flag for flag in flags if flag in BLOCKING]
        if blocking:
            reading.available = False
            reading.reason, reading.code = f"reading not trusted: {blocking[0]}", BLOCKING[blocking[0]]
        elif not live:
            reading.reason = "no live skin-temperature pattern"
        return reading

    def _uncertainty(self, window: np.ndarray, reference: Reference, eye_px: float, halves,
                     flags: list[str]) -> tuple[float, float]:
        """This reading's own uncertainty (°C, one standard uncertainty) from what the frame shows: (the part new
        with every frame: noise and the canthus window, the part the visit's frames share: blur, halves, the
        reference's residual and age, a face maximum)."""
        top = np.sort(window)[-3:]  # the eye corner's peak: a resolved canthus is flat there, a blurred one is not
        spread = float(np.std(top)) if top.size > 1 else reference.noise_c
        independent = max(ROBUST_MAX_NOISE * reference.noise_c, spread)
        if "face maximum" in flags:  # a blurred face's maximum: it can show a fever, never clear one
            blur = FACE_MAXIMUM_C
        else:
            blur = BLUR_C_PER_PIXEL * max(0.0, SHARP_EYE_PIXELS - eye_px)
        shared = [blur, HALVES_C if halves is not None else 0.0]
        if reference.offset_c is None:
            shared.append(NO_REFERENCE_C)
        else:  # the offset in use is the median of up to BLACKBODY_WINDOW checks
            shared += [1.25 * reference.spread_c / math.sqrt(BLACKBODY_WINDOW), DRIFT_C_PER_S * reference.age_s]
        return independent, math.sqrt(sum(part * part for part in shared))

    @property
    def systematic_c(self) -> float:
        """What every reading of a visit shares: people's eye corners, the site's calibration, the reference.

        Once screening mode has calibrated the scale on the site's own people, the blackbody's stated accuracy
        no longer counts: an emitter reading off by some amount moves every sample by as much, and the shift
        that puts the samples' median at the healthy reference takes it out again. Where the guards' rechecks
        have measured how far the site's people stand from that reference (the site's offset), their measure
        replaces the assumed spread of healthy means."""
        if self.baseline.ready:
            site = self.calibration.uncertainty_c if self.calibration is not None else None
            healthy_mean = HEALTHY_MEAN_SD_C if site is None else site
            return math.sqrt(PERSON_SD_C ** 2 + self.baseline.noise_c ** 2 + healthy_mean ** 2)
        reference = self.config.blackbody_accuracy_c if self.blackbody.temperature_c is not None else 0.0
        return math.sqrt(PERSON_SD_C ** 2 + self.baseline.uncalibrated_c ** 2 + reference ** 2)

    def _face_region(self, celsius: np.ndarray, landmarks: np.ndarray, halves, flags: list[str]):
        """(eye distance in thermal pixels, canthus windows, face pixels), each half where it was measured."""
        if halves is None:
            return self._face_pixels(celsius, landmarks, None)
        fresh, rest_landmarks = halves
        eye_px, windows, region = self._face_pixels(celsius, landmarks, fresh)
        if rest_landmarks is None:  # half the pixels miss the canthi as often as not: a fever read up to 0.5 °C low
            flags.append("half frame")
            return eye_px, windows, region
        _, rest_windows, rest_region = self._face_pixels(celsius, rest_landmarks, ~fresh)
        return (eye_px, [np.concatenate(pair) for pair in zip(windows, rest_windows)],
                np.concatenate([region, rest_region]))

    def _to_thermal(self, points: np.ndarray) -> np.ndarray:
        homogeneous = np.hstack([points, np.ones((len(points), 1))]) @ self.homography.T
        return homogeneous[:, :2] / homogeneous[:, 2:]

    def _face_pixels(self, celsius: np.ndarray, landmarks: np.ndarray,
                     mask: np.ndarray | None) -> tuple[float, list[np.ndarray], np.ndarray]:
        """(thermal pixels between the eyes, the pixels around each inner canthus, the face's pixels) of
        the face at `landmarks`, counting only the pixels in `mask` (None: all)."""
        points = self._to_thermal(landmarks)
        eyes, nose = points[:2], points[2]
        eye_px = float(np.linalg.norm(eyes[0] - eyes[1]))
        inner = eyes + (eyes[::-1] - eyes) * 0.18
        radius = int(round(0.15 * eye_px))  # 2 or more wherever the canthi are read (10 pixels or more apart)
        h, w = celsius.shape
        windows = []
        for x, y in np.round(inner).astype(int):
            inside = 0 <= x < w and 0 <= y < h
            rows, columns = slice(max(0, y - radius), y + radius + 1), slice(max(0, x - radius), x + radius + 1)
            windows.append(_pixels(celsius, rows, columns, mask) if inside else np.empty(0))
        x0 = int(max(0, min(eyes[:, 0]) - 0.5 * eye_px))
        x1 = int(min(w, max(eyes[:, 0]) + 0.5 * eye_px + 1))
        y0 = int(max(0, min(eyes[:, 1]) - 0.6 * eye_px))
        y1 = int(min(h, nose[1] + 0.8 * eye_px + 1))
        return eye_px, windows, _pixels(celsius, slice(y0, max(y0, y1)), slice(x0, max(x0, x1)), mask)

    def _skin(self, apparent: float, ambient: float, corrected: bool) -> float:
        """Skin temperature from what a sensor calibrated on a black body reports: skin reflects a little of the room."""
        if corrected:
            return apparent
        emissivity = self.config.emissivity
        return (apparent - (1.0 - emissivity) * ambient) / emissivity


def _live(canthus: float, gradient: float, ambient: float, noise: float) -> bool | None:
    """Warm skin with hotter eye corners: True; cool, or flat where a live face would not be: False; None where
    the air is too warm to tell (in 33 °C air a live face can be as flat and as warm as a photo or a screen).
    The gradient asked for scales with the canthus's height above the air, down to what the sensor's noise can
    tell from a flat surface. Measured on drawn worlds: bench/thermal_accuracy.py, README "Thermal screening"."""
    above_air = canthus - ambient
    if canthus < MIN_SKIN_C:
        return False
    wanted = max(FLAT_NOISE_K * noise, MIN_GRADIENT_C * min(1.0, above_air / ROOM_CONTRAST_C))
    if gradient >= wanted and above_air >= MIN_ABOVE_AIR_C:
        return True
    return False if above_air >= JUDGED_ABOVE_AIR_C else None


def _unavailable(reason: str, code: str) -> ThermalReading:
    return ThermalReading(False, reason=reason, code=code)


def _frame_problem(celsius: np.ndarray) -> tuple[str, str] | None:
    """What is wrong with a frame (for people, for machines), if anything."""
    if not np.isfinite(celsius).all():
        return "thermal frame holds NaN or infinite pixels", "nan"
    if celsius.min() < VALID_RANGE_C[0] or celsius.max() > VALID_RANGE_C[1]:
        return "thermal pixels out of range", "out_of_range"
    return None


def _robust_max(window: np.ndarray) -> float | None:
    """The second-highest pixel (one hot pixel is not a canthus); None for no pixels."""
    if window.size == 0:
        return None
    return float(np.sort(window)[-2]) if window.size > 2 else float(window.max())


def _ambient(celsius: np.ndarray) -> float:
    """The air, as the scene's background shows it: the lower quartile of the frame."""
    sample = celsius[::2, ::2]  # pragma: no mutate (every other pixel, for speed: another stride reads the same air)
    return float(np.percentile(sample, 25))


def _pixels(celsius: np.ndarray, rows: slice, columns: slice, mask: np.ndarray | None) -> np.ndarray:
    """The pixels of a rectangle, as a flat array, only those in `mask` where one is given."""
    block = celsius[rows, columns]
    return block.ravel() if mask is None else block[mask[rows, columns]]
