"""The GPIO relay and passage contact against a fake chip: the kernel's gpio-sim is not loadable here,
so a small chip stands in for /dev/gpiochipN, taking the real libgpiod settings objects and keeping
physical levels (active-low inverts, as the kernel does). A missing chip goes through the real library."""

from datetime import timedelta

import pytest

gpiod = pytest.importorskip("gpiod")
from gpiod.line import Bias, Direction, Edge, Value  # noqa: E402

from drivers.passage import GpioPassageSensor  # noqa: E402
from drivers.relay import GpioRelay  # noqa: E402
from edge.errors import DeviceError  # noqa: E402


class FakeChip:
    """Lines with physical levels; a request as the kernel hands it out."""

    def __init__(self, path: str, lines: int = 8) -> None:
        self.path = path
        self.level = [0] * lines
        self.requests: list[FakeRequest] = []

    def request_lines(self, path, consumer, config):
        if path != self.path:
            raise FileNotFoundError(2, "No such file or directory", path)
        (line, settings), = config.items()
        if not 0 <= line < len(self.level):
            raise OSError(22, "Invalid argument")
        if any(line in r.settings and not r.released for r in self.requests):
            raise OSError(16, "Device or resource busy")
        request = FakeRequest(self, consumer, {line: settings})
        if settings.direction is Direction.OUTPUT:
            request.set_value(line, settings.output_value)
        self.requests.append(request)
        return request

    def press(self, line: int) -> None:
        """The contact closes to ground, then opens again (a pull-up line idles high)."""
        for level in (0, 1):
            self._drive(line, level)

    def _drive(self, line: int, level: int) -> None:
        before, self.level[line] = self.level[line], level
        for request in self.requests:
            settings = request.settings.get(line)
            if settings is None or request.released or before == level:
                continue
            active = level ^ int(settings.active_low)
            if (settings.edge_detection is Edge.RISING and active) or settings.edge_detection is Edge.BOTH:
                request.events.append(line)


class FakeRequest:
    def __init__(self, chip: FakeChip, consumer: str, settings: dict) -> None:
        self.chip, self.consumer, self.settings = chip, consumer, settings
        self.events: list[int] = []
        self.released = False
        self.fail = False

    def _usable(self, line: int) -> None:
        if self.released or self.fail:
            raise OSError(19, "No such device")
        if line not in self.settings:
            raise ValueError(f"line {line} not requested")

    def set_value(self, line: int, value: Value) -> None:
        self._usable(line)
        self.chip.level[line] = int(value == Value.ACTIVE) ^ int(self.settings[line].active_low)

    def get_value(self, line: int) -> Value:
        self._usable(line)
        active = self.chip.level[line] ^ int(self.settings[line].active_low)
        return Value.ACTIVE if active else Value.INACTIVE

    def wait_edge_events(self, timeout=None) -> bool:
        self._usable(next(iter(self.settings)))
        return bool(self.events)

    def read_edge_events(self, max_events=None):
        events, self.events = self.events[:1], self.events[1:]  # the kernel may hand them out a few at a time
        return events

    def release(self) -> None:
        self.released = True


@pytest.fixture()
def chip(monkeypatch):
    fake = FakeChip("/dev/gpiochip9")
    monkeypatch.setattr(gpiod, "request_lines", fake.request_lines)
    return fake


@pytest.mark.parametrize("active_low, locked_level, open_level", [(False, 0, 1), (True, 1, 0)])
def test_the_relay_line_starts_locked_and_follows_set(chip, active_low, locked_level, open_level):
    chip.level[4] = open_level  # whatever the line held before, requesting it locks the gate
    relay = GpioRelay(chip="/dev/gpiochip9", line=4, active_low=active_low)
    request = chip.requests[0]
    assert request.consumer == "gatepost-relay" and request.settings[4].direction is Direction.OUTPUT
    assert chip.level[4] == locked_level and relay.read() is False
    relay.set(True)
    assert chip.level[4] == open_level and relay.read() is True
    relay.set(False)
    assert chip.level[4] == locked_level and relay.read() is False
    relay.close()
    assert request.released
    relay.close()  # twice is safe


