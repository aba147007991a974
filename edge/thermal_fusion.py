"""One temperature per visit: every trusted reading of the visit, combined.

A person in front of the gate is read on every thermal frame. Judged frame by frame, one noisy
reading decides, and a healthy person gets as many chances to read "fever" as there are frames.
Here the readings of a visit are combined:

- Only trusted readings of the inner eye corners of a face judged live count; a face maximum
  (too few pixels between the eyes) is kept apart: it reads low, so it can show a fever, never
  clear one.
- Robust to outliers: readings farther than `OUTLIER_Z` of their own uncertainty from the
  weighted median are left out (a blink, a hand, a glance away).
- Weighted by uncertainty: each reading's independent part (noise, the canthus window) shrinks
  as readings accumulate; the part the readings share (blur at one distance, the reference's
  residual, halves) does not, and neither does the visit's systematic part (people's eye
  corners, the site's calibration), which only the stated interval carries.
- Liveness is a vote of the judged readings: live when most say live; a spoof needs at least two
  judged readings saying so and a majority.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from edge.readings import ThermalReading

OUTLIER_Z = 3.0
MIN_OUTLIER_C = 0.15  # readings this close to the median are never outliers, however sure they claim to be
KEPT_READINGS = 200  # a visit longer than this keeps its newest readings (about 23 s at 8.7 Hz)
SPOOF_VOTES = 2
# why no reading can be had, for machines: faults of the sensor or its reference, not of where the person stands
FAULTS = ("nan", "out_of_range", "sensor_frozen", "no_frame", "stale", "blackbody_missing", "blackbody_unstable",
          "sensor_fault")


@dataclass(frozen=True)
class TemperatureEstimate:
    """A visit's combined temperature: the estimate, its measurement uncertainty and the interval that holds the truth."""

    temperature_c: float  # screening-mode shift and site offset included
    uncertainty_c: float  # measurement: what more readings could still change
    systematic_c: float  # shared by every reading of the visit
    readings: int  # fused
    rejected: int  # left out as outliers
    raw_c: float  # before the shift and the site offset (the relative rule's scale)
    relative_limit_c: float | None
    kind: str = "canthus"  # canthus | face maximum
    shift_c: float = 0.0  # screening mode's shift included in the estimate
    site_offset_c: float = 0.0  # the offset learned from rechecks included in the estimate
    personal_c: float = 0.0  # taken off as the resident's own (edge/thermal_profiles.py)

    @property
    def total_c(self) -> float:
        return math.hypot(self.uncertainty_c, self.systematic_c)

    @property
    def interval_95(self) -> tuple[float, float]:
        return self.temperature_c - 1.96 * self.total_c, self.temperature_c + 1.96 * self.total_c

    def as_dict(self) -> dict:
        low, high = self.interval_95
        return {"estimate_c": round(self.temperature_c, 2), "uncertainty_c": round(self.uncertainty_c, 3),
                "systematic_c": round(self.systematic_c, 3), "interval_95_c": [round(low, 2), round(high, 2)],
                "readings": self.readings, "rejected": self.rejected, "kind": self.kind,
                "relative_limit_c": None if self.relative_limit_c is None else round(self.relative_limit_c, 2),
                "raw_c": round(self.raw_c, 2), "shift_c": round(self.shift_c, 3),
                "site_offset_c": round(self.site_offset_c, 3), "personal_c": round(self.personal_c, 3)}


