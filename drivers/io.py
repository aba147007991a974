"""Digital inputs and outputs beside the relay: dry contacts in (a fire panel, a door contact, an exit button, a
tamper switch), lines out (a siren). Each real driver has a simulated twin behind one interface.

`contacts()` says, per named input, whether its contact is closed now; what a closed contact means (normally
open or normally closed) is the caller's business, not the driver's.
"""

from __future__ import annotations

import threading

from drivers.base import Device
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
