"""Screening mode: the gate calibrates its temperature readings to the people it meets.

How far the inner eye corners read below core differs between sites, seasons and camera
placements by more than the margin between normal and fever; a fixed `canthus_offset_c` is only
a starting point. As screening thermographs' sample-average modes do, the gate keeps the
uncorrected readings of the last `window` people decided normal and shifts every reading so that
their median sits at `reference_c`, the healthy mean. The median is not moved by the few with a
fever; the shift is bounded by `max_shift_c`. Until `min_samples` people were read the gate says so,
and the absolute threshold decides with the site's own compensation, shifted from the
`FIRST_SAMPLES`th person on by a part of what the samples measure: the measured shift shrunk
towards none by how sure its median is against how far a site's compensation may be off
(`UNCALIBRATED_SD_C`). A new gate whose compensation reads its people 0.4 °C warm (refusing the
healthy) or cold (passing fevers) is then mostly corrected from its fifth person, not its thirtieth.

Beside the absolute threshold the gate screens relatively, as FLIR's screening alarm does: a
person reading `deviation_c` above the average of the `recent` newest normal people (highest and
lowest left out) is a fever, whatever the shift says. Elevated readings never enter the samples.

The gate also learns how its readings follow the air. How much the eye corners cool in cold air
differs between sites and people's habits (coming in from a cold street) by more than the fixed
`ambient_slope` allows: at one drawn world the readings ran 0.04 °C per degree of air apart, 1.2 °C
between a 5 °C morning and a 35 °C afternoon. Healthy people's core temperature does not follow the
air, so the slope of the samples against the air they were read in is the compensation's error:
fitted robustly, shrunk towards none while the samples' air has not varied by a few degrees
(`SLOPE_PRIOR_C`), bounded by `MAX_SLOPE`, and taken out before the median is brought to the
reference.

The samples, the air each was read in and when they were taken are kept in the state directory,
so a gate restarted in the morning (or after a power cut) does not read its first people
uncalibrated; they are dropped when the settings that produced them (sensor, compensation,
reference) change.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from edge.config import ThermalBaselineConfig
from edge.errors import ConfigError
from edge.overrides import write_atomically

log = logging.getLogger(__name__)

HEALTHY_MEAN_SD_C = 0.12  # healthy populations' mean core temperature: 36.4-36.9 °C, the reference sits among them
UNCALIBRATED_SD_C = 0.3  # fixed compensation: the site's canthus offset, emissivity and air, not yet learned
FIRST_SAMPLES = 5  # from this many people on, a part of the measured shift applies (the median of 5 outlasts 2 fevers)
SAMPLE_SPREAD_FLOOR_C = 0.3  # people's readings spread at least this much (core and eye corners): a few alike are no proof
MAX_SLOPE = 0.06  # °C of reading per °C of air the baseline may take out, either way
SLOPE_PRIOR_C = 3.0  # the slope is shrunk as if the samples' air had varied this much less
REFERENCE_AMBIENT_C = 22.0


@dataclass(frozen=True)
class BaselineStatus:
    """What the touchscreen and telemetry show of screening mode."""

    enabled: bool
    ready: bool  # enough people read: the shift and the relative rule apply
    samples: int
    min_samples: int
    shift_c: float  # at the samples' mean air
    shift_weight: float  # the share of the measured shift applied: 0 before FIRST_SAMPLES people, 1 once ready
    slope: float  # °C of reading per °C of air taken out
    recent_average_c: float | None  # the relative rule's reference (uncorrected readings)
    newest_age_s: float | None  # since the newest sample
    oldest_age_s: float | None  # since the oldest sample kept

    def as_dict(self) -> dict:
        return {key: round(value, 3) if isinstance(value, float) else value for key, value in asdict(self).items()}


class PopulationBaseline:
    def __init__(self, config: ThermalBaselineConfig, *, path: Path | None = None, settings: str = "",
                 clock: Callable[[], float] = time.time) -> None:
        """`path`: where the samples are kept; `settings`: what they were read under (they are dropped when it changes)."""
        self.config = config
        self.path = path
        self.settings = settings
        self.clock = clock
        kept = self._load() if config.enabled else []
        self._readings: deque[float] = deque((value for value, _, _ in kept), maxlen=config.window)
        self._times: deque[float] = deque((when for _, when, _ in kept), maxlen=config.window)
        self._ambients: deque[float] = deque((air for _, _, air in kept), maxlen=config.window)
        self._shift = 0.0
        self._weight = 0.0  # the share of the measured shift applied (shift_weight)
        self._uncalibrated = UNCALIBRATED_SD_C  # before ready: how far the compensation in force may be off
        self._slope = 0.0  # °C of reading per °C of air, left in by the compensation
        self._air = REFERENCE_AMBIENT_C  # the samples' mean air
        self._update_shift()

    @property
    def samples(self) -> int:
        return len(self._readings)

    @property
    def ready(self) -> bool:
        return self.config.enabled and len(self._readings) >= self.config.min_samples

    @property
    def shift_c(self) -> float:
        """What to add to a reading taken in the samples' mean air (0 until enough people were read, or when off)."""
        return self._shift

    @property
    def slope(self) -> float:
        return self._slope

    def shift_at(self, ambient_c: float | None) -> float:
        """What to add to a reading taken in `ambient_c` air: the level, and the slope the samples show."""
        if ambient_c is None or not math.isfinite(ambient_c):
            return self._shift
        return self._shift - self._slope * (ambient_c - self._air)

    @property
    def shift_weight(self) -> float:
        """The share of the samples' measured shift applied: none before `FIRST_SAMPLES` people, all once ready, and
        in between as much as the median is surer than a fixed compensation (the site's share of
        `UNCALIBRATED_SD_C`, beside how far healthy means differ, against the median's noise)."""
        return self._weight

    @property
    def uncalibrated_c(self) -> float:
        """Before the gate is ready: how far the compensation in force may be from the site's (one standard
        uncertainty). A fixed compensation's allowance, narrowed as the first people's shift applies."""
        return self._uncalibrated

    @property
    def noise_c(self) -> float:
        """How well the shift is known from its samples: the median's noise (nan until ready). The reference's own
        place among healthy means (HEALTHY_MEAN_SD_C) is the thermal stage's to add, or the rechecks' measure."""
        if not self.ready:
            return float("nan")
        return 1.25 * float(np.std(self._readings)) / math.sqrt(len(self._readings))

    @property
    def recent_average_c(self) -> float | None:
        """The average of the `recent` newest samples (as if read in the samples' mean air), highest and lowest
        left out (None until ready)."""
        if not self.ready:
            return None
        levelled = [value - self._slope * (air - self._air) for value, air in
                    zip(list(self._readings)[-self.config.recent:], list(self._ambients)[-self.config.recent:])]
        recent = sorted(levelled)
        trimmed = recent[1:-1] if len(recent) > 2 else recent
        return float(np.mean(trimmed))

    def relative_limit_at(self, ambient_c: float | None) -> float | None:
        """Relative screening: an uncorrected reading in `ambient_c` air above this is a fever (None until ready)."""
        average = self.recent_average_c
        if average is None:
            return None
        return average + self.config.deviation_c + self._shift - self.shift_at(ambient_c)

    def elevated(self, uncorrected_c: float, ambient_c: float | None = None) -> bool:
        """Above the recent normal people by the allowed deviation: a fever by the relative rule."""
        limit = self.relative_limit_at(ambient_c)
        return limit is not None and uncorrected_c > limit

    def add(self, uncorrected_c: float, ambient_c: float | None = None) -> None:
        """One person's reading before any shift, and the air it was read in: one sample per person, not per frame;
        elevated ones never."""
        air = REFERENCE_AMBIENT_C if ambient_c is None or not math.isfinite(ambient_c) else float(ambient_c)
        if not self.config.enabled or not math.isfinite(uncorrected_c) or self.elevated(uncorrected_c, air):
            return
        self._readings.append(float(uncorrected_c))
        self._times.append(self.clock())
        self._ambients.append(air)
        self._update_shift()
        self._save()

    def status(self) -> BaselineStatus:
        now = self.clock()
        return BaselineStatus(self.config.enabled, self.ready, self.samples, self.config.min_samples, self._shift,
                              self.shift_weight, self._slope, self.recent_average_c,
                              now - self._times[-1] if self._times else None,
                              now - self._times[0] if self._times else None)

    def _update_shift(self) -> None:
        """Each time a sample comes (and at the start): what every reading until the next one is shifted by."""
        self._weight, self._uncalibrated = 0.0, UNCALIBRATED_SD_C
        if not self.config.enabled or len(self._readings) < FIRST_SAMPLES:
            return
        if len(self._readings) < self.config.min_samples:
            self._early_shift()
            return
        self._weight = 1.0
        readings, air = np.array(self._readings), np.array(self._ambients)
        self._air = float(np.mean(air))
        self._slope = _robust_slope(air - self._air, readings)
        levelled = readings - self._slope * (air - self._air)
        wanted = self.config.reference_c - float(np.median(levelled))
        self._shift = float(np.clip(wanted, -self.config.max_shift_c, self.config.max_shift_c))

    def _early_shift(self) -> None:
        """Before `min_samples`: a part of the shift the samples measure, no slope (too few airs to fit one). The
        median's noise has the samples' spread floored: five people alike say little of the next fifty."""
        readings = np.asarray(self._readings)
        median = float(np.median(readings))
        spread = 1.4826 * float(np.median(np.abs(readings - median)))
        noise = 1.25 * max(spread, SAMPLE_SPREAD_FLOOR_C) / math.sqrt(len(readings))
        prior = UNCALIBRATED_SD_C ** 2 - HEALTHY_MEAN_SD_C ** 2
        self._weight = prior / (prior + noise ** 2)
        self._uncalibrated = math.sqrt(self._weight * noise ** 2 + HEALTHY_MEAN_SD_C ** 2)
        wanted = self._weight * (self.config.reference_c - median)
        self._shift = float(np.clip(wanted, -self.config.max_shift_c, self.config.max_shift_c))

    def _load(self) -> list[tuple[float, float, float]]:
        if self.path is None or not self.path.exists():
            return []
        try:
            kept = json.loads(self.path.read_text(encoding="utf-8"))  # pragma: no mutate (Python runs in UTF-8 mode)
            readings = [float(value) for value in kept["readings"]]
            times = [float(value) for value in kept.get("times", [0.0] * len(readings))]
            ambients = [float(value) for value in kept.get("ambients", [REFERENCE_AMBIENT_C] * len(readings))]
            if not all(30.0 <= value <= 45.0 for value in readings):
                raise ValueError("a reading outside 30-45 °C")
            if not all(-40.0 <= value <= 60.0 for value in ambients):
                raise ValueError("an air temperature outside -40-60 °C")
            if not len(times) == len(readings) == len(ambients):
                raise ValueError("readings, times and air temperatures differ in number")
            if kept["settings"] != self.settings:
                log.info("thermal baseline: settings changed, starting afresh (%s)", self.path)
                return []
        except (OSError, ValueError, TypeError, KeyError, AttributeError) as error:
            log.warning("thermal baseline: %s unreadable, starting afresh (%s)", self.path, error)
            return []
        return list(zip(readings, times, ambients))

    def _save(self) -> None:
        if self.path is None:
            return
        try:
            write_atomically(self.path, json.dumps({"settings": self.settings, "readings": list(self._readings),
                                                    "times": list(self._times), "ambients": list(self._ambients)}))
        except ConfigError as error:  # a full or read-only disk costs the calibration a restart, never the gate
            log.warning("thermal baseline not kept: %s", error)


def _robust_slope(air: np.ndarray, readings: np.ndarray) -> float:
    """The readings' slope against the (centred) air: least squares shrunk towards none while the air has not
    varied by a few degrees, refitted without the samples far off the line (fevers, odd readings), bounded."""
    slope = _shrunk_slope(air, readings)
    residual = readings - slope * air
    spread = 1.4826 * float(np.median(np.abs(residual - np.median(residual))))  # none: over half lie on the line
    keep = np.abs(residual - np.median(residual)) <= 2.5 * spread
    return float(np.clip(_shrunk_slope(air[keep], readings[keep]), -MAX_SLOPE, MAX_SLOPE))


def _shrunk_slope(air: np.ndarray, readings: np.ndarray) -> float:
    y = readings - np.median(readings)
    return float(np.sum(air * y) / (np.sum(air * air) + len(air) * SLOPE_PRIOR_C ** 2))
