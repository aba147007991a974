"""The face check's operating point: the threshold follows a false-accept target, not a fixed cosine.

A stranger searched against a gallery of T templates is let in when any one score clears the
threshold, so FPIR(t) = 1 - (1 - p(t))^T, with p(t) the share of pairs of *different* people
scoring t or more. The gate measures p on its own population: every template scored against
every other resident's (to the others, each resident is a stranger photographed like them).
The upper tail of those scores is Gaussian-like (on CFP's 12.4 million pairs of different
people, the normal deviate of p is linear in t down to p = 1e-7), so p is fitted through two
tail points of the gate's own scores and extrapolated to the target. Three things can only
raise the threshold: the tenth-highest pair of the gallery (a population with many lookalikes
has a heavy tail no fit should smooth away; a single twin or duplicate enrolment does not, it
is held to a stricter margin instead), strangers' best scores seen through this camera
(runner-up scores of recognised visits) running higher than the fit predicts, and, while the
gallery is too small to measure, the embedder's shipped default law.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from statistics import NormalDist

import numpy as np


BINS = np.linspace(-1.0, 1.0, 4001)  # histogram of pair scores, 0.0005 wide
UPPER_SHARE = 1e-2  # the two tail points the law is fitted through
LOWER_SHARE_MIN = 1e-3
TAIL_PAIRS = 100  # pairs above the lower tail point, at least
MIN_PAIRS = 10_000  # fewer pairs of different people than this: the shipped default law is used
KTH_PAIR = 10  # the threshold never sits below the 10th-highest pair of different residents
MIN_VISITS = 30
_NORMAL = NormalDist()


@dataclass(frozen=True)
class PairLaw:
    """Share of different-people pairs scoring t or more: normal deviate linear in t through two points."""

    t1: float
    share1: float
    t2: float
    share2: float

    @property
    def _slope(self) -> float:
        return (_deviate(self.share2) - _deviate(self.share1)) / max(self.t2 - self.t1, 1e-6)

    def pair_share(self, t: float) -> float:
        z = _deviate(self.share1) + (t - self.t1) * self._slope
        return 0.5 * math.erfc(z / math.sqrt(2.0))

    def score_at(self, share: float) -> float:
        return self.t1 + (_deviate(share) - _deviate(self.share1)) / self._slope

    def fpir(self, t: float, templates: int) -> float:
        return -math.expm1(templates * math.log1p(-min(self.pair_share(t), 1 - 1e-12)))

    def threshold_for(self, fpir: float, templates: int) -> float:
        return self.score_at(-math.expm1(math.log1p(-fpir) / max(1, templates)))

    def best_of(self, comparisons: int, quantile: float = 0.5) -> float:
        """The score a stranger's best of `comparisons` reaches with probability 1 - quantile."""
        return self.score_at(-math.expm1(math.log(quantile) / max(1, comparisons)))


def _deviate(share: float) -> float:
    return _NORMAL.inv_cdf(1.0 - min(max(share, 1e-15), 0.5))


@dataclass(frozen=True)
class PairScores:
    """What one pass over all template pairs of different residents tells."""

    owners: np.ndarray  # owner of each positive template
    best: np.ndarray  # each template's best score against any other resident
    closest: np.ndarray  # ... and whose template that was
    histogram: np.ndarray  # counts of pair scores per BINS interval (each pair once)
    top: np.ndarray  # the highest pair scores, highest first (up to KTH_PAIR)

    @property
    def pairs(self) -> int:
        return int(self.histogram.sum())

    def share_at_least(self, t: float) -> float:
        index = int(np.searchsorted(BINS, t, side="right")) - 1
        return float(self.histogram[max(index, 0):].sum() / max(1, self.pairs))

    def score_at(self, share: float) -> float:
        """The score that `share` of the pairs reach (bin resolution)."""
        above = np.cumsum(self.histogram[::-1])[::-1]
        index = int(np.flatnonzero(above >= share * self.pairs).max())
        return float(BINS[index])

    @property
    def lower_share(self) -> float:
        """The deepest tail point the gallery can place: TAIL_PAIRS pairs above it, never deeper than LOWER_SHARE_MIN."""
        return max(LOWER_SHARE_MIN, TAIL_PAIRS / max(1, self.pairs))

    @property
    def trust(self) -> float:
        """How far the gallery's own law is trusted over the shipped one: 0 while its two tail points nearly
        coincide (10,000 pairs), 1 once they are a decade apart (100,000 pairs), in between by the decades."""
        if self.pairs < MIN_PAIRS:
            return 0.0
        return float(np.clip(math.log10(UPPER_SHARE / self.lower_share), 0.0, 1.0))

    def law(self, *, lower_scale: float = 1.0) -> PairLaw | None:
        """The tail law through the 1 % point and the lowest point with TAIL_PAIRS pairs above; None if too few.
        `lower_scale` moves the lower point's share (for the estimate's range: its count is Poisson)."""
        if self.pairs < MIN_PAIRS:
            return None
        t1, t2 = self.score_at(UPPER_SHARE), self.score_at(self.lower_share)
        if t2 <= t1:
            return None
        return PairLaw(t1, self.share_at_least(t1), t2, self.share_at_least(t2) * lower_scale)