def test_a_relay_line_lost_mid_use_is_a_device_error_naming_the_line(chip):
    relay = GpioRelay(chip="/dev/gpiochip9", line=4)
    chip.requests[0].fail = True
    with pytest.raises(DeviceError, match=r"^relay \(GPIO\): cannot drive line 4 "):
        relay.set(True)
    with pytest.raises(DeviceError, match=r"^relay \(GPIO\): cannot read line 4 "):
        relay.read()


def test_a_busy_or_absent_line_is_a_device_error_naming_chip_and_line(chip):
    GpioRelay(chip="/dev/gpiochip9", line=4)
    with pytest.raises(DeviceError, match=r"cannot request line 4 of /dev/gpiochip9 .*busy"):
        GpioRelay(chip="/dev/gpiochip9", line=4)
    with pytest.raises(DeviceError, match=r"cannot request line 2 of /dev/gpiochip0"):
        GpioPassageSensor(chip="/dev/gpiochip0", line=2)


def test_a_missing_chip_through_the_real_library_is_a_device_error(tmp_path):
    with pytest.raises(DeviceError, match=r"^relay \(GPIO\): cannot request line 4 of .*gpiochip"):
        GpioRelay(chip=str(tmp_path / "gpiochip7"), line=4)


def test_each_press_of_the_contact_is_one_passage(chip):
    chip.level[2] = 1  # pulled up, contact open
    sensor = GpioPassageSensor(chip="/dev/gpiochip9", line=2)
    settings = chip.requests[0].settings[2]
    assert settings.direction is Direction.INPUT and settings.bias is Bias.PULL_UP and settings.active_low
    assert settings.debounce_period == timedelta(milliseconds=20)
    assert sensor.poll() == 0
    for _ in range(3):
        chip.press(2)
    assert sensor.poll() == 3 and sensor.poll() == 0
    sensor.close()
    assert chip.requests[0].released


def test_an_active_high_contact_counts_its_closing_edges(chip):
    sensor = GpioPassageSensor(chip="/dev/gpiochip9", line=3, active_low=False)
    chip._drive(3, 1)
    chip._drive(3, 0)
    assert sensor.poll() == 1


def test_a_contact_line_lost_mid_use_is_a_device_error(chip):
    sensor = GpioPassageSensor(chip="/dev/gpiochip9", line=2)
    chip.requests[0].fail = True
    with pytest.raises(DeviceError, match=r"^passage sensor \(GPIO\): cannot read line 2 "):
        sensor.poll()


def test_io_lines_read_contacts_to_ground_and_drive_outputs(chip):
    from drivers.io import GpioIO

    chip.level[5] = chip.level[6] = 1  # pulled up: both contacts open
    io = GpioIO(chip="/dev/gpiochip9", inputs={"fire_alarm": 5, "tamper": 6}, outputs={"siren": (7, False)})
    settings = chip.requests[0].settings[5]
    assert settings.direction is Direction.INPUT and settings.bias is Bias.PULL_UP and settings.active_low
    assert io.contacts() == {"fire_alarm": False, "tamper": False}
    chip._drive(5, 0)  # the fire panel's contact closes to ground
    assert io.contacts() == {"fire_alarm": True, "tamper": False}
    assert chip.level[7] == 0
    io.set("siren", True)
    assert chip.level[7] == 1
    chip.requests[0].fail = True
    with pytest.raises(DeviceError, match=r"cannot read the inputs"):
        io.contacts()
    io.close()
    assert all(request.released for request in chip.requests)


def test_io_lines_that_cannot_be_had_release_what_was_taken(chip):
    from drivers.io import GpioIO

    GpioRelay(chip="/dev/gpiochip9", line=6)  # the tamper line is the relay's already
    with pytest.raises(DeviceError, match=r"cannot request the lines of /dev/gpiochip9 .*busy"):
        GpioIO(chip="/dev/gpiochip9", inputs={"fire_alarm": 5, "tamper": 6}, outputs={})
    assert [r.released for r in chip.requests] == [False, True]
