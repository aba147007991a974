"""Digital inputs and outputs beside the relay: dry contacts in (a fire panel, a door contact, an exit button, a
tamper switch), lines out (a siren). On GPIO lines, a Modbus RTU board (the relay board's own inputs, say) or a
serial USB GPIO module; each real driver has a simulated twin behind one interface.

`contacts()` says, per named input, whether its contact is closed now; what a closed contact means (normally
open or normally closed) is the caller's business, not the driver's.
"""

from __future__ import annotations

import termios
import threading
import time

import serial

from drivers.base import Device
from drivers.modbus import ModbusLink, bits_reply_length, read_inputs_frame, write_coil_frame
from drivers.serialport import open_serial
from edge.errors import DeviceError


class DigitalIO(Device):
    name = "inputs and outputs"

    def contacts(self) -> dict[str, bool]:
        """Each input's contact: True when closed."""
        self._check_open()
        return self._contacts()

    def set(self, output: str, on: bool) -> None:
        self._check_open()
        self._set(output, on)

    def _contacts(self) -> dict[str, bool]:
        raise NotImplementedError

    def _set(self, output: str, on: bool) -> None:
        raise NotImplementedError


class SimIO(DigitalIO):
    """The twin: contacts are closed and opened by the simulated site (a test, a demo, the control socket)."""

    name = "inputs and outputs (simulated)"

    def __init__(self, resting: dict[str, bool], outputs: list[str]) -> None:
        """`resting`: each input's contact at rest (True for a normally-closed one)."""
        super().__init__()
        self._lock = threading.Lock()
        self.closed_contacts = dict(resting)
        self.outputs = {name: False for name in outputs}
        self.broken = False  # the board unplugged: reads and writes fail

    def close_contact(self, name: str, closed: bool) -> None:
        with self._lock:
            if name not in self.closed_contacts:
                raise KeyError(name)
            self.closed_contacts[name] = closed

    def _contacts(self) -> dict[str, bool]:
        if self.broken:
            raise DeviceError(f"{self.name}: not answering")
        with self._lock:
            return dict(self.closed_contacts)

    def _set(self, output: str, on: bool) -> None:
        if self.broken:
            raise DeviceError(f"{self.name}: not answering")
        self.outputs[output] = on


class GpioIO(DigitalIO):
    """Inputs and outputs on Linux GPIO lines (libgpiod v2). An input idles high on the line's pull-up and reads a
    contact to ground as closed; an output is driven inactive at start."""

    name = "inputs and outputs (GPIO)"

    def __init__(self, *, chip: str, inputs: dict[str, int], outputs: dict[str, tuple[int, bool]]) -> None:
        super().__init__()
        try:
            import gpiod
            from gpiod.line import Bias, Direction, Value
        except ImportError:
            raise DeviceError(f"{self.name}: the gpiod package is not installed (pip install gpiod)") from None
        self._active = Value.ACTIVE
        self._values = (Value.INACTIVE, Value.ACTIVE)
        self._inputs, self._outputs = dict(inputs), {name: line for name, (line, _) in outputs.items()}
        self._requests: dict[int, object] = {}
        try:
            for line in self._inputs.values():  # one request per line: each can fail (busy, absent) and say which
                self._requests[line] = gpiod.request_lines(chip, consumer="gatepost-io", config={line: gpiod.LineSettings(
                    direction=Direction.INPUT, bias=Bias.PULL_UP, active_low=True)})
            for line, active_low in outputs.values():
                self._requests[line] = gpiod.request_lines(chip, consumer="gatepost-io", config={line: gpiod.LineSettings(
                    direction=Direction.OUTPUT, active_low=active_low, output_value=Value.INACTIVE)})
        except OSError as error:
            self._close()
            raise DeviceError(f"{self.name}: cannot request the lines of {chip} ({error})") from None

    def _contacts(self) -> dict[str, bool]:
        try:
            return {name: self._requests[line].get_value(line) == self._active  # type: ignore[attr-defined]
                    for name, line in self._inputs.items()}
        except OSError as error:
            raise DeviceError(f"{self.name}: cannot read the inputs ({error})") from None

    def _set(self, output: str, on: bool) -> None:
        line = self._outputs[output]
        try:
            self._requests[line].set_value(line, self._values[int(on)])  # type: ignore[attr-defined]
        except OSError as error:
            raise DeviceError(f"{self.name}: cannot drive {output} on line {line} ({error})") from None

    def _close(self) -> None:
        for request in self._requests.values():
            request.release()  # type: ignore[attr-defined]
        self._requests = {}