@dataclass(frozen=True)
class OperatingPoint:
    """The threshold in use, why, and what share of strangers it is estimated to let in (with a range)."""

    threshold: float
    estimated_fpir: float  # at `threshold`, from the law in use
    target_fpir: float
    residents: int
    templates: int
    source: str  # what set the threshold: default | gallery | blended | lookalikes | visits | fixed
    pairs: int  # pairs of different residents behind the gallery law (0: not enough)
    visit_samples: int
    fpir_low: float = float("nan")  # the estimate's range: the laws it was blended from, and the tail's
    fpir_high: float = float("nan")  # counting error (two standard errors of the lower tail point)
    gallery_weight: float = 0.0  # how far the gallery's own law was trusted over the shipped one

    def as_dict(self) -> dict:
        return {key: (None if math.isnan(value) else round(value, 6)) if isinstance(value, float) else value
                for key, value in asdict(self).items()}


def operating_point(scores: PairScores, *, target_fpir: float, default: PairLaw,
                    visit_scores: list[tuple[float, int]] | None = None) -> OperatingPoint:
    """The threshold meeting `target_fpir` for the gallery `scores` describe (edge/face/pair_statistics.py);
    `visit_scores` are (score, residents then).

    The shipped law hands over to the gallery's own by degrees (`PairScores.trust`): a threshold that
    jumped where the gallery first counted enough pairs swung 0.46-0.57 between draws of one size."""
    residents = int(len(np.unique(scores.owners)))
    templates = max(1, len(scores.owners))
    law = scores.law()
    weight = scores.trust if law is not None else 0.0
    laws = [default] + ([law] if law is not None else [])
    threshold = (1.0 - weight) * default.threshold_for(target_fpir, templates)
    if law is not None:
        threshold += weight * law.threshold_for(target_fpir, templates)
    source = "default" if weight == 0.0 else ("gallery" if weight == 1.0 else "blended")
    derived = threshold
    if law is not None and len(scores.top) >= KTH_PAIR and scores.top[KTH_PAIR - 1] > threshold:
        threshold, source = float(scores.top[KTH_PAIR - 1]), "lookalikes"
    used = law if law is not None else default  # the gallery's own law describes this population best
    visits = [(s, n) for s, n in (visit_scores or []) if n >= 2]
    if len(visits) >= MIN_VISITS:
        shift = camera_shift(visits, used, templates / max(1, residents))
        if shift > 0 and derived + shift > threshold:
            threshold, source = derived + shift, "visits"
    estimates = [candidate.fpir(threshold, templates) for candidate in laws]
    if law is not None:
        tail = 2.0 / math.sqrt(TAIL_PAIRS)  # the lower point's count is Poisson: two standard errors either way
        estimates += [widened.fpir(threshold, templates) for widened in
                      (scores.law(lower_scale=1.0 - tail), scores.law(lower_scale=1.0 + tail)) if widened is not None]
    return OperatingPoint(threshold, used.fpir(threshold, templates), target_fpir, residents, templates, source,
                          scores.pairs if law is not None else 0, len(visits), min(estimates), max(estimates),
                          round(weight, 3))


def camera_shift(visits: list[tuple[float, int]], law: PairLaw, templates_per_resident: float) -> float:
    """How much higher strangers' best scores run through this camera than the law predicts (median)."""
    excess = [score - law.best_of(int(round((residents - 1) * templates_per_resident)))
              for score, residents in visits]
    return float(np.median(excess))


def fixed(threshold: float, residents: int) -> OperatingPoint:
    """An operating point set by hand (`face.match_threshold`): nothing estimated."""
    return OperatingPoint(threshold, float("nan"), float("nan"), residents, 0, "fixed", 0, 0)
