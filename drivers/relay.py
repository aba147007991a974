"""The turnstile relay: one interface, serial boards (LCUS, Modbus RTU), a GPIO line, a twin.

`set(True)` energises the relay (gate released); `set(False)` de-energises it (locked when the
turnstile is wired fail-secure). Any failure raises DeviceError; the caller keeps the gate locked.
"""

from __future__ import annotations

import logging
import termios
import time
from collections import deque
from dataclasses import dataclass

import serial

from drivers.base import Device
from drivers.modbus import ModbusLink, read_coils_frame, write_coil_frame, write_register_frame
from drivers.serialport import open_serial
from edge.errors import DeviceError

log = logging.getLogger(__name__)


class Relay(Device):
    name = "relay"

    def set(self, on: bool) -> None:
        self._check_open()
        self._set(on)

    def _set(self, on: bool) -> None:
        raise NotImplementedError

    def read(self) -> bool | None:
        """The relay's state as the board reports it, or None where the board cannot tell."""
        self._check_open()
        return None


# LCUS-1 / LCUS-2 (CH340 USB serial relay): frame A0 <channel> <0|1> <sum of the first three>.
# The boards never answer; the frame is all there is.

LCUS_HEADER = 0xA0


def lcus_frame(channel: int, on: bool) -> bytes:
    state = 1 if on else 0
    return bytes([LCUS_HEADER, channel, state, (LCUS_HEADER + channel + state) & 0xFF])


class LcusRelay(Relay):
    name = "relay (LCUS serial)"

    def __init__(self, *, port: str, channel: int = 1, baudrate: int = 9600) -> None:
        super().__init__()
        self.port_name = port
        self.channel = channel
        self._port = open_serial(port, baudrate, timeout=0.2, what=self.name)

    def _set(self, on: bool) -> None:
        try:
            self._port.write(lcus_frame(self.channel, on))
            self._port.flush()
        except (serial.SerialException, OSError, termios.error) as error:
            raise DeviceError(f"{self.name}: write to {self.port_name} failed ({error})") from None

    def _close(self) -> None:
        self._port.close()

    def describe(self) -> str:
        return f"{self.name} on {self.port_name}, channel {self.channel}"


# Modbus RTU relay boards: function 05 (write single coil) and 01 (read coils), CRC-16/MODBUS (drivers/modbus.py).


class ModbusRelay(Relay):
    name = "relay (Modbus RTU)"

    def __init__(self, *, port: str, address: int = 1, channel: int = 1, baudrate: int = 9600,
                 reply_timeout_s: float = 0.3, watchdog_register: int | None = None, watchdog_s: int = 2) -> None:
        """With `watchdog_register`, the board's own communication watchdog is armed: `watchdog_s` of silence (a
        daemon killed mid-pulse) and the board switches its relays off by itself."""
        super().__init__()
        self.port_name = port
        self.address = address
        self.coil = channel - 1
        self._link = ModbusLink.shared(port, baudrate, reply_timeout_s, self.name)
        self.watchdog_s = watchdog_s if watchdog_register is not None else None
        if watchdog_register is not None:
            try:
                request = write_register_frame(address, watchdog_register, watchdog_s)
                if self._exchange(request, 8) != request:
                    raise DeviceError(f"{self.name}: the board did not confirm its watchdog (register "
                                      f"{watchdog_register})")
            except DeviceError:
                self._link.release()
                raise

    def _exchange(self, request: bytes, reply_length: int) -> bytes:
        return self._link.exchange(self.address, request, reply_length, what=self.name)

    def _set(self, on: bool) -> None:
        request = write_coil_frame(self.address, self.coil, on)
        reply = self._exchange(request, 8)
        if reply != request:
            raise DeviceError(f"{self.name}: write-coil echo {reply.hex(' ')} differs from request")

    def read(self) -> bool | None:
        self._check_open()
        reply = self._exchange(read_coils_frame(self.address, self.coil), 6)
        if reply[1] != 0x01 or reply[2] != 1:
            raise DeviceError(f"{self.name}: unexpected read-coils reply {reply.hex(' ')}")
        return bool(reply[3] & 1)

    def _close(self) -> None:
        self._link.release()

    def describe(self) -> str:
        state = self.read()
        watchdog = f", watchdog {self.watchdog_s} s" if self.watchdog_s is not None else ", no watchdog"
        return (f"{self.name} on {self.port_name}, address {self.address}, coil {self.coil}: answers, "
                f"{'on' if state else 'off'}{watchdog}")


class GpioRelay(Relay):
    """A relay module on a Linux GPIO line, through the character device (libgpiod v2 bindings)."""

    name = "relay (GPIO)"

    def __init__(self, *, chip: str, line: int, active_low: bool = False) -> None:
        super().__init__()
        try:
            import gpiod
            from gpiod.line import Direction, Value
        except ImportError:
            raise DeviceError(f"{self.name}: the gpiod package is not installed (pip install gpiod)") from None
        self._values = (Value.INACTIVE, Value.ACTIVE)
        self.line = line
        try:
            self._request = gpiod.request_lines(
                chip, consumer="gatepost-relay",
                config={line: gpiod.LineSettings(direction=Direction.OUTPUT, active_low=active_low,
                                                 output_value=Value.INACTIVE)})
        except OSError as error:
            raise DeviceError(f"{self.name}: cannot request line {line} of {chip} ({error})") from None

    def _set(self, on: bool) -> None:
        try:
            self._request.set_value(self.line, self._values[int(on)])
        except OSError as error:
            raise DeviceError(f"{self.name}: cannot drive line {self.line} ({error})") from None

    def read(self) -> bool | None:
        self._check_open()
        try:
            return self._request.get_value(self.line) == self._values[1]
        except OSError as error:
            raise DeviceError(f"{self.name}: cannot read line {self.line} ({error})") from None

    def _close(self) -> None:
        self._request.release()


@dataclass
class RelayChange:
    time: float
    on: bool


HISTORY_KEPT = 1000


class SimRelay(Relay):
    """The twin: keeps a timestamped history of what was driven; can be told to fail."""

    name = "relay (simulated)"

    def __init__(self, *, clock=time.monotonic) -> None:
        super().__init__()
        self._clock = clock
        self.state = False
        self.history: deque[RelayChange] = deque(maxlen=HISTORY_KEPT)  # a demo gate runs for months
        self.unplugged = False

    def _set(self, on: bool) -> None:
        if self.unplugged:
            raise DeviceError(f"{self.name}: unplugged")
        self.state = on
        self.history.append(RelayChange(self._clock(), on))

    def read(self) -> bool | None:
        self._check_open()
        return self.state

    def pulses(self) -> list[float]:
        """Times at which the relay was switched on."""
        return [change.time for change in self.history if change.on]
