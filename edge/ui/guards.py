"""Guards' PINs: stored as scrypt hashes, checked in constant time, locked out after failures."""

from __future__ import annotations

import hmac
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

from edge.passwords import hash_secret
from edge.store import GuardRecord, GuardRecords



def hash_pin(pin: str, salt: bytes | None = None) -> tuple[bytes, bytes]:
    return hash_secret(pin, salt)


def valid_pin_format(pin: str) -> bool:
    return pin.isdigit() and 4 <= len(pin) <= 12


@dataclass
class PinCheck:
    ok: bool
    reason: str = ""  # unknown_guard | locked_out | wrong_pin | busy
    guard_name: str = ""
    lockout_started: bool = False  # this check locked the guard out for its source: worth an event


@dataclass
class _Tries:
    failures: int = 0
    pending: int = 0  # checks under way: a burst of parallel guesses cannot all read the count before it grows
    locked_until: float = 0.0
    lockouts: int = 0  # each lockout lasts twice the one before


SOURCE_FAILURES = 4  # a source's failures over every guard id it tries, times max_failures, lock the source
MAX_LOCKOUT_S = 86400.0
KEPT_SOURCES = 10_000


class GuardBook:
    """The guards of this gate and their PINs: add, remove, check with lockouts.

    Failures are counted per guard id *and source* (the address the guess came from): a guard whose PIN
    someone on the network guesses is locked out for that source only, not at the screen they stand at,
    and their own good login resets only their own source's count. Each lockout of a source lasts twice
    the one before (a four-digit PIN is no longer within reach in a week), and a source that guesses many
    ids is locked out as a source. An unknown id is counted, refused and locked out exactly as a known
    one: the answers do not tell which ids exist. A locked-out check costs no hashing, so a flood of them
    does not slow the guard's own login.
    """

    def __init__(self, store: GuardRecords, *, max_failures: int, lockout_s: float, clock=time.time) -> None:
        self.store = store
        self.max_failures = max_failures
        self.lockout_s = lockout_s
        self.clock = clock
        self._lock = threading.Lock()
        self._tries: OrderedDict[tuple[str | None, str], _Tries] = OrderedDict()

    def add(self, guard_id: str, name: str, pin: str) -> None:
        if not valid_pin_format(pin):
            raise ValueError("pin: 4 to 12 digits")
        pin_hash, salt = hash_pin(pin)
        self.store.set_guard(guard_id, name, pin_hash, salt)

    def get(self, guard_id: str) -> GuardRecord | None:
        return self.store.guard(guard_id)

    def remove(self, guard_id: str) -> bool:
        """The guard's PIN stops working at once; their open sessions end at their next request."""
        return self.store.remove_guard(guard_id)

    def check(self, guard_id: str, pin: str, source: str = "local") -> PinCheck:
        """Check a PIN typed at `source`; refused at once, with no hashing, while that source is locked out."""
        keys = ((guard_id[:64], source), (None, source))
        with self._lock:
            now = self.clock()
            entries = [self._entry(key) for key in keys]
            limits = (self.max_failures, self.max_failures * SOURCE_FAILURES)
            if any(t.locked_until > now or t.failures + t.pending >= limit for t, limit in zip(entries, limits)):
                guard = self.store.guard(guard_id)
                return PinCheck(False, "locked_out", guard.name if guard else "")
            for tries in entries:
                tries.pending += 1
        ok, guard = False, None
        try:
            guard = self.store.guard(guard_id)
            attempt, _ = hash_pin(pin, guard.salt if guard else None)  # the same work for an unknown id
            ok = guard is not None and hmac.compare_digest(attempt, guard.pin_hash)
        finally:
            started = self._settle(entries, limits, ok)
        if ok:
            return PinCheck(True, "", guard.name if guard else "")
        return PinCheck(False, "wrong_pin" if guard else "unknown_guard", guard.name if guard else "",
                        lockout_started=started)

    def _entry(self, key: tuple[str | None, str]) -> _Tries:
        tries = self._tries.get(key)
        if tries is None:
            tries = self._tries[key] = _Tries()
            while len(self._tries) > KEPT_SOURCES:
                self._tries.popitem(last=False)
        self._tries.move_to_end(key)
        return tries

    def _settle(self, entries: list[_Tries], limits: tuple[int, int], ok: bool) -> bool:
        """Count the check's outcome; True if it locked a source out."""
        started = False
        with self._lock:
            now = self.clock()
            for tries, limit in zip(entries, limits):
                tries.pending -= 1
                if ok:
                    tries.failures, tries.lockouts = 0, 0
                    continue
                tries.failures += 1
                if tries.failures >= limit:
                    tries.lockouts += 1
                    tries.locked_until = now + min(MAX_LOCKOUT_S, self.lockout_s * 2 ** (tries.lockouts - 1))
                    tries.failures, started = 0, True
        return started

    def locked_until(self, guard_id: str, source: str = "local") -> float:
        tries = self._tries.get((guard_id[:64], source))
        return tries.locked_until if tries else 0.0
