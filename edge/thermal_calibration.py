"""The site's offset, learned from the guards' clinical rechecks.

Screening mode brings the people a gate reads to the healthy mean, which it has to assume. A
guard's recheck with a clinical thermometer (`fever_recheck`, at the touchscreen or with
`gatepost thermal recheck`) is a measurement of the truth: each pairs the gate's estimate of a
visit with a clinical reading. From the newest `window` pairs the gate estimates the offset its
scale needs (the median of clinical minus gate, so one odd pair does not move it), and moves
towards it by at most `max_step_c_per_day` in any 24 hours, never beyond `max_offset_c`. Every
change is a row of its own in the state database: `gatepost thermal calibration` shows the
history, and any change can be reverted. A recheck that disagrees with the gate by more than
`max_disagreement_c` is refused with the reason (a typo, or the wrong visit).

A limit stated plainly: guards recheck the people the gate flagged, and people flagged are more
often those whose eye corners read high. Learned from those alone the offset leans low (the
regression to the mean of a selected sample). The bounded step and the bound on the offset cap
what that can cost; rechecking some people the gate passed keeps the pairs honest.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from edge.config import RecheckLearningConfig
from edge.store import OffsetChange, Recheck
from edge.store.thermal import ThermalRecords

CLINICAL_RANGE_C = (34.0, 43.0)
REFRESH_S = 2.0  # how often the offset in force is read again (another process may have changed it)
DAY_S = 86400.0


class RecheckRefused(ValueError):
    """A recheck that cannot be used: the message names the field and why."""


@dataclass(frozen=True)
class RecheckResult:
    clinical_c: float
    gate_c: float | None  # the visit's estimate; None when the gate had no reading of them
    recheck: Recheck | None  # the pair kept for learning; None without the gate's estimate
    fever_confirmed: bool
    change: OffsetChange | None  # the offset moved because of it, or None


class SiteCalibration:
    """The offset in force (read often, cheaply) and how rechecks change it."""

    def __init__(self, store: ThermalRecords, config: RecheckLearningConfig, *,
                 clock: Callable[[], float] | None = None) -> None:
        """`clock`: the wall clock the history is dated by (default: the store's own)."""
        self.store = store
        self.config = config
        self.clock = clock or store._clock
        self._lock = threading.Lock()
        self._offset = 0.0
        self._uncertainty: float | None = None
        self._read_at = -math.inf

    @property
    def offset_c(self) -> float:
        """The offset every estimate carries now (0 when learning is off)."""
        if not self.config.enabled:
            return 0.0
        self._refresh()
        return self._offset

    @property
    def uncertainty_c(self) -> float | None:
        """How well the offset in force puts the site's people at their clinical temperature, as its pairs measure
        it: the median's noise over the newest `window` pairs, and how far the offset still has to go (the day's
        step holds it back). None while there are fewer than `min_pairs` pairs, or learning is off."""
        if not self.config.enabled:
            return None
        self._refresh()
        return self._uncertainty

    def _refresh(self) -> None:
        now = time.monotonic()
        if now - self._read_at < REFRESH_S:
            return
        with self._lock:
            self._offset = self.store.site_offset()[1]
            pairs = self.store.rechecks(self.config.window)
            if len(pairs) >= self.config.min_pairs:
                asked = np.array([pair.clinical_c - pair.raw_c for pair in pairs])
                noise = 1.25 * float(np.std(asked)) / math.sqrt(len(asked))  # the median's, about 1.25x the mean's
                self._uncertainty = math.hypot(noise, float(np.median(asked)) - self._offset)
            else:
                self._uncertainty = None
            self._read_at = now

    def recheck(self, visit_id: str, clinical_c: float, actor: str, *, threshold_c: float) -> RecheckResult:
        """Record a clinical reading of a visit's person; RecheckRefused (naming the field) when it cannot be used."""
        if not (isinstance(clinical_c, (int, float)) and math.isfinite(clinical_c)
                and CLINICAL_RANGE_C[0] <= clinical_c <= CLINICAL_RANGE_C[1]):
            raise RecheckRefused(f"temperature_c: a clinical reading between {CLINICAL_RANGE_C[0]:g} and "
                                 f"{CLINICAL_RANGE_C[1]:g} °C")
        decision = self.store.decided_visit(visit_id)
        if decision is None:
            raise RecheckRefused(f"visit_id: no visit {visit_id!r} decided in the last 7 days")
        estimate = decision.get("temperature")
        fever = clinical_c > threshold_c
        if not isinstance(estimate, dict) or not isinstance(estimate.get("estimate_c"), (int, float)):
            return RecheckResult(float(clinical_c), None, None, fever, None)  # no reading of theirs: nothing to pair
        gate_c = float(estimate["estimate_c"])
        recheck, change = self.pair(visit_id, gate_c, float(estimate.get("site_offset_c") or 0.0), float(clinical_c),
                                    actor)
        return RecheckResult(float(clinical_c), gate_c, recheck, fever, change)

    def pair(self, visit_id: str, gate_c: float, offset_then: float, clinical_c: float,
             actor: str) -> tuple[Recheck, OffsetChange | None]:
        """Keep one pair (the gate's estimate, which carried `offset_then`, and the clinical reading) and learn from
        it; RecheckRefused when they disagree wildly."""
        if abs(clinical_c - gate_c) > self.config.max_disagreement_c:
            raise RecheckRefused(f"temperature_c: {clinical_c:.1f} °C is {abs(clinical_c - gate_c):.1f} °C from the "
                                 f"gate's {gate_c:.1f} °C (more than {self.config.max_disagreement_c:g} °C): "
                                 "a typo, or another visit?")
        recheck = self.store.add_recheck(visit_id, gate_c, gate_c - offset_then, clinical_c, actor)
        change = self.relearn(actor) if self.config.enabled else None
        self._read_at = -math.inf  # a new pair: the offset's uncertainty moves even where the offset does not
        return recheck, change

    def relearn(self, actor: str) -> OffsetChange | None:
        """Move the offset towards what the newest pairs ask, within the day's step; None if it stays."""
        pairs = self.store.rechecks(self.config.window)
        if len(pairs) < self.config.min_pairs:
            return None
        wanted = float(np.median([pair.clinical_c - pair.raw_c for pair in pairs]))
        wanted = float(np.clip(wanted, -self.config.max_offset_c, self.config.max_offset_c))
        day_ago = self._offset_at(self.clock() - DAY_S)
        step = self.config.max_step_c_per_day
        target = round(float(np.clip(wanted, day_ago - step, day_ago + step)), 3)
        current = self.store.site_offset()[1]
        if abs(target - current) < 0.005:
            return None
        change = self.store.change_offset(target, len(pairs), f"learned from {len(pairs)} rechecks "
                                                              f"(they ask {wanted:+.2f} °C)", actor)
        self._read_at = -math.inf
        return change

    def revert(self, change_id: int, actor: str) -> OffsetChange:
        """Put the offset back to what it was before change `change_id` (itself a change, in the history)."""
        found = next((c for c in self.store.offset_changes() if c.id == change_id), None)
        if found is None:
            raise RecheckRefused(f"change: no offset change {change_id}")
        change = self.store.change_offset(found.previous_c, found.pairs, f"revert of {change_id}", actor)
        self._read_at = -math.inf
        return change

    def _offset_at(self, when: float) -> float:
        """The offset that was in force at `when` (0 before any change)."""
        for change in self.store.offset_changes():
            if change.time <= when:
                return change.offset_c
        return 0.0
