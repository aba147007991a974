"""Wiegand output: the gate sends a granted person's number to an access controller already on site.

A frame (drivers/wiegand.py) goes out as one low pulse per bit, on D0 for a 0 and on D1 for a 1,
`pulse_us` wide and `interval_us` from the start of one to the start of the next (SIA AC-01:
20-100 µs wide, 200 µs to 20 ms apart; controllers commonly expect 50 µs and 1-2 ms).

The wire is driven by a small process of its own (the "wire"), so the gate's threads, which share
one interpreter lock, never hold a pulse up; it asks for real-time scheduling (SCHED_FIFO) where
it may (root, or CAP_SYS_NICE under systemd) and runs without it elsewhere. The pulse is timed by
spinning on the clock (sleeping cannot hit 50 µs), the gap between pulses by sleeping most of it.
Frames are handed to it from a thread, one after another, so the frame loop never waits for the
26-70 ms a frame takes.

The twin drives nothing: the wire keeps each pulse's line, start and end (the system's monotonic
clock, the same in every process), so the timing this code achieves can be measured
(bench/wiegand_out.py) and the frames read back.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import queue
import threading
import time
from typing import Any

from drivers.base import Device
from drivers.wiegand import FRAME_GAP_S, WiegandCard, decode
from edge.errors import DeviceError

log = logging.getLogger(__name__)

FRAME_QUIET_S = 4 * FRAME_GAP_S  # after a frame the lines stay quiet this long: the controller sees it end
MIN_INTERVAL_S = 0.0002  # the shortest gap the spec allows between two bits
SPIN_S = 0.0004  # the last part of a gap is spun, not slept: a sleep overshoots by tens of µs or more
MAX_WAITING = 32  # frames waiting to go out; more are dropped and counted (a controller can take ~15 a second)
START_TIMEOUT_S = 10.0
FRAME_TIMEOUT_S = 5.0

Pulse = tuple[int, float, float]  # (line: 0 for D0, 1 for D1; start; end), perf_counter seconds


class WiegandOutput(Device):
    name = "Wiegand output"
    kind = ""  # the wire's lines: "gpio" or "sim"

    def __init__(self, *, pulse_us: float = 50.0, interval_us: float = 2000.0, realtime: bool = True,
                 **lines: Any) -> None:
        """`realtime`: ask for SCHED_FIFO for the wire (granted or not: `self.realtime` says)."""
        super().__init__()
        self.pulse_s = pulse_us / 1e6
        self.interval_s = interval_us / 1e6
        self._frames: queue.Queue[list[int] | None] = queue.Queue(maxsize=MAX_WAITING)
        self.sent = 0
        self.dropped = 0
        self.pulses: list[Pulse] = []  # what the wire reports back (the twin's pulses; nothing from real lines)
        self._lock = threading.Lock()
        context = multiprocessing.get_context("spawn")  # never fork a process that holds threads and locks
        self._conn, child = context.Pipe()
        self._wire = context.Process(target=_wire_main, name="gatepost-wiegand-wire", daemon=True,
                                     args=(child, self.kind, lines, self.pulse_s, self.interval_s, realtime))
        self._wire.start()
        child.close()
        if not self._conn.poll(START_TIMEOUT_S):
            self._wire.kill()
            raise DeviceError(f"{self.name}: the wire process did not start")
        error, self.realtime = self._conn.recv()
        if error:
            self._wire.join(timeout=2.0)
            raise DeviceError(f"{self.name}: {error}")
        self._thread = threading.Thread(target=self._run, name="wiegand-out", daemon=True)
        self._thread.start()

    def send(self, frame: list[int]) -> bool:
        """Queue a frame; never blocks. False (counted) when too many are waiting."""
        self._check_open()
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
            time.sleep(0.01)
        return not self._frames.unfinished_tasks

    def _run(self) -> None:
        while True:
            frame = self._frames.get()
            try:
                if frame is None:
                    return
                self._conn.send(frame)
                if not self._conn.poll(FRAME_TIMEOUT_S):
                    raise DeviceError(f"{self.name}: the wire process did not answer")
                pulses = self._conn.recv()
                with self._lock:
                    self.pulses.extend(pulses)
                self.sent += 1
            except (DeviceError, OSError, EOFError):  # the next frame tries again; the log says why
                log.exception("%s: a frame could not be sent", self.name)
            finally:
                self._frames.task_done()

    def cards(self) -> list[WiegandCard | None]:
        """The twin's frames on the wire as a controller reads them: split at a quiet gap, decoded (None: damaged)."""
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

    def _close(self) -> None:
        self.wait_idle(2.0)
        self._frames.put(None)
        self._thread.join(timeout=2.0)
        try:
            self._conn.send(None)
        except OSError:
            pass
        self._wire.join(timeout=2.0)
        if self._wire.is_alive():
            self._wire.kill()
        self._conn.close()


