"""Guards' PINs: stored as scrypt hashes, checked in constant time, locked out after failures."""

from __future__ import annotations

import hmac
import time
from dataclasses import dataclass

from edge.lockouts import Lockouts
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
    pin_hash: bytes = b""  # of the PIN that was right: a session opened on it ends when the PIN changes


class GuardBook:
    """The guards of this gate and their PINs: add, remove, check with lockouts (edge/lockouts.py: per guard id and
    source, doubling, unknown ids alike)."""

    def __init__(self, store: GuardRecords, *, max_failures: int, lockout_s: float, clock=time.time) -> None:
        self.store = store
        self.lockouts = Lockouts(max_failures=max_failures, lockout_s=lockout_s, clock=clock)

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
        guard = self.store.guard(guard_id)

        def matches() -> bool:
            attempt, _ = hash_pin(pin, guard.salt if guard else None)  # the same work for an unknown id
            return guard is not None and hmac.compare_digest(attempt, guard.pin_hash)

        ok, started = self.lockouts.attempt(guard_id, source, matches)
        name = guard.name if guard else ""
        if ok is None:
            return PinCheck(False, "locked_out", name)
        if ok and guard is not None:  # a right PIN is always a known guard's
            return PinCheck(True, "", name, pin_hash=guard.pin_hash)
        return PinCheck(False, "wrong_pin" if guard else "unknown_guard", name, lockout_started=started)

    def locked_until(self, guard_id: str, source: str = "local") -> float:
        return self.lockouts.locked_until(guard_id, source)
