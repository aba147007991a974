"""Opening serial ports with one clear error, shared by the serial drivers."""

from __future__ import annotations

import serial

from edge.errors import DeviceError


def open_serial(port: str, baudrate: int, *, timeout: float | None, what: str) -> serial.Serial:
    """8N1 at `baudrate`; raises DeviceError naming the device and the port."""
    try:
        return serial.Serial(port, baudrate=baudrate, bytesize=serial.EIGHTBITS, parity=serial.PARITY_NONE,
                             stopbits=serial.STOPBITS_ONE, timeout=timeout, write_timeout=1.0,
                             exclusive=True)  # a second daemon on the same board is refused, not interleaved
    except (serial.SerialException, OSError, ValueError) as error:
        raise DeviceError(f"{what}: cannot open {port} ({error})") from None
