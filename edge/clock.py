"""The gate's idea of the date: the system clock, never earlier than what the gate knows has happened.

A Raspberry Pi has no battery clock: booted without a network, it starts from the last time it
saved, days behind, and a pass that expired yesterday would look valid. The gate knows better
in two ways: the newest event it has recorded itself (the clock can never be earlier than that),
and times signed by someone else (a resident record's version, a certificate's issue time). The
date used to judge validity windows is the latest of the three, so a clock that went back cannot
make an expired code valid again; a time counts only up to `MAX_EVIDENCE_AHEAD_S` ahead (beyond
that the clock that signed or recorded it was the wrong one, and trusting it would expire every
pass). The warnings say what is implausible:
no NTP synchronisation, or a clock behind what the gate has seen.
"""

from __future__ import annotations

import ctypes
import logging
import threading
import time
from collections.abc import Callable

log = logging.getLogger(__name__)

BEHIND_TOLERANCE_S = 300.0  # a clock this far behind what the gate has seen is "behind"
MAX_EVIDENCE_AHEAD_S = 7 * 86400.0  # a signed time further ahead moves nothing (and is reported)
TIME_ERROR = 5  # adjtimex(2): the clock is not synchronised
SYNC_CHECK_EVERY_S = 60.0


def ntp_synchronised() -> bool | None:
    """Whether the kernel's clock is disciplined by NTP (adjtimex's state), None where it cannot be asked. One
    system call on the C library already loaded (`ctypes.util.find_library` would spawn processes: it stalled the
    frame loop for a few hundred milliseconds)."""
    try:
        # the call's own arguments (errno kept, a buffer larger than the 208-byte struct timex; modes 0 reads only):
        # no test here can know the kernel's answer apart from this call
        adjtimex = ctypes.CDLL(None, use_errno=True).adjtimex  # pragma: no mutate
        state = adjtimex(ctypes.create_string_buffer(512))  # pragma: no mutate
    except (OSError, AttributeError):
        return None
    return synchronised_from(state)


def synchronised_from(state: int) -> bool | None:
    """Whether adjtimex(2)'s answer says synchronised: an error (negative) says nothing, TIME_ERROR says no."""
    if state < 0:
        return None
    return state != TIME_ERROR


class GateClock:
    def __init__(self, *, system: Callable[[], float] = time.time,
                 synchronised: Callable[[], bool | None] = ntp_synchronised) -> None:
        self._system = system
        self._synchronised = synchronised
        self._lock = threading.Lock()
        self._recorded = 0.0  # the newest time the gate recorded an event at
        self._signed = 0.0  # pragma: no mutate (the newest time someone signed, within MAX_EVIDENCE_AHEAD_S; any before the first record reads alike)
        self._signed_by = ""
        self._ignored_ahead = 0
        self._sync: bool | None = None
        self._sync_checked = -SYNC_CHECK_EVERY_S  # pragma: no mutate (long before now, or after it: the first call asks)

    def recorded(self, at: float) -> None:
        """The gate recorded something at `at` (at start: its newest stored event). A time too far ahead (a clock
        that once jumped forward) moves nothing, as with signed times."""
        if at > self._system() + MAX_EVIDENCE_AHEAD_S:
            with self._lock:
                self._ignored_ahead += 1
            return
        with self._lock:
            self._recorded = max(self._recorded, at)

    def signed(self, at: float, by: str) -> None:
        """Someone signed a time (a record's version, a certificate's issue time)."""
        system = self._system()
        with self._lock:
            if at > system + MAX_EVIDENCE_AHEAD_S:
                self._ignored_ahead += 1
                return
            if at > self._signed:
                self._signed, self._signed_by = at, by
        if at > system + BEHIND_TOLERANCE_S:  # pragma: no mutate (it decides only a line of the log)
            log.warning("clock: %s signed a time %.0f s ahead of this gate's clock", by, at - system)

    def now(self) -> float:
        """The date to judge validity windows by: never earlier than what the gate has seen."""
        system = self._system()
        with self._lock:
            return max(system, self._recorded, self._signed)

    def warnings(self) -> list[str]:
        """Machine codes: `clock_unsynchronised`, `clock_behind`."""
        codes = []
        system = self._system()
        if system - self._sync_checked >= SYNC_CHECK_EVERY_S or system < self._sync_checked:
            self._sync, self._sync_checked = self._synchronised(), system
        if self._sync is False:
            codes.append("clock_unsynchronised")
        if self.behind_s() > BEHIND_TOLERANCE_S:
            codes.append("clock_behind")
        return codes

    def behind_s(self) -> float:
        with self._lock:
            return max(self._recorded, self._signed) - self._system()

    def as_dict(self) -> dict:
        with self._lock:
            seen = max(self._recorded, self._signed)
            by = self._signed_by if self._signed >= self._recorded else "this gate's own events"
        return {"behind_s": round(max(0.0, seen - self._system()), 1), "newest_seen_by": by,
                "synchronised": self._sync, "times_too_far_ahead": self._ignored_ahead}
