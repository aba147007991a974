"""What the frame loop does now and then rather than per frame: systemd's watchdog, and pruning what is kept
only for a while (delivered events, residents' temperature deviations)."""

from __future__ import annotations

import time
from collections.abc import Callable

from edge.sdnotify import Notifier
from edge.store import Store
from edge.thermal_profiles import KEEP_DAYS

WATCHDOG_EVERY_S = 1.0
PRUNE_EVERY_S = 3600.0
EXPIRE_EVERY_S = 10.0  # visitors enrolled for a visit are removed this soon after it ends


class Upkeep:
    def __init__(self, store: Store, notifier: Notifier, *, retention_days: Callable[[], float],
                 safely: Callable[[Callable[[], object]], None],
                 on_expired: Callable[[int, str], object] | None = None) -> None:
        """`on_expired(resident_id, name)`: a visitor enrolled for a visit that has ended was removed."""
        self.store = store
        self.notifier = notifier
        self.retention_days = retention_days
        self.safely = safely
        self._last_watchdog = 0.0
        self._last_prune = 0.0
        self._last_expiry = 0.0
        self.on_expired = on_expired

    def tick(self, now: float) -> None:
        """`now` on the gate's clock; pruning goes by the wall's."""
        if now - self._last_watchdog >= WATCHDOG_EVERY_S or now < self._last_watchdog:
            self._last_watchdog = now
            self.notifier.watchdog()
        wall = time.time()
        if wall - self._last_expiry >= EXPIRE_EVERY_S:
            self._last_expiry = wall
            self.safely(lambda: self._expire(wall))
        if wall - self._last_prune >= PRUNE_EVERY_S:
            self._last_prune = wall
            cutoff = wall - self.retention_days() * 86400
            self.safely(lambda: self.store.prune_events(cutoff))
            self.safely(lambda: self.store.prune_resident_deviations(wall - KEEP_DAYS * 86400))

    def _expire(self, wall: float) -> None:
        for resident_id, name in self.store.expired(wall):
            if self.store.remove_resident(resident_id) and self.on_expired is not None:
                self.on_expired(resident_id, name)
