"""Emulated serial boards on pty pairs: they check every byte and answer as the real boards do."""

from __future__ import annotations

import os
import select
import threading
import time
import tty
from dataclasses import dataclass, field

from drivers.modbus import crc16_modbus


def wait_for(condition, timeout: float = 5.0, interval: float = 0.005) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return condition()


@dataclass
class BoardLog:
    states: list[tuple[int, bool]] = field(default_factory=list)  # (channel or coil, on)
    errors: list[str] = field(default_factory=list)
    times: list[float] = field(default_factory=list)  # time.time() of each entry in `states`


class PtyBoard:
    """A pty pair: the driver opens `port`; the board reads and writes the master side."""

    def __init__(self) -> None:
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)
        self.port = os.ttyname(self.slave)
        self.log = BoardLog()
        self.received = bytearray()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                ready, _, _ = select.select([self.master], [], [], 0.05)
                if ready:
                    data = os.read(self.master, 4096)
                    self.received += data
                    self.feed(data)
                self.tick()
            except OSError:
                return

    def feed(self, data: bytes) -> None:
        raise NotImplementedError

    def tick(self) -> None:
        """Every 50 ms or so, whatever arrived: a board's own timers."""

    def write(self, data: bytes) -> None:
        os.write(self.master, data)

    def unplug(self) -> None:
        """Close the board's side, as pulling the USB cable would."""
        self._stop.set()
        self._thread.join(timeout=2)
        os.close(self.master)

    def close(self) -> None:
        if not self._stop.is_set():
            self.unplug()
        try:
            os.close(self.slave)
        except OSError:
            pass


class LcusBoard(PtyBoard):
    """LCUS-1/LCUS-2: 4-byte frames A0 ch state sum; never answers."""

    def __init__(self, channels: int = 2) -> None:
        self.channels = channels
        self._pending = bytearray()
        super().__init__()

    def feed(self, data: bytes) -> None:
        self._pending += data
        while len(self._pending) >= 4:
            frame, self._pending = bytes(self._pending[:4]), self._pending[4:]
            header, channel, state, checksum = frame
            if header != 0xA0:
                self.log.errors.append(f"byte 0: header {header:#04x}, expected 0xa0")
            elif not 1 <= channel <= self.channels:
                self.log.errors.append(f"byte 1: channel {channel} out of range")
            elif state not in (0, 1):
                self.log.errors.append(f"byte 2: state {state}, expected 0 or 1")
            elif checksum != (header + channel + state) & 0xFF:
                self.log.errors.append(f"byte 3: checksum {checksum:#04x} wrong")
            else:
                self.log.states.append((channel, bool(state)))
                self.log.times.append(time.time())


class ModbusBoard(PtyBoard):
    """A Modbus RTU relay board: answers 05 (echo), 01 (coil status) and 06 (holding register: `watchdog_register`
    holds the seconds of silence after which every coil goes off, as Wiren Board modules do); checks CRC and
    address."""

    def __init__(self, address: int = 1, coils: int = 8, *, silent: bool = False, watchdog_register: int = 8,
                 inputs: int = 8) -> None:
        self.address = address
        self.coils = [False] * coils
        self.inputs = [False] * inputs  # discrete inputs (function 02): a contact closed reads True
        self.silent = silent
        self.registers: dict[int, int] = {}
        self.watchdog_register = watchdog_register
        self.watchdog_trips = 0
        self._last_frame = time.monotonic()
        self._pending = bytearray()
        super().__init__()

    def tick(self) -> None:
        timeout = self.registers.get(self.watchdog_register, 0)
        if timeout and time.monotonic() - self._last_frame >= timeout and any(self.coils):
            self.watchdog_trips += 1
            for coil, on in enumerate(self.coils):
                if on:
                    self.coils[coil] = False
                    self.log.states.append((coil, False))
                    self.log.times.append(time.time())

    def feed(self, data: bytes) -> None:
        self._pending += data
        while len(self._pending) >= 8:
            frame, self._pending = bytes(self._pending[:8]), self._pending[8:]
            if crc16_modbus(frame[:6]) != int.from_bytes(frame[6:], "little"):
                self.log.errors.append(f"bytes 6-7: CRC wrong in {frame.hex(' ')}")
                continue  # real boards stay silent on a bad CRC
            if frame[0] != self.address or self.silent:
                continue
            self._last_frame = time.monotonic()
            function, start, value = frame[1], int.from_bytes(frame[2:4], "big"), int.from_bytes(frame[4:6], "big")
            if function == 0x06:
                self.registers[start] = value
                self.write(frame)
            elif function == 0x05:
                if start >= len(self.coils):
                    self._exception(function, 2)
                elif value not in (0xFF00, 0x0000):
                    self.log.errors.append(f"bytes 4-5: coil value {value:#06x}, expected 0xff00 or 0x0000")
                    self._exception(function, 3)
                else:
                    self.coils[start] = value == 0xFF00
                    self.log.states.append((start, self.coils[start]))
                    self.log.times.append(time.time())
                    self.write(frame)
            elif function in (0x01, 0x02):
                table = self.coils if function == 0x01 else self.inputs
                if start + value > len(table) or value == 0:
                    self._exception(function, 2)
                    continue
                bits = 0
                for i in range(value):
                    bits |= int(table[start + i]) << i
                count = (value + 7) // 8
                body = bytes([self.address, function, count]) + bits.to_bytes(count, "little")
                self.write(body + crc16_modbus(body).to_bytes(2, "little"))
            else:
                self._exception(function, 1)

    def _exception(self, function: int, code: int) -> None:
        body = bytes([self.address, function | 0x80, code])
        self.write(body + crc16_modbus(body).to_bytes(2, "little"))


class NumatoBoard(PtyBoard):
    """A Numato Lab USB GPIO module: ASCII commands ending in CR, each echoed, `gpio read N` answered with the line's
    level, every reply ending in the `>` prompt. `levels` are the input lines (a contact to ground reads 0)."""

    def __init__(self, lines: int = 8) -> None:
        self.levels = [1] * lines
        self.driven: dict[int, int] = {}
        self._pending = bytearray()
        super().__init__()

    def feed(self, data: bytes) -> None:
        self._pending += data
        while b"\r" in self._pending:
            line, _, rest = bytes(self._pending).partition(b"\r")
            self._pending = bytearray(rest)
            words = line.decode("ascii", "replace").split()
            answer = ""
            if len(words) == 3 and words[0] == "gpio" and words[2].isdigit() and int(words[2]) < len(self.levels):
                number = int(words[2])
                if words[1] == "read":
                    answer = f"{self.levels[number]}\n\r"
                elif words[1] in ("set", "clear"):
                    self.driven[number] = int(words[1] == "set")
                    self.log.states.append((number, words[1] == "set"))
                else:
                    self.log.errors.append(f"unknown command {line!r}")
            else:
                self.log.errors.append(f"unknown command {line!r}")
            self.write(line + b"\n\r" + answer.encode() + b">")
