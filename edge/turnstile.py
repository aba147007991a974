"""The turnstile controller: pulse the relay, confirm the passage, raise alarms, fail secure.

The daemon's main loop calls `tick()` every frame with the passages the sensor counted, and the
controller acts on its clock. Two things do not wait for the loop: the end of a pulse, and a fire
alarm's hold. A watcher thread owns the relay's off-deadline, so a loop stalled by anything (a slow
verifier, a full disk) never holds the turnstile open; the fire's own poll drives the relay and
reopens a board that failed. The relay is forced off at start and on stop; a relay that fails is
reopened with back-off while the gate stays locked.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from drivers.relay import Relay
from edge.config import FailMode, TurnstileConfig
from edge.errors import DeviceError
from edge.events import AlarmKind, EventKind

log = logging.getLogger(__name__)

Emit = Callable[[EventKind, dict[str, Any]], object]
TAILGATE_WINDOW_S = 3.0  # a passage this soon after a confirmed one is a tailgater, not forced
REFRESH_S = 2.0  # an idle relay is driven off again this often: keeps it off, finds an unplugged board
WATCH_S = 0.005  # how often the pulse watcher reads the clock while a pulse is on


@dataclass
class Opening:
    decision_id: str
    opened_at: float
    deadline: float
    admits: object = None  # who it is for (a resident or a pass), when known


class Turnstile:
    def __init__(self, relay: Relay | None, config: TurnstileConfig, *, clock: Callable[[], float], emit: Emit,
                 relay_factory: Callable[[], Relay] | None = None) -> None:
        self.config = config
        self._relay = relay
        self._factory = relay_factory
        self._clock = clock
        self._emit = emit
        self.on_passed: Callable[[object, str], None] | None = None  # (admits, "in" or "out"): the sensor told the way
        self._off_at: float | None = None
        self._opening: Opening | None = None
        self._last_passage: float | None = None
        self._retry_at = 0.0
        self._retry_delay = 0.5
        self.relay_fault: str | None = None if relay is not None else "relay not connected"
        self.pulses = 0
        self._last_drive = clock()
        self._lock = threading.RLock()  # the relay and its off-deadline, shared with the pulse watcher
        self._pulse_on = threading.Event()
        self._closing = False  # pragma: no mutate (None is as false)
        self._stopping = threading.Event()
        self._watcher: threading.Thread | None = None
        self._watcher_fault: str | None = None
        self._held_free = False  # a fire alarm holds every lane free: the relay stays on until released
        self._held_driven = False  # the relay was driven on for the hold: the fire's poll need not write it again
        self.free_passages = 0  # passages while held free: expected, never an alarm

    @property
    def healthy(self) -> bool:
        return self.relay_fault is None

    @property
    def is_open(self) -> bool:
        return self._off_at is not None or self._held_free

    @property
    def held_free(self) -> bool:
        return self._held_free

    def hold_free(self) -> bool:
        """Any thread: the relay on and kept on (a fire alarm), whatever the frame loop is doing; False when the
        relay could not be driven (the caller raises it again on its next poll). A board that failed is reopened
        here too, on the same back-off: a frame loop stalled during a fire does not keep a replugged board unused."""
        with self._lock:
            if self._held_free and self._held_driven and self.relay_fault is None:
                return True  # held already: the fire's 10 ms poll does not rewrite the board each time
            self._held_free = True
            self._off_at = None
            self._pulse_on.clear()
            if self.relay_fault is not None and not self._closing:  # once stopped, the board stays closed
                self._try_reconnect(self._clock())
            self._held_driven = self._drive(True)
            return self._held_driven

    def release_free(self) -> None:
        """Any thread: back to pulses; the relay rests."""
        with self._lock:
            if not self._held_free:
                return
            self._held_free = self._held_driven = False
            self._drive(False)

    @property
    def awaiting_passage(self) -> bool:
        return self._opening is not None

    def opening_for(self, admits: object) -> str | None:
        """The decision behind an opening for `admits` that still waits for its passage, if any."""
        if admits is None or self._opening is None or self._opening.admits != admits:
            return None
        return self._opening.decision_id

    def start(self) -> None:
        self._drive(self._held_free)  # at rest, unless a fire alarm already holds the lanes free
        self._start_watcher()

    def stop(self) -> None:
        """Relay off (fail-secure) or held on (fail-safe gates, or lanes a fire alarm holds free: a frame loop that
        dies mid-fire does not lock them), then release the board."""
        self._closing = True
        self._stopping.set()
        self._pulse_on.set()
        if self._watcher is not None:
            self._watcher.join(timeout=2)  # pragma: no mutate (the watcher ends within WATCH_S; the bound is a guard)
            self._watcher = None
        with self._lock:
            self._off_at = None
            self._drive(self._held_free or self._fault_state())
            if self._relay is not None:
                self._relay.close()

    def _start_watcher(self) -> None:
        if self._watcher is None and not self._closing:
            self._watcher = threading.Thread(target=self._watch_pulses, name="pulse-watcher",  # pragma: no mutate
                                             daemon=True)
            self._watcher.start()

    def _watch_pulses(self) -> None:
        """Ends each pulse on time on its own thread; faults are handed to the loop (events are the loop's)."""
        while not self._closing:
            self._pulse_on.wait()
            with self._lock:
                if self._off_at is None or self._closing:
                    self._pulse_on.clear()
                    continue
                if self._clock() >= self._off_at:
                    self._end_pulse()
                    continue
            self._stopping.wait(WATCH_S)

    def _end_pulse(self) -> None:
        """Under the lock: relay off now (unless held free); a failure is reported by the next tick."""
        self._off_at = None
        self._pulse_on.clear()
        self._last_drive = self._clock()
        if self._relay is None or self._held_free:
            return
        try:
            self._relay.set(False)
        except DeviceError as error:
            self._watcher_fault = str(error)

    def _fault_state(self) -> bool:
        return self.config.fail_mode is FailMode.safe

    def open(self, decision_id: str, admits: object = None) -> bool:
        """Pulse the relay for one passage (of `admits`, when known); False when the relay could not be driven."""
        now = self._clock()
        self._start_watcher()
        with self._lock:
            if not self._drive(True):
                return False
            self.pulses += 1
            self._off_at = now + self.config.pulse_ms / 1000.0
            self._pulse_on.set()
        if self._opening is not None:
            self._close_opening(passed=False, now=now, note="superseded by a new opening")
        self._opening = Opening(decision_id, now, now + self.config.passage_timeout_s, admits)
        return True

    def tick(self, passages: int = 0, ways: list[str] | tuple[str, ...] = ()) -> None:
        """`ways`: "in" or "out" of the passages, in order, where the sensor tells them."""
        now = self._clock()
        with self._lock:
            if self._off_at is not None and now >= self._off_at:
                self._end_pulse()
            elif self._off_at is None and self.relay_fault is None and now - self._last_drive >= REFRESH_S:
                self._drive(self._held_free)
        if self._watcher_fault is not None:
            message, self._watcher_fault = self._watcher_fault, None
            self._fault(message)
        elif self.relay_fault is not None:
            with self._lock:  # the fire's poll reopens the board too
                self._try_reconnect(now)
        for index in range(passages):
            self._passage(now, ways[index] if index < len(ways) else None)
        if self._opening is not None and now >= self._opening.deadline:
            self._close_opening(passed=False, now=now, note="no passage before the timeout")

    def _passage(self, now: float, way: str | None = None) -> None:
        if self._held_free:
            self.free_passages += 1
            return
        if self._opening is not None:
            if way is not None and self.on_passed is not None:
                self.on_passed(self._opening.admits, way)
            self._close_opening(passed=True, now=now)
            self._last_passage = now
            return
        tailgate = self._last_passage is not None and now - self._last_passage <= TAILGATE_WINDOW_S
        kind = AlarmKind.tailgate if tailgate else AlarmKind.forced_passage
        log.warning("passage with no open decision: %s", kind.value)
        self._emit(EventKind.alarm, {"alarm": kind.value, "detail": "passage with no open decision"})

    def _close_opening(self, *, passed: bool, now: float, note: str = "") -> None:
        opening, self._opening = self._opening, None
        assert opening is not None
        body = {"decision_id": opening.decision_id, "passed": passed,
                "seconds_after_opening": round(now - opening.opened_at, 3)}
        if note:
            body["note"] = note
        self._emit(EventKind.passage, body)

    def _drive(self, on: bool) -> bool:
        self._last_drive = self._clock()
        if self._relay is None:
            return False
        try:
            self._relay.set(on)
        except DeviceError as error:
            self._fault(str(error))
            return False
        return True

    def _fault(self, message: str) -> None:
        if self.relay_fault is None:
            log.error("relay fault: %s; gate %s", message, "held open (fail-safe)" if self._fault_state() else "locked")
            self._emit(EventKind.alarm, {"alarm": AlarmKind.device_fault.value, "device": "relay", "detail": message})
            self._retry_at = self._clock() + self._retry_delay  # an opening tried meanwhile does not put the retry off
        self.relay_fault = message
        self._off_at = None

    def _try_reconnect(self, now: float) -> None:
        if self._factory is None or now < self._retry_at:
            return
        try:
            if self._relay is not None:
                self._relay.close()
            self._relay = self._factory()
            self._relay.set(self._held_free)
        except DeviceError as error:
            self._retry_delay = min(self._retry_delay * 2, 10.0)
            self._retry_at = now + self._retry_delay
            self.relay_fault = str(error)
            return
        log.info("relay back")
        self.relay_fault = None
        self._retry_delay = 0.5
        self._emit(EventKind.status, {"device": "relay", "state": "recovered"})
