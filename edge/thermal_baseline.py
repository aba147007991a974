"""Screening mode: the gate calibrates its temperature readings to the people it meets.

How far the inner eye corners read below core differs between sites, seasons and camera
placements by more than the margin between normal and fever; a fixed `canthus_offset_c` is only
a starting point. As screening thermographs' sample-average modes do, the gate keeps the
uncorrected readings of the last `window` people and shifts every reading so that their median
sits at `reference_c`, the healthy mean. The median is not moved by the few with a fever; the
shift is bounded by `max_shift_c` and none is applied before `min_samples` people were read.
"""

from __future__ import annotations

from collections import deque

import numpy as np

from edge.config import ThermalBaselineConfig


class PopulationBaseline:
    def __init__(self, config: ThermalBaselineConfig) -> None:
        self.config = config
        self._readings: deque[float] = deque(maxlen=config.window)
        self._shift = 0.0

    @property
    def samples(self) -> int:
        return len(self._readings)

    @property
    def shift_c(self) -> float:
        """What to add to a reading now (0 until enough people were read, or when turned off)."""
        return self._shift

    def add(self, uncorrected_c: float) -> None:
        """One person's reading before any shift: one sample per person, not per frame."""
        if not self.config.enabled:
            return
        self._readings.append(float(uncorrected_c))
        if len(self._readings) < self.config.min_samples:
            return
        wanted = self.config.reference_c - float(np.median(self._readings))
        self._shift = float(np.clip(wanted, -self.config.max_shift_c, self.config.max_shift_c))