@dataclass
class VisitTemperature:
    """The thermal readings of one visit, and what they say together."""

    readings: list[ThermalReading] = field(default_factory=list)

    def add(self, reading: ThermalReading) -> None:
        """A reading of a new thermal frame (the same reading handed over again, from a frame read twice, is not)."""
        if self.readings and reading is self.readings[-1]:
            return
        self.readings.append(reading)
        if len(self.readings) > KEPT_READINGS:
            del self.readings[0]  # one comes at a time: one goes

    @property
    def newest(self) -> ThermalReading | None:
        return self.readings[-1] if self.readings else None

    def liveness(self) -> bool | None:
        """True: most judged readings say live; False: at least two and most say not; None: not judged yet."""
        live = sum(1 for r in self.readings if r.live is True and r.available)
        spoof = sum(1 for r in self.readings if r.live is False)
        if live > spoof:
            return True
        if spoof >= SPOOF_VOTES and spoof > live:
            return False
        return None

    @property
    def judged(self) -> int:
        return sum(1 for r in self.readings if r.live is not None)

    def estimate(self, kind: str = "canthus") -> TemperatureEstimate | None:
        """The combined estimate of the trusted readings of `kind` (canthus, or face maximum); None if none."""
        usable = [r for r in self.readings if _usable(r, kind)]
        if not usable:
            return None
        values = np.array([r.temperature_c for r in usable])
        total = np.array([max(r.uncertainty_c or 0.0, 1e-3) for r in usable])
        shared = np.array([min(r.correlated_c, u) for r, u in zip(usable, total)])
        weights = total ** -2.0  # inverse variance
        centre = _weighted_median(values, weights)
        kept = np.abs(values - centre) <= np.maximum(OUTLIER_Z * total, MIN_OUTLIER_C)
        values, total, shared, weights = values[kept], total[kept], shared[kept], weights[kept]
        estimate = float(np.sum(weights * values) / np.sum(weights))
        independent = np.sqrt(np.maximum(total ** 2 - shared ** 2, 1e-6))
        uncertainty = math.hypot(float(np.sqrt(1.0 / np.sum(1.0 / independent ** 2))),
                                 float(np.sum(weights * shared) / np.sum(weights)))
        chosen = [r for r, keep in zip(usable, kept) if keep]
        newest = chosen[-1]
        shift = newest.baseline_shift_c + newest.site_offset_c
        return TemperatureEstimate(estimate, uncertainty, newest.systematic_c, len(chosen), len(usable) - len(chosen),
                                   estimate - shift, newest.relative_limit_c, kind, newest.baseline_shift_c,
                                   newest.site_offset_c)

    def fault(self) -> tuple[str, str] | None:
        """(code, reason) when the newest reading failed for the sensor or its reference, not the person."""
        newest = self.newest
        if newest is not None and not newest.available and newest.code in FAULTS:
            return newest.code, newest.reason
        return None

    def why_none(self) -> str:
        """Why no trusted reading was had, for machines: the newest reading's code, or that none came."""
        newest = self.newest
        if newest is None:
            return "no_face_reading"
        if newest.code:
            return newest.code
        if any("warm air" in r.flags for r in self.readings):
            return "warm_air"  # liveness could not be judged: the guard decides
        return "not_live" if newest.live is False else "face_maximum_only"

    def samples(self, limit: int = 30) -> list[list[float | None]]:
        """The newest readings as [time, °C, ± °C], for the event (None where a reading had no value)."""
        return [[round(r.time, 3), None if r.temperature_c is None else round(r.temperature_c, 2),
                 None if r.uncertainty_c is None else round(r.uncertainty_c, 3)]
                for r in self.readings[-limit:] if r.available]


def _usable(reading: ThermalReading, kind: str) -> bool:
    """A trusted canthus reading of a face judged live; a face maximum (never judged: too blurred) if not judged spoof."""
    face_maximum = kind == "face maximum"
    if not reading.available or reading.temperature_c is None or reading.live is not (None if face_maximum else True):
        return False
    if reading.uncertainty_c is None or not math.isfinite(reading.temperature_c):
        return False
    return ("face maximum" in reading.flags) == (kind == "face maximum")


def _weighted_median(values: np.ndarray, weights: np.ndarray) -> float:
    order = np.argsort(values)
    cumulative = np.cumsum(weights[order])
    return float(values[order][int(np.searchsorted(cumulative, cumulative[-1] / 2.0))])
