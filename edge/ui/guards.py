"""Guards' PINs: stored as scrypt hashes, checked in constant time, locked out after failures."""

from __future__ import annotations

import hmac
import threading
import time
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
    reason: str = ""  # unknown_guard | locked_out | wrong_pin
    guard_name: str = ""


class GuardBook:
    """The guards of this gate and their PINs: add, remove, check with lockout."""

    def __init__(self, store: GuardRecords, *, max_failures: int, lockout_s: float, clock=time.time) -> None:
        self.store = store
        self.max_failures = max_failures
        self.lockout_s = lockout_s
        self.clock = clock
        self._lock = threading.Lock()

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

    def check(self, guard_id: str, pin: str) -> PinCheck:
        """One check at a time: a burst of parallel guesses cannot read the failure count before it is written."""
        with self._lock:
            return self._check(guard_id, pin)

    def _check(self, guard_id: str, pin: str) -> PinCheck:
        guard = self.store.guard(guard_id)
        if guard is None:
            hash_pin(pin)  # same work as a real check: no timing hint that the id is unknown
            return PinCheck(False, "unknown_guard")
        if guard.locked_until > self.clock():
            return PinCheck(False, "locked_out", guard.name)
        attempt, _ = hash_pin(pin, guard.salt)
        ok = hmac.compare_digest(attempt, guard.pin_hash)
        self.store.record_pin_attempt(guard_id, ok, max_failures=self.max_failures, lockout_s=self.lockout_s,
                                      now=self.clock())
        return PinCheck(ok, "" if ok else "wrong_pin", guard.name)
