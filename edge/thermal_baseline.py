"""Screening mode: the gate calibrates its temperature readings to the people it meets.

How far the inner eye corners read below core differs between sites, seasons and camera
placements by more than the margin between normal and fever; a fixed `canthus_offset_c` is only
a starting point. As screening thermographs' sample-average modes do, the gate keeps the
uncorrected readings of the last `window` people and shifts every reading so that their median
sits at `reference_c`, the healthy mean. The median is not moved by the few with a fever; the
shift is bounded by `max_shift_c` and none is applied before `min_samples` people were read.

The samples are kept in the state directory, so a gate restarted in the morning (or after a
power cut) does not read its first people uncalibrated; they are dropped when the settings that
produced them (sensor, compensation, reference) change.
"""

from __future__ import annotations

import json
import logging
from collections import deque
from pathlib import Path

import numpy as np

from edge.config import ThermalBaselineConfig
from edge.errors import ConfigError
from edge.overrides import write_atomically

log = logging.getLogger(__name__)


class PopulationBaseline:
    def __init__(self, config: ThermalBaselineConfig, *, path: Path | None = None, settings: str = "") -> None:
        """`path`: where the samples are kept; `settings`: what they were read under (they are dropped when it changes)."""
        self.config = config
        self.path = path
        self.settings = settings
        self._readings: deque[float] = deque(self._load(), maxlen=config.window) if config.enabled else \
            deque(maxlen=config.window)
        self._shift = 0.0
        self._update_shift()

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
        self._update_shift()
        self._save()

    def _update_shift(self) -> None:
        if len(self._readings) < self.config.min_samples:
            return
        wanted = self.config.reference_c - float(np.median(self._readings))
        self._shift = float(np.clip(wanted, -self.config.max_shift_c, self.config.max_shift_c))

    def _load(self) -> list[float]:
        if self.path is None or not self.path.exists():
            return []
        try:
            kept = json.loads(self.path.read_text(encoding="utf-8"))
            readings = [float(value) for value in kept["readings"]]
            if not all(30.0 <= value <= 45.0 for value in readings):
                raise ValueError("a reading outside 30-45 °C")
            if kept["settings"] != self.settings:
                log.info("thermal baseline: settings changed, starting afresh (%s)", self.path)
                return []
        except (OSError, ValueError, TypeError, KeyError) as error:
            log.warning("thermal baseline: %s unreadable, starting afresh (%s)", self.path, error)
            return []
        return readings

    def _save(self) -> None:
        if self.path is None:
            return
        try:
            write_atomically(self.path, json.dumps({"settings": self.settings, "readings": list(self._readings)}))
        except ConfigError as error:  # a full or read-only disk costs the calibration a restart, never the gate
            log.warning("thermal baseline not kept: %s", error)
