"""1:N search of the gallery: the best resident must clear the threshold and beat the runner-up.

The threshold comes from the gallery's operating point (see operating_point.py). A pair of
residents who look alike is held to a stricter margin. One frame is evidence, not a verdict:
`verdict` grants a resident only on agreeing frames, or on one frame far above the threshold.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from edge.face.operating_point import OperatingPoint, fixed
from edge.store import Gallery

SHORTLIST = 64  # templates examined per probe after the matrix product
LEARNED_SLACK = 0.1  # a learned template vouches for a resident only this far below what their enrolment photos say


@dataclass(frozen=True)
class Match:
    resident_id: int | None  # None: unknown
    name: str | None
    similarity: float  # best resident's score
    runner_up: float  # second-best resident's score
    reason: str  # why unknown, or "match"
    threshold: float = 0.0  # the threshold in force when this frame was searched
    frames: int = 1  # frames behind a verdict
    settled: bool = True  # False while a verdict waits for an agreeing frame
    residents: int = 0  # residents in the gallery searched
    masked: bool = False  # the face wore a mask: searched at the stricter threshold
    unit: str | None = None  # the resident's unit, for the decision's record
    group: str | None = None  # the resident's access group (checks.schedule)

    @property
    def known(self) -> bool:
        return self.resident_id is not None


@dataclass(frozen=True)
class Lookalikes:
    """Pairs of residents who score above the threshold against each other, with that score."""

    pairs: dict[frozenset[int], float] = field(default_factory=dict)

    def __contains__(self, pair: frozenset[int]) -> bool:
        return pair in self.pairs


class Matcher:
    """Searches one gallery at one operating point; replaced whole when either changes."""

    def __init__(self, gallery: Gallery, *, point: OperatingPoint | None = None, threshold: float | None = None,
                 margin: float, lookalike_margin: float | None = None,
                 lookalikes: Lookalikes | None = None) -> None:
        if point is None:
            point = fixed(0.42 if threshold is None else threshold, len(set(gallery.owners.tolist())))
        self.point = point
        self.threshold = point.threshold
        self.margin = margin
        self.lookalike_margin = margin if lookalike_margin is None else max(margin, lookalike_margin)
        self.lookalikes = lookalikes or Lookalikes()
        self.gallery = gallery
        positive = ~gallery.negative
        self._embeddings = np.ascontiguousarray(gallery.embeddings[positive])
        self._owners = gallery.owners[positive]
        learned = gallery.adaptive[positive] if gallery.adaptive is not None else np.zeros(len(self._owners), bool)
        self._learned = learned if learned.any() else None
        self.residents = len(np.unique(self._owners))
        self._neg_embeddings = gallery.embeddings[gallery.negative] if gallery.negative.any() else None
        self._neg_owners = gallery.owners[gallery.negative]

    @property
    def version(self) -> int:
        return self.gallery.version

    def with_gallery(self, gallery: Gallery) -> "Matcher":
        """The same operating point over a changed gallery, until the follower derives a new one."""
        return Matcher(gallery, point=self.point, margin=self.margin, lookalike_margin=self.lookalike_margin,
                       lookalikes=self.lookalikes)

    def scores_by_resident(self, embedding: np.ndarray) -> dict[int, float]:
        """Best score of each resident among the shortlist, highest first."""
        if not len(self._owners):
            return {}
        return self._by_resident(self._embeddings @ embedding)

    def _by_resident(self, scores: np.ndarray) -> dict[int, float]:
        k = min(SHORTLIST, len(scores))
        shortlist = np.argpartition(-scores, k - 1)[:k]
        best_of: dict[int, float] = {}
        for index in shortlist[np.argsort(-scores[shortlist])]:
            owner = int(self._owners[index])
            if owner not in best_of:
                best_of[owner] = float(scores[index])
        return best_of

    def search(self, embedding: np.ndarray, *, stricter_by: float = 0.0) -> Match:
        """The resident this face is, or why nobody; `stricter_by`: raise the threshold (a masked face)."""
        threshold = self.threshold + max(0.0, stricter_by)
        masked = stricter_by > 0.0
        if not len(self._owners):
            return Match(None, None, 0.0, 0.0, "gallery empty", threshold, masked=masked)
        scores = self._embeddings @ embedding
        best_of = self._by_resident(scores)
        excluded = self._excluded(embedding, best_of)
        ranked = sorted(((s, o) for o, s in best_of.items() if o not in excluded), reverse=True)
        if not ranked:
            return Match(None, None, 0.0, 0.0, "marked not this person", threshold, masked=masked)
        best, owner = ranked[0]
        runner_up = ranked[1][0] if len(ranked) > 1 else -1.0
        residents = self.residents
        if best < threshold:
            return Match(None, None, best, runner_up, "below threshold", threshold, residents=residents, masked=masked)
        if self._learned is not None and self._enrolled_score(scores, owner) < threshold - LEARNED_SLACK:
            # only a template learned from visits vouches: a face far from the enrolment photos is not them
            return Match(None, None, best, runner_up, "only a learned template agrees", threshold,
                         residents=residents, masked=masked)
        margin = self.margin
        if len(ranked) > 1 and frozenset((owner, ranked[1][1])) in self.lookalikes:
            margin = self.lookalike_margin
        if best - runner_up < margin:
            return Match(None, None, best, runner_up, "ambiguous between residents", threshold,
                         residents=residents, masked=masked)
        return Match(owner, self.gallery.names.get(owner), best, runner_up, "match", threshold,
                     residents=residents, masked=masked, unit=self.gallery.units.get(owner),
                     group=self.gallery.groups.get(owner))

    def _enrolled_score(self, scores: np.ndarray, owner: int) -> float:
        enrolled = (self._owners == owner) & ~self._learned  # type: ignore[operator]
        return float(scores[enrolled].max()) if enrolled.any() else -1.0

    def _excluded(self, embedding: np.ndarray, best_of: dict[int, float]) -> set[int]:
        """Residents for whom this face is closer to a "not this person" template than to their own."""
        if self._neg_embeddings is None:
            return set()
        scores = self._neg_embeddings @ embedding
        excluded = set()
        for score, owner in zip(scores, self._neg_owners):
            own = best_of.get(int(owner))
            if own is not None and score >= own:
                excluded.add(int(owner))
        return excluded


def verdict(frames: list[Match], *, evidence_frames: int, single_frame_margin: float) -> Match:
    """What a visit's frames say together: a resident only on agreeing evidence, never one borderline frame."""
    known = [m for m in frames if m.known]
    if not known:
        return max(frames, key=lambda m: m.similarity)
    if len({m.resident_id for m in known}) > 1:
        best = max(known, key=lambda m: m.similarity)
        return Match(None, None, best.similarity, best.runner_up, "frames name different residents",
                     best.threshold, len(frames))
    best = max(known, key=lambda m: m.similarity)
    if len(known) >= evidence_frames or best.similarity >= best.threshold + single_frame_margin:
        return Match(best.resident_id, best.name, best.similarity, best.runner_up, "match", best.threshold,
                     len(known), residents=best.residents, unit=best.unit, group=best.group)
    return Match(None, None, best.similarity, best.runner_up, "awaiting an agreeing frame", best.threshold,
                 len(known), settled=False)
