"""The wired inputs, watched on a thread of their own: the fire alarm holds every lane free whatever the frame
loop is doing; the door held open, the tamper switch and the exit button are acted on; the siren sounds for the
configured alarms, for a bounded time.

An input is active when its contact is in the event's state: closed for a normally-open contact, open for a
normally-closed one, so a cut wire on a normally-closed fire input reads as fire. A change counts once it has
held for the input's debounce time.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from drivers.io import DigitalIO
from edge.config import IoConfig
from edge.errors import DeviceError
from edge.events import AlarmKind, Event, EventKind

log = logging.getLogger(__name__)

POLL_S = 0.01  # the fire input reaches the relay within a poll, a debounce and a relay write
Record = Callable[[EventKind, dict[str, Any]], Event | None]


class SiteIO:
    def __init__(self, io: DigitalIO, config: IoConfig, *, hold_free: Callable[[], bool],
                 release_free: Callable[[], None], open_gate: Callable[[], None], record: Record,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.io = io
        self.config = config
        self._hold_free, self._release_free, self._open_gate = hold_free, release_free, open_gate
        self._record = record
        self._clock = clock
        self.active: dict[str, bool] = {str(name): False for name in config.inputs}
        self._candidate: dict[str, tuple[bool, float]] = {}
        self._fire_cleared_at: float | None = None
        self.fire = False  # lanes held free (the fire input active, or cleared less than the hold ago)
        self._door_open_since: float | None = None
        self._door_alarmed = False
        self._siren_until: float | None = None
        self.fault: str | None = None
        self._lock = threading.Lock()  # the board: this thread reads it, the loop sounds the siren
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="site-io", daemon=True)

    def start(self) -> None:
        self.poll()  # a fire already active at start holds the lanes before the first frame
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join(timeout=2)
        self._siren(False)

    def _run(self) -> None:
        while not self._stopping.wait(POLL_S):
            try:
                self.poll()
            except Exception:  # the watcher outlives any one bad poll
                log.exception("site inputs: poll failed")

    def poll(self) -> None:
        now = self._clock()
        try:
            with self._lock:
                contacts = self.io.contacts()
        except DeviceError as error:
            self._board_fault(str(error))
            return
        if self.fault is not None:
            self.fault = None
            self._record(EventKind.status, {"device": "io", "state": "recovered"})
        for name, spec in self.config.inputs.items():
            active = spec.active(contacts.get(name, False))
            if self._settled(name, active, now, spec.debounce_ms / 1000.0):
                self._changed(name, active, now)
        self._keep_fire(now)
        self._watch_door(now)
        if self._siren_until is not None and now >= self._siren_until:
            self._siren(False)

    def _settled(self, name: str, active: bool, now: float, debounce_s: float) -> bool:
        """True once `active` differs from the input's state and has held for the debounce time."""
        if active == self.active[name]:
            self._candidate.pop(name, None)
            return False
        level, since = self._candidate.setdefault(name, (active, now))
        if level != active:
            self._candidate[name] = (active, now)
            return debounce_s <= 0
        if now - since < debounce_s:
            return False
        del self._candidate[name]
        return True

    def _changed(self, name: str, active: bool, now: float) -> None:
        self.active[name] = active
        log.info("input %s %s", name, "active" if active else "clear")
        if name == "fire_alarm":
            self._fire_changed(active, now)
        elif name == "tamper" and active:
            self._alarm(AlarmKind.tamper, "the housing's tamper switch opened")
        elif name == "exit_button" and active:
            self._open_gate()
        elif name == "door_contact":
            self._door_open_since, self._door_alarmed = (now if active else None), False

    def _fire_changed(self, active: bool, now: float) -> None:
        if active:
            self._fire_cleared_at = None
            self.fire = True
            self._hold_free()  # first: the lanes free, then the record
            self._alarm(AlarmKind.fire_alarm, "fire alarm input active: every lane held free")
        else:
            self._fire_cleared_at = now
            self._record(EventKind.status, {"device": "fire_alarm", "state": "cleared",
                                            "hold_s": self.config.fire_release_hold_s})

    def _keep_fire(self, now: float) -> None:
        """While the fire holds, the lanes stay free (a relay write that failed is tried again every poll); the hold
        after the input clears ends the release."""
        if not self.fire:
            return
        if self.active.get("fire_alarm"):
            self._hold_free()
            return
        if self._fire_cleared_at is not None and now - self._fire_cleared_at >= self.config.fire_release_hold_s:
            self.fire = False
            self._fire_cleared_at = None
            self._release_free()
            self._record(EventKind.status, {"device": "fire_alarm", "state": "released"})

    def _watch_door(self, now: float) -> None:
        if self._door_open_since is None or self._door_alarmed:
            return
        if now - self._door_open_since >= self.config.door_held_open_s:
            self._door_alarmed = True
            self._alarm(AlarmKind.door_held_open, f"door open for more than {self.config.door_held_open_s:g} s")

    def _alarm(self, kind: AlarmKind, detail: str) -> None:
        self._record(EventKind.alarm, {"alarm": kind.value, "detail": detail})

    def _board_fault(self, message: str) -> None:
        """The inputs cannot be read: said once; the last known states hold (a fire in force stays in force)."""
        if self.fault is None:
            self.fault = message
            log.error("site inputs unreadable: %s", message)
            self._record(EventKind.alarm, {"alarm": AlarmKind.device_fault.value, "device": "io", "detail": message})
        self._keep_fire(self._clock())

    def alarm_raised(self, event: Event) -> None:
        """A gate listener: an alarm of a configured kind sounds the siren for `siren_max_s`."""
        if event.kind is EventKind.alarm and event.body.get("alarm") in self.config.siren_for:
            self._siren_until = self._clock() + self.config.siren_max_s
            self._siren(True)

    def _siren(self, on: bool) -> None:
        if "siren" not in self.config.outputs:
            return
        if not on:
            self._siren_until = None
        try:
            with self._lock:
                self.io.set("siren", on)
        except DeviceError as error:
            log.error("siren: %s", error)
