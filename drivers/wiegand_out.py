"""Wiegand output: the gate sends a granted person's number to an access controller already on site.

A frame (drivers/wiegand.py) goes out as one low pulse per bit, on D0 for a 0 and on D1 for a 1,
`pulse_us` wide and `interval_us` from the start of one to the start of the next (SIA AC-01:
20-100 µs wide, 200 µs to 20 ms apart; controllers commonly expect 50 µs and 1-2 ms). Frames
go out on a thread of their own, one after another, so the frame loop never waits for the
26-70 ms a frame takes. The pulse is timed by spinning on the clock (sleeping cannot hit 50 µs);
the gap between pulses by sleeping most of it and spinning the rest.

The twin drives nothing: it keeps each pulse's line, start and end, so the timing this code
achieves can be measured (bench/wiegand_out.py) and the frames read back.
"""

from __future__ import annotations

import logging
import queue
import threading
import time

from drivers.base import Device
from drivers.wiegand import FRAME_GAP_S, WiegandCard, decode
from edge.errors import DeviceError

log = logging.getLogger(__name__)

FRAME_QUIET_S = 4 * FRAME_GAP_S  # after a frame the lines stay quiet this long: the controller sees it end
MIN_INTERVAL_S = 0.0002  # the shortest gap the spec allows between two bits
SPIN_S = 0.0004  # the last part of a gap is spun, not slept: a sleep overshoots by tens of µs or more
MAX_WAITING = 32  # frames waiting to go out; more are dropped and counted (a controller can take ~15 a second)


class WiegandOutput(Device):
    name = "Wiegand output"

    def __init__(self, *, pulse_us: float = 50.0, interval_us: float = 2000.0) -> None:
        super().__init__()
        self.pulse_s = pulse_us / 1e6
        self.interval_s = interval_us / 1e6
        self._frames: queue.Queue[list[int] | None] = queue.Queue(maxsize=MAX_WAITING)
        self.sent = 0
        self.dropped = 0
        self._thread: threading.Thread | None = None

    def send(self, frame: list[int]) -> bool:
        """Queue a frame; never blocks. False (counted) when too many are waiting."""
        self._check_open()
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="wiegand-out", daemon=True)
            self._thread.start()
        try:
            self._frames.put_nowait(list(frame))
            return True
        except queue.Full:
            self.dropped += 1
            return False

    def wait_idle(self, timeout: float) -> bool:
        """Every queued frame sent (tests, benches, shutdown)."""
        deadline = time.monotonic() + timeout
        while self._frames.unfinished_tasks and time.monotonic() < deadline:
            time.sleep(0.002)
        return not self._frames.unfinished_tasks

    def _run(self) -> None:
        while True:
            frame = self._frames.get()
            try:
                if frame is None:
                    return
                self._send_frame(frame)
                self.sent += 1
            except Exception:  # a driver failing must not end the thread: the next frame tries again
                log.exception("%s: a frame could not be sent", self.name)
            finally:
                self._frames.task_done()

    def _send_frame(self, frame: list[int]) -> None:
        start = time.perf_counter()
        shortest = max(MIN_INTERVAL_S, self.interval_s / 2)
        previous = -1.0
        for index, bit in enumerate(frame):
            # on the planned beat; after a late bit (the thread held up), never sooner than `shortest` after it
            begin = max(start + index * self.interval_s, previous + shortest)
            _wait_until(begin)
            previous = time.perf_counter()
            self._pulse(bit)
        _wait_until(time.perf_counter() + FRAME_QUIET_S)

    def _pulse(self, line: int) -> None:
        self._level(line, True)
        _spin_until(time.perf_counter() + self.pulse_s)  # from the edge itself: a late start never shortens it
        self._level(line, False)

    def _level(self, line: int, active: bool) -> None:
        raise NotImplementedError

    def _close(self) -> None:
        if self._thread is not None:
            self.wait_idle(2.0)
            self._frames.put(None)
            self._thread.join(timeout=2.0)


class GpioWiegandOutput(WiegandOutput):
    """D0 and D1 on two GPIO lines through libgpiod, driven low (active) for each bit; the lines go to the
    controller's reader input through an open-collector or level-shifting stage (docs/wiring.md)."""

    name = "Wiegand output (GPIO)"

    def __init__(self, *, chip: str, d0_line: int, d1_line: int, pulse_us: float = 50.0,
                 interval_us: float = 2000.0) -> None:
        super().__init__(pulse_us=pulse_us, interval_us=interval_us)
        try:
            import gpiod
            from gpiod.line import Direction, Value
        except ImportError:
            raise DeviceError(f"{self.name}: the gpiod package is not installed (pip install gpiod)") from None
        self._values = (Value.INACTIVE, Value.ACTIVE)
        self._lines = (d0_line, d1_line)
        try:
            self._request = gpiod.request_lines(
                chip, consumer="gatepost-wiegand-out",
                config={(d0_line, d1_line): gpiod.LineSettings(direction=Direction.OUTPUT, active_low=True,
                                                               output_value=Value.INACTIVE)})
        except OSError as error:
            raise DeviceError(f"{self.name}: cannot request lines {d0_line}, {d1_line} of {chip} ({error})") from None

    def _level(self, line: int, active: bool) -> None:
        self._request.set_value(self._lines[line], self._values[active])

    def _close(self) -> None:
        super()._close()
        self._request.release()


class SimWiegandOutput(WiegandOutput):
    """The twin: each pulse kept as (line, start, end) in perf_counter seconds."""

    name = "Wiegand output (simulated)"

    def __init__(self, *, pulse_us: float = 50.0, interval_us: float = 2000.0) -> None:
        super().__init__(pulse_us=pulse_us, interval_us=interval_us)
        self.pulses: list[tuple[int, float, float]] = []
        self._started: float | None = None
        self._lock = threading.Lock()

    def _level(self, line: int, active: bool) -> None:
        now = time.perf_counter()
        if active:
            self._started = now
            return
        with self._lock:
            self.pulses.append((line, self._started or now, now))

    def cards(self) -> list[WiegandCard | None]:
        """The frames on the wire as a controller reads them: split at a quiet gap, decoded (None: damaged)."""
        with self._lock:
            pulses = list(self.pulses)
        frames: list[list[int]] = []
        last_end: float | None = None
        for line, start, end in pulses:
            if last_end is None or start - last_end >= FRAME_GAP_S:
                frames.append([])
            frames[-1].append(line)
            last_end = end
        return [decode(frame) for frame in frames]


def _wait_until(moment: float) -> None:
    remaining = moment - time.perf_counter()
    if remaining > SPIN_S:
        time.sleep(remaining - SPIN_S)
    _spin_until(moment)


def _spin_until(moment: float) -> None:
    while time.perf_counter() < moment:
        pass
