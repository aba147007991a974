"""Thermal cameras: radiometric frames in degrees Celsius with a timestamp.

Each real sensor's raw-to-°C conversion is a plain function (tested against its datasheet);
the camera classes only fetch raw data. MLX90640 lives in `drivers.mlx90640`.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import numpy as np

from drivers.base import Device
from edge.errors import DeviceError

KELVIN = 273.15


@dataclass
class ThermalFrame:
    """A frame's pixels and when they were measured.

    A sensor that reads its frame in two halves (an MLX90640's sub-pages, in a chess pattern) hands
    each half over as it arrives: `fresh` marks the pixels measured at `time`, the others were
    measured at `rest_time`, half a frame earlier, and a face that moved meanwhile is elsewhere in them.
    """

    celsius: np.ndarray  # float32, H x W
    time: float
    emissivity_corrected: bool = False  # True where the sensor's own calculation took skin emissivity into account
    fresh: np.ndarray | None = None  # bool, H x W; None: every pixel was measured at `time`
    rest_time: float | None = None  # when the pixels outside `fresh` were measured


def chess_pattern(height: int, width: int) -> np.ndarray:
    """Sub-page of each pixel in an MLX90640's chess mode (0 or 1), for a frame of any size."""
    rows, columns = np.indices((height, width))
    return (rows + columns) % 2


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


class PolledThermalCamera(ThermalCamera):
    """A sensor read at its own pace by a thread that keeps the newest frame: `read()` never waits.

    Subclasses implement `_fetch()`, which may block until the sensor has a frame (an MLX90640 at
    2 Hz blocks for half a second). A fetch that fails is reported by the next `read()` as a
    DeviceError and tried again after `retry_s`.
    """

    retry_s = 0.5

    def _start_reader(self) -> None:
        self._newest: ThermalFrame | None = None
        self._failure: str | None = None
        self._stopping = threading.Event()
        self._reader = threading.Thread(target=self._read_forever, name=f"{self.name} reader", daemon=True)
        self._reader.start()

    def _read_forever(self) -> None:
        while not self._stopping.is_set():
            try:
                frame = self._fetch()
            except DeviceError as error:
                self._failure = str(error)
                self._stopping.wait(self.retry_s)
                continue
            self._failure = None
            if frame is not None:
                self._newest = frame

    def _read(self) -> ThermalFrame | None:
        if self._failure is not None:
            raise DeviceError(self._failure)
        return self._newest

    def _fetch(self) -> ThermalFrame | None:
        raise NotImplementedError

    def _stop_reader(self) -> None:
        self._stopping.set()
        self._reader.join(timeout=3)


# conversions

def lepton_y16_to_celsius(raw: np.ndarray) -> np.ndarray:
    """FLIR Lepton 3.5 radiometric (TLinear on, high gain): Y16 counts are hundredths of a kelvin."""
    return raw.astype(np.float32) / 100.0 - KELVIN


def infiray_to_celsius(stream: np.ndarray) -> np.ndarray:
    """InfiRay P2 Pro / Topdon TC001: a 2H x W x 2 byte frame; the lower half holds 16-bit raw
    values (little-endian) in 1/64 K."""
    height = stream.shape[0] // 2
    lower = stream[height:]
    raw = lower[..., 0].astype(np.uint16) | (lower[..., 1].astype(np.uint16) << 8)
    return raw.astype(np.float32) / 64.0 - KELVIN


def amg8833_pixels_to_celsius(data: bytes) -> np.ndarray:
    """AMG8833 pixel registers 0x80-0xFF: 64 x 12-bit two's complement, little-endian, 0.25 °C/LSB."""
    if len(data) != 128:
        raise ValueError(f"AMG8833 pixel block is 128 bytes, got {len(data)}")
    raw = np.frombuffer(data, dtype="<u2").astype(np.int32) & 0x0FFF
    raw = np.where(raw & 0x0800, raw - 0x1000, raw)
    return (raw * 0.25).astype(np.float32).reshape(8, 8)


def amg8833_thermistor_to_celsius(low: int, high: int) -> float:
    """AMG8833 thermistor registers 0x0E/0x0F: 12-bit sign and magnitude, 0.0625 °C/LSB."""
    value = ((high & 0x07) << 8) | low
    return (-value if high & 0x08 else value) * 0.0625


# cameras

class UvcThermalCamera(PolledThermalCamera):
    """A UVC radiometric camera read raw through OpenCV (PureThermal Lepton, InfiRay P2 Pro)."""

    def __init__(self, *, source: str, kind: str, clock=time.monotonic) -> None:
        super().__init__()
        import cv2

        self.kind = kind
        self.name = f"thermal camera ({kind})"
        self._clock = clock
        index = int(source) if source.isdigit() else source
        self._capture = cv2.VideoCapture(index, cv2.CAP_V4L2)
        if not self._capture.isOpened():
            raise DeviceError(f"{self.name}: cannot open {source!r}")
        self._capture.set(cv2.CAP_PROP_CONVERT_RGB, 0)
        if kind == "lepton":
            self._capture.set(cv2.CAP_PROP_FOURCC, cv2.VideoWriter.fourcc(*"Y16 "))
        self._lock = threading.Lock()
        self._start_reader()

    def _fetch(self) -> ThermalFrame | None:
        with self._lock:
            ok, raw = self._capture.read()
        if not ok or raw is None:
            return None
        if self.kind == "lepton":
            celsius = lepton_y16_to_celsius(raw.view(np.uint16).reshape(raw.shape[0], -1))
        else:
            celsius = infiray_to_celsius(raw.reshape(raw.shape[0], -1, 2))
        return ThermalFrame(celsius, self._clock())

    def _close(self) -> None:
        self._stop_reader()
        self._capture.release()


class Amg8833Camera(PolledThermalCamera):
    """Panasonic Grid-EYE AMG8833 (8x8) on a Linux I2C bus."""

    name = "thermal camera (AMG8833)"

    def __init__(self, *, bus: int = 1, address: int = 0x69, clock=time.monotonic) -> None:
        super().__init__()
        try:
            from smbus2 import SMBus
        except ImportError:
            raise DeviceError(f"{self.name}: the smbus2 package is not installed (pip install smbus2)") from None
        self._clock = clock
        self.address = address
        try:
            self._bus = SMBus(bus)
            self._bus.write_byte_data(address, 0x00, 0x00)  # normal mode
        except OSError as error:
            raise DeviceError(f"{self.name}: no answer at I2C bus {bus} address {address:#04x} ({error})") from None
        self._start_reader()

    def _fetch(self) -> ThermalFrame | None:
        time.sleep(0.1)  # the sensor refreshes at 10 Hz
        try:
            blocks = [self._bus.read_i2c_block_data(self.address, 0x80 + i * 32, 32) for i in range(4)]
            data = bytes(value for block in blocks for value in block)
        except OSError as error:
            raise DeviceError(f"{self.name}: I2C read failed ({error})") from None
        return ThermalFrame(amg8833_pixels_to_celsius(data), self._clock())

    def _close(self) -> None:
        self._stop_reader()
        self._bus.close()
