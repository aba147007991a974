"""Lockouts for anything guessed at a login: counted per name and source, doubling, unknown names alike.

Failures are counted per name *and source* (the address the guess came from): a name someone on
the network guesses at is locked out for that source only, not at the screen its owner stands at,
and the owner's good login resets only their own source's count. Each lockout of a source lasts
twice the one before (a four-digit PIN is no longer within reach in a week), and a source that
guesses many names is locked out as a source. An unknown name is counted, refused and locked out
exactly as a known one, so the answers do not tell which names exist; a locked-out attempt is
refused before any hashing, so a flood of them slows nobody's login.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

SOURCE_FAILURES = 4  # a source's failures over every name it tries, times max_failures, lock the source
MAX_LOCKOUT_S = 86400.0
KEPT = 10_000


@dataclass
class _Tries:
    failures: int = 0
    pending: int = 0  # attempts under way: a burst of parallel guesses cannot all read the count before it grows
    locked_until: float = 0.0
    lockouts: int = 0  # each lockout lasts twice the one before


class Lockouts:
    def __init__(self, *, max_failures: int, lockout_s: float, clock: Callable[[], float] = time.time) -> None:
        self.max_failures = max_failures
        self.lockout_s = lockout_s
        self.clock = clock
        self._lock = threading.Lock()
        self._tries: OrderedDict[tuple[str | None, str], _Tries] = OrderedDict()

    def attempt(self, name: str, source: str, check: Callable[[], bool]) -> tuple[bool | None, bool]:
        """Run `check` (the costly part: hashing) unless `name` or `source` is locked out.
        (True/False: its answer, None: locked out without trying; whether this attempt started a lockout)."""
        keys = ((name[:64], source), (None, source))
        limits = (self.max_failures, self.max_failures * SOURCE_FAILURES)
        with self._lock:
            now = self.clock()
            entries = [self._entry(key) for key in keys]
            if any(t.locked_until > now or t.failures + t.pending >= limit for t, limit in zip(entries, limits)):
                return None, False
            for tries in entries:
                tries.pending += 1
        try:
            ok = check()
        except BaseException:
            # a check that failed to answer is a failure (None reads as False: tested, not mutated)
            self._settle(entries, limits, False)  # pragma: no mutate
            raise
        return ok, self._settle(entries, limits, ok)

    def locked_until(self, name: str, source: str) -> float:
        tries = self._tries.get((name[:64], source))
        return tries.locked_until if tries else 0.0

    def _entry(self, key: tuple[str | None, str]) -> _Tries:
        tries = self._tries.get(key)
        if tries is None:
            tries = self._tries[key] = _Tries()
            while len(self._tries) > KEPT:
                del self._tries[next(iter(self._tries))]  # the least recently tried
        self._tries.move_to_end(key)
        return tries

    def _settle(self, entries: list[_Tries], limits: tuple[int, int], ok: bool) -> bool:
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
