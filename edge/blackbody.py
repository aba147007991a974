"""The blackbody reference in the thermal camera's view: what it says about the sensor's offset now, how steady and
how noisy that is, and, for a moment after it is hidden, its last good word."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

DEFAULT_NOISE_C = 0.1  # pixel noise when no reference is in view to measure it on
BLACKBODY_WINDOW = 25  # frames of reference history
MAX_BLACKBODY_SPREAD_C = 0.15


@dataclass(frozen=True)
class Reference:
    """What the blackbody says about the sensor now: its offset, how steady, how noisy, how old."""

    offset_c: float | None  # None: no reference to correct with
    spread_c: float  # spread of recent offsets
    noise_c: float  # pixel noise measured on the uniform reference
    age_s: float = 0.0  # since the last steady check (a held reference)
    problem: str = ""  # "blackbody missing" or "blackbody unstable" when not usable



class Blackbody:
    def __init__(self, temperature_c: float | None, box, *, hold_s: float) -> None:
        self.temperature_c = temperature_c
        self.box = box
        self.hold_s = hold_s
        self._offsets: deque[float] = deque(maxlen=BLACKBODY_WINDOW)
        self._good_reference: tuple[float, float, float, float] | None = None  # (time, offset, spread, noise)

    def reference(self, celsius: np.ndarray, now: float | None) -> Reference:
        """The reference now; a briefly hidden or unsteady one held at its last good offset for `blackbody_hold_s`."""
        if self.temperature_c is None or not self.box:
            return Reference(None, 0.0, DEFAULT_NOISE_C, problem="blackbody missing")
        offset, spread, noise = self._offset(celsius)
        if offset is not None and spread <= MAX_BLACKBODY_SPREAD_C:
            if now is not None:
                self._good_reference = (now, offset, spread, noise)
            return Reference(offset, spread, noise)
        problem = "blackbody missing" if offset is None else "blackbody unstable"
        held = self._good_reference
        if now is not None and held is not None and 0.0 <= now - held[0] <= self.hold_s:
            return Reference(held[1], held[2], held[3], age_s=now - held[0])
        return Reference(offset, spread, noise if offset is not None else DEFAULT_NOISE_C, problem=problem)

    def _offset(self, celsius: np.ndarray) -> tuple[float | None, float, float]:
        """(sensor offset from the reference, spread of recent offsets, pixel noise on it); None if none is seen."""
        x, y, w, h = self.box
        region = celsius[y:y + h, x:x + w]
        inner = region[h // 4: h - h // 4 or None, w // 4: w - w // 4 or None]
        sample = inner if inner.size else region
        if sample.size == 0:
            return None, 0.0, DEFAULT_NOISE_C
        offset = float(np.median(sample)) - self.temperature_c  # type: ignore[operator]
        noise = float(np.std(sample)) if sample.size > 1 else DEFAULT_NOISE_C
        if abs(offset) > 5.0 or noise > 0.5:
            self._offsets.clear()
            return None, 0.0, DEFAULT_NOISE_C  # not the reference: blocked, moved or not yet warm
        self._offsets.append(offset)
        return float(np.median(self._offsets)), float(np.std(self._offsets)), max(noise, 0.01)
