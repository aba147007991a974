"""QR scanners that read codes themselves: a serial line scanner (one code per line) and a twin."""

from __future__ import annotations

from collections.abc import Callable

import logging

import serial

from drivers.base import Device
from drivers.serialport import open_serial
from edge.errors import DeviceError

log = logging.getLogger(__name__)


class QrScanner(Device):
    name = "QR scanner"

    def poll(self) -> list[str]:
        """Codes read since the previous call; never blocks."""
        self._check_open()
        return self._poll()

    def _poll(self) -> list[str]:
        raise NotImplementedError


class SerialQrScanner(QrScanner):
    name = "QR scanner (serial)"

    def __init__(self, *, port: str, baudrate: int = 9600, max_line_bytes: int = 4096) -> None:
        super().__init__()
        self.port_name = port
        self.max_line_bytes = max_line_bytes
        self._buffer = bytearray()
        self._overflowed = False
        self._port = open_serial(port, baudrate, timeout=0, what=self.name)

    def _poll(self) -> list[str]:
        try:
            waiting = self._port.in_waiting
            chunk = self._port.read(waiting) if waiting else b""
        except (serial.SerialException, OSError) as error:
            raise DeviceError(f"{self.name}: {self.port_name} failed ({error})") from None
        codes = []
        for byte in chunk:
            if byte in (0x0A, 0x0D):
                if self._buffer and not self._overflowed:
                    codes.append(self._decode(bytes(self._buffer)))
                self._buffer.clear()
                self._overflowed = False
            elif len(self._buffer) >= self.max_line_bytes:
                if not self._overflowed:
                    log.warning("%s: line longer than %d bytes dropped", self.name, self.max_line_bytes)
                self._overflowed = True
            else:
                self._buffer.append(byte)
        return [code for code in codes if code]

    def _decode(self, line: bytes) -> str:
        try:
            return line.decode("utf-8").strip()
        except UnicodeDecodeError as error:
            log.warning("%s: byte %d of a scanned line is not UTF-8 (0x%02x); line dropped",
                        self.name, error.start, line[error.start])
            return ""

    def _close(self) -> None:
        self._port.close()

    def describe(self) -> str:
        return f"{self.name} on {self.port_name}"


class SimQrScanner(QrScanner):
    """A serial scanner's twin. With a clock, a code arrives as a real one's does: after the scanner
    decodes it and the line crosses the wire (10 bits a character at `baudrate`); without, at once."""

    name = "QR scanner (simulated)"
    DECODE_S = 0.05  # a desk scanner's own read

    def __init__(self, *, clock: Callable[[], float] | None = None, baudrate: int = 9600) -> None:
        super().__init__()
        self._clock = clock
        self.baudrate = baudrate
        self._pending: list[tuple[float, str]] = []

    def present(self, code: str) -> None:
        due = 0.0 if self._clock is None else self._clock() + self.DECODE_S + 10 * (len(code) + 2) / self.baudrate
        self._pending.append((due, code))

    def _poll(self) -> list[str]:
        now = self._clock() if self._clock is not None else 0.0
        ready = [code for due, code in self._pending if due <= now]
        self._pending = [(due, code) for due, code in self._pending if due > now]
        return ready