class ModbusIO(DigitalIO):
    """Inputs and outputs of a Modbus RTU board: discrete inputs (function 02) read as contacts, coils (05) as
    outputs. On the turnstile relay's own board the serial line is shared with the relay (drivers/modbus.py)."""

    name = "inputs and outputs (Modbus RTU)"

    def __init__(self, *, port: str, address: int, inputs: dict[str, int], outputs: dict[str, int],
                 baudrate: int = 9600, reply_timeout_s: float = 0.3) -> None:
        super().__init__()
        self.address = address
        self._inputs, self._outputs = dict(inputs), dict(outputs)
        self._first = min(inputs.values(), default=0)
        self._count = max(inputs.values(), default=0) - self._first + 1
        self._link = ModbusLink.shared(port, baudrate, reply_timeout_s, self.name)

    def _contacts(self) -> dict[str, bool]:
        if not self._inputs:
            return {}
        reply = self._link.exchange(self.address, read_inputs_frame(self.address, self._first, self._count),
                                    bits_reply_length(self._count), what=self.name)
        if reply[1] != 0x02 or reply[2] != (self._count + 7) // 8:
            raise DeviceError(f"{self.name}: unexpected read-inputs reply {reply.hex(' ')}")
        bits = int.from_bytes(reply[3:-2], "little")
        return {name: bool(bits >> (index - self._first) & 1) for name, index in self._inputs.items()}

    def _set(self, output: str, on: bool) -> None:
        request = write_coil_frame(self.address, self._outputs[output], on)
        if self._link.exchange(self.address, request, 8, what=self.name) != request:
            raise DeviceError(f"{self.name}: write-coil echo differs from the request for {output}")

    def _close(self) -> None:
        self._link.release()


NUMATO_REPLY_MAX = 64  # bytes a reply may take before the prompt; more is a board gone wrong, not read on


class NumatoIO(DigitalIO):
    """Inputs and outputs of a Numato Lab USB GPIO module (its ASCII commands over the USB serial port):
    `gpio read N` answers 0 or 1, `gpio set N` / `gpio clear N` drive a line; each reply ends at the `>` prompt.
    A contact wired from the input to ground, with the board's pull-up, reads 0 when closed."""

    name = "inputs and outputs (Numato USB GPIO)"

    def __init__(self, *, port: str, inputs: dict[str, int], outputs: dict[str, int],
                 reply_timeout_s: float = 0.3) -> None:
        super().__init__()
        self.port_name = port
        self._inputs, self._outputs = dict(inputs), dict(outputs)
        self._timeout = reply_timeout_s
        self._port: serial.Serial | None = open_serial(port, 19200, timeout=reply_timeout_s, what=self.name)
        self._lock = threading.Lock()

    def _contacts(self) -> dict[str, bool]:
        return {name: self._command(f"gpio read {line}") == "0" for name, line in self._inputs.items()}

    def _set(self, output: str, on: bool) -> None:
        self._command(f"gpio {'set' if on else 'clear'} {self._outputs[output]}")

    def _command(self, command: str) -> str:
        """Send one command; the line the board answers with before its prompt ('' for none)."""
        with self._lock:
            if self._port is None:  # failed before (unplugged): opened again once it is back
                self._port = open_serial(self.port_name, 19200, timeout=self._timeout, what=self.name)
            try:
                self._port.reset_input_buffer()
                self._port.write(command.encode() + b"\r")
                self._port.flush()
                reply = self._until_prompt(self._port)
            except (OSError, termios.error) as error:
                self._port.close()
                self._port = None
                raise DeviceError(f"{self.name}: {self.port_name} failed ({error})") from None
        lines = [line.strip() for line in reply.replace("\r", "\n").split("\n") if line.strip()]
        if lines and lines[0] == command:
            lines = lines[1:]  # the board echoes the command
        return lines[-1] if lines else ""

    def _until_prompt(self, port: serial.Serial) -> str:
        deadline = time.monotonic() + self._timeout
        reply = b""
        while not reply.endswith(b">") and time.monotonic() < deadline:
            if len(reply) > NUMATO_REPLY_MAX:
                raise DeviceError(f"{self.name}: reply over {NUMATO_REPLY_MAX} bytes without a prompt")
            reply += port.read(1)
        if not reply.endswith(b">"):
            raise DeviceError(f"{self.name}: no prompt from {self.port_name} within {self._timeout:.2f} s "
                              f"(got {reply!r})")
        try:
            return reply[:-1].decode("ascii")
        except UnicodeDecodeError:
            raise DeviceError(f"{self.name}: reply not ASCII: {reply[:-1]!r}") from None

    def _close(self) -> None:
        if self._port is not None:
            self._port.close()
