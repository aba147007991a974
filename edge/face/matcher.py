"""1:N search of the gallery: best resident must clear the threshold and beat the runner-up."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edge.store import Gallery

SHORTLIST = 64  # templates examined per probe after the matrix product


@dataclass(frozen=True)
class Match:
    resident_id: int | None  # None: unknown
    name: str | None
    similarity: float  # best resident's score
    runner_up: float  # second-best resident's score
    reason: str  # why unknown, or "match"

    @property
    def known(self) -> bool:
        return self.resident_id is not None


class Matcher:
    def __init__(self, gallery: Gallery, *, threshold: float, margin: float) -> None:
        self.threshold = threshold
        self.margin = margin
        self.load(gallery)

    def load(self, gallery: Gallery) -> None:
        self.gallery = gallery
        positive = ~gallery.negative
        self._embeddings = np.ascontiguousarray(gallery.embeddings[positive]) if len(gallery.owners) else None
        self._owners = gallery.owners[positive]
        self._neg_embeddings = gallery.embeddings[gallery.negative] if gallery.negative.any() else None
        self._neg_owners = gallery.owners[gallery.negative]

    @property
    def version(self) -> int:
        return self.gallery.version

    def search(self, embedding: np.ndarray) -> Match:
        if self._embeddings is None or not len(self._owners):
            return Match(None, None, 0.0, 0.0, "gallery empty")
        scores = self._embeddings @ embedding
        k = min(SHORTLIST, len(scores))
        shortlist = np.argpartition(-scores, k - 1)[:k] if k < len(scores) else np.arange(len(scores))
        best_of: dict[int, float] = {}
        for index in shortlist[np.argsort(-scores[shortlist])]:
            owner = int(self._owners[index])
            if owner not in best_of:
                best_of[owner] = float(scores[index])
        excluded = self._excluded(embedding, best_of)
        ranked = sorted(((s, o) for o, s in best_of.items() if o not in excluded), reverse=True)
        if not ranked:
            return Match(None, None, 0.0, 0.0, "marked not this person")
        best, owner = ranked[0]
        runner_up = ranked[1][0] if len(ranked) > 1 else -1.0
        if best < self.threshold:
            return Match(None, None, best, runner_up, "below threshold")
        if best - runner_up < self.margin:
            return Match(None, None, best, runner_up, "ambiguous between residents")
        return Match(owner, self.gallery.names.get(owner), best, runner_up, "match")

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
