"""Thermal cameras: radiometric frames in degrees Celsius with a timestamp."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from drivers.base import Device


@dataclass
class ThermalFrame:
    celsius: np.ndarray  # float32, H x W
    time: float


class ThermalCamera(Device):
    name = "thermal camera"

    @property
    def healthy(self) -> bool:
        return True

    def read(self) -> ThermalFrame | None:
        """The newest frame, or None when the sensor has none; never blocks for long."""
        self._check_open()
        return self._read()

    def _read(self) -> ThermalFrame | None:
        raise NotImplementedError