class GpioWiegandOutput(WiegandOutput):
    """D0 and D1 on two GPIO lines through libgpiod, driven low (active) for each bit; the lines go to the
    controller's reader input through an open-collector or level-shifting stage (docs/wiring.md)."""

    name = "Wiegand output (GPIO)"
    kind = "gpio"

    def __init__(self, *, chip: str, d0_line: int, d1_line: int, pulse_us: float = 50.0,
                 interval_us: float = 2000.0, realtime: bool = True) -> None:
        super().__init__(pulse_us=pulse_us, interval_us=interval_us, realtime=realtime, chip=chip, d0_line=d0_line,
                         d1_line=d1_line)


class SimWiegandOutput(WiegandOutput):
    """The twin: each pulse kept as (line, start, end) in perf_counter seconds (`pulses`, `cards()`)."""

    name = "Wiegand output (simulated)"
    kind = "sim"


# the wire (its own process)

class _SimLines:
    def __init__(self) -> None:
        self.pulses: list[Pulse] = []
        self._started = 0.0

    def level(self, line: int, active: bool) -> None:
        now = time.perf_counter()
        if active:
            self._started = now
        else:
            self.pulses.append((line, self._started, now))

    def take(self) -> list[Pulse]:
        pulses, self.pulses = self.pulses, []
        return pulses

    def release(self) -> None:
        pass


class _GpioLines:
    def __init__(self, *, chip: str, d0_line: int, d1_line: int) -> None:
        try:
            import gpiod
            from gpiod.line import Direction, Value
        except ImportError:
            raise DeviceError("the gpiod package is not installed (pip install gpiod)") from None
        self._values = (Value.INACTIVE, Value.ACTIVE)
        self._lines = (d0_line, d1_line)
        try:
            self._request = gpiod.request_lines(
                chip, consumer="gatepost-wiegand-out",
                config={(d0_line, d1_line): gpiod.LineSettings(direction=Direction.OUTPUT, active_low=True,
                                                               output_value=Value.INACTIVE)})
        except OSError as error:
            raise DeviceError(f"cannot request lines {d0_line}, {d1_line} of {chip} ({error})") from None

    def level(self, line: int, active: bool) -> None:
        self._request.set_value(self._lines[line], self._values[active])

    def take(self) -> list[Pulse]:
        return []

    def release(self) -> None:
        self._request.release()


def _wire_main(conn, kind: str, options: dict, pulse_s: float, interval_s: float,  # noqa: ANN001
               realtime: bool) -> None:
    granted = False
    if realtime:
        try:
            os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(10))  # the pulse's timing before anything else
            granted = True
        except (AttributeError, OSError):
            pass  # not permitted here: ordinary scheduling, in a process of its own all the same
    try:
        lines = _GpioLines(**options) if kind == "gpio" else _SimLines()
    except DeviceError as error:
        conn.send((str(error), granted))
        return
    conn.send(("", granted))
    try:
        while True:
            frame = conn.recv()
            if frame is None:
                return
            _send_frame(lines, frame, pulse_s, interval_s)
            conn.send(lines.take())
    except (EOFError, OSError):
        return  # the gate has gone
    finally:
        lines.release()


def _send_frame(lines: _SimLines | _GpioLines, frame: list[int], pulse_s: float, interval_s: float) -> None:
    start = time.perf_counter()
    shortest = max(MIN_INTERVAL_S, interval_s / 2)
    previous = -1.0
    for index, bit in enumerate(frame):
        # on the planned beat; after a late bit (the process held up), never sooner than `shortest` after it
        begin = max(start + index * interval_s, previous + shortest)
        _wait_until(begin)
        previous = time.perf_counter()
        lines.level(bit, True)
        _spin_until(time.perf_counter() + pulse_s)  # from the edge itself: a late start never shortens it
        lines.level(bit, False)
    _wait_until(time.perf_counter() + FRAME_QUIET_S)


def _wait_until(moment: float) -> None:
    remaining = moment - time.perf_counter()
    if remaining > SPIN_S:
        time.sleep(remaining - SPIN_S)
    _spin_until(moment)


def _spin_until(moment: float) -> None:
    while time.perf_counter() < moment:
        pass
