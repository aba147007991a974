"""Each resident's own reading: how far their visits read from the healthy mean, learned as they come and go.

People's inner eye corners stand apart against a clinical thermometer by 0.15-0.35 °C, most of it
their own (the shape of the eye, glasses, how deep-set it is), and healthy people's own normal
temperatures differ too. Against one threshold, a resident whose eye corners read warm is refused
again and again, and nothing the site learns from the crowd changes that. A recognised resident's
estimate is therefore judged against their own past visits as well: the median of how far their
newest `PROFILE_VISITS` visits read above the healthy mean, shrunk towards none as an empirical
Bayes estimate does while it rests on few visits, bounded by `MAX_OFFSET_C`, is taken off their
estimate, and their share of the systematic uncertainty shrinks with it.

What is learned, and what is not:
- only visits of a recognised resident with a trusted canthus estimate of a face judged live;
- not visits reading more than `LEARN_UP_TO_C` above the threshold (a fever never teaches), nor
  those whose fever a guard confirmed with a clinical thermometer (forgotten when the recheck is
  recorded); readings a little above the threshold do teach, or a resident who reads warm would
  only ever teach their cooler days;
- not before screening mode has calibrated the scale (when it is on).
A fever is still a fever: the offset is at most 0.5 °C, the relative rule moves with it, and a
resident whose fever lasts for days teaches nothing above `LEARN_UP_TO_C`.

Stored in the state database per resident (`resident_temperatures`: visit id, time, deviation),
the newest `PROFILE_VISITS` kept, none older than `KEEP_DAYS`, deleted with the resident.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from edge.readings import PERSON_SD_C
from edge.store import Store
from edge.thermal_fusion import TemperatureEstimate

PROFILE_VISITS = 9
MIN_VISITS = 3
MAX_OFFSET_C = 0.5
KEEP_DAYS = 90.0
LEARN_UP_TO_C = 0.4  # above the threshold: higher readings never teach
MAX_LEARN_UNCERTAINTY_C = 0.25  # a visit's measurement uncertainty, at most, to teach
VISIT_SD_FLOOR_C = 0.3  # how much one person's visits scatter at least (their core through the day, the air)


@dataclass(frozen=True)
class PersonalOffset:
    offset_c: float  # taken off the resident's estimate
    visits: int
    uncertainty_c: float  # how well it is known: replaces people's spread in the systematic uncertainty

    def apply(self, estimate: TemperatureEstimate) -> TemperatureEstimate:
        others = max(0.0, estimate.systematic_c ** 2 - PERSON_SD_C ** 2)
        return replace(estimate, temperature_c=estimate.temperature_c - self.offset_c,
                       raw_c=estimate.raw_c - self.offset_c, personal_c=self.offset_c,
                       systematic_c=math.sqrt(others + self.uncertainty_c ** 2))


def personal_offset(deviations: list[float]) -> PersonalOffset | None:
    """The offset a resident's deviations give (newest first), or None on too few."""
    if len(deviations) < MIN_VISITS:
        return None
    values = np.asarray(deviations[:PROFILE_VISITS], dtype=float)  # pragma: no mutate (the store gives floats)
    n = len(values)
    median = float(np.median(values))
    scatter = max(VISIT_SD_FLOOR_C, 1.4826 * float(np.median(np.abs(values - median))))  # robust, as the median
    prior, noise = PERSON_SD_C ** 2, 1.25 ** 2 * scatter ** 2  # the median's variance is about 1.25² the mean's
    shrink = n * prior / (n * prior + noise)
    offset = float(np.clip(shrink * median, -MAX_OFFSET_C, MAX_OFFSET_C))
    return PersonalOffset(offset, n, math.sqrt(prior * noise / (n * prior + noise)))


class ResidentProfiles:
    def __init__(self, store: Store, *, reference_c: float, threshold_c: Callable[[], float],
                 clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.reference_c = reference_c
        self.threshold_c = threshold_c
        self.clock = clock
        self._cache: dict[int, PersonalOffset | None] = {}

    def offset(self, resident_id: int) -> PersonalOffset | None:
        if resident_id not in self._cache:
            since = self.clock() - KEEP_DAYS * 86400.0
            self._cache[resident_id] = personal_offset(self.store.resident_deviations(resident_id, since=since,
                                                                                      limit=PROFILE_VISITS))
        return self._cache[resident_id]

    def learn(self, resident_id: int, visit_id: str, estimate: TemperatureEstimate, *, live: bool | None,
              calibrated: bool) -> bool:
        """A resident's visit has ended: True if it taught their offset."""
        if not live or not calibrated or estimate.kind != "canthus" or estimate.readings < 1:
            return False
        if estimate.uncertainty_c > MAX_LEARN_UNCERTAINTY_C:
            return False
        if estimate.temperature_c > self.threshold_c() + LEARN_UP_TO_C:
            return False
        self.store.add_resident_deviation(resident_id, visit_id, estimate.temperature_c - self.reference_c,
                                          keep=PROFILE_VISITS)
        self._cache.pop(resident_id, None)
        return True

    def forget_visit(self, visit_id: str) -> None:
        """A guard confirmed this visit's fever: it must not teach anyone's normal."""
        if self.store.forget_resident_deviation(visit_id):
            self._cache.clear()
