"""The turnstile's "passed" output: how many people went through since the last poll."""

from __future__ import annotations

from datetime import timedelta

import serial

from drivers.base import Device
from drivers.serialport import open_serial
from edge.errors import DeviceError


class PassageSensor(Device):
    name = "passage sensor"
    ways: list[str]  # after a poll: "in" or "out" for each passage whose way the sensor told, in order

    def poll(self) -> int:
        """Passages counted since the previous call; never blocks. A sensor that tells the way leaves it in `ways`."""
        self._check_open()
        self.ways = []
        return self._poll()

    def _poll(self) -> int:
        raise NotImplementedError


class SerialPassageSensor(PassageSensor):
    """A turnstile controller that sends one line (`token`) per passage, or `in_token` / `out_token` where it tells the
    way (a turnstile of both ways)."""

    name = "passage sensor (serial)"

    def __init__(self, *, port: str, baudrate: int = 9600, token: str = "PASS", in_token: str = "IN",
                 out_token: str = "OUT") -> None:
        super().__init__()
        self.port_name = port
        self.token = token.encode()
        self._way_tokens = {in_token.encode(): "in", out_token.encode(): "out"}
        self._buffer = b""
        self._port = open_serial(port, baudrate, timeout=0, what=self.name)

    def _poll(self) -> int:
        try:
            waiting = self._port.in_waiting
            self._buffer += self._port.read(waiting) if waiting else b""
        except (serial.SerialException, OSError) as error:
            raise DeviceError(f"{self.name}: {self.port_name} failed ({error})") from None
        *lines, self._buffer = self._buffer.replace(b"\r", b"\n").split(b"\n")
        self._buffer = self._buffer[-256:]
        count = 0
        for line in (line.strip() for line in lines):
            if line == self.token:
                count += 1
            elif line in self._way_tokens:
                count += 1
                self.ways.append(self._way_tokens[line])
        return count

    def _close(self) -> None:
        self._port.close()

    def describe(self) -> str:
        return f"{self.name} on {self.port_name}"


class GpioPassageSensor(PassageSensor):
    """A dry contact on a GPIO line; each falling (or rising) edge is one passage."""

    name = "passage sensor (GPIO)"

    def __init__(self, *, chip: str, line: int, active_low: bool = True) -> None:
        super().__init__()
        try:
            import gpiod
            from gpiod.line import Bias, Direction, Edge
        except ImportError:
            raise DeviceError(f"{self.name}: the gpiod package is not installed (pip install gpiod)") from None
        self.line = line
        try:
            self._request = gpiod.request_lines(
                chip, consumer="gatepost-passage",
                config={line: gpiod.LineSettings(direction=Direction.INPUT, edge_detection=Edge.RISING,
                                                 active_low=active_low, bias=Bias.PULL_UP,
                                                 debounce_period=timedelta(milliseconds=20))})
        except OSError as error:
            raise DeviceError(f"{self.name}: cannot request line {line} of {chip} ({error})") from None

    def _poll(self) -> int:
        count = 0
        try:
            while self._request.wait_edge_events(0):
                count += len(self._request.read_edge_events())
        except OSError as error:
            raise DeviceError(f"{self.name}: cannot read line {self.line} ({error})") from None
        return count

    def _close(self) -> None:
        self._request.release()


class SimPassageSensor(PassageSensor):
    """The twin: passages are pushed in by the simulated world (or a test)."""

    name = "passage sensor (simulated)"

    def __init__(self) -> None:
        super().__init__()
        self._pending = 0

        self._ways: list[str] = []

    def trigger(self, count: int = 1, *, way: str | None = None) -> None:
        """`count` passages (of the way, "in" or "out", where the twin is told it)."""
        self._pending += count
        if way is not None:
            self._ways += [way] * count

    def _poll(self) -> int:
        count, self._pending = self._pending, 0
        self.ways, self._ways = self._ways, []
        return count
