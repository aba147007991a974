"""Scores of every pair of different residents' templates, kept current as templates come and go.

The operating point (operating_point.py) is derived from these pairs: their histogram, each
template's closest other resident, and the highest pairs. Scoring every template against every
other costs O(templates²): seconds of CPU at 5,000 residents x 3 photos. A change of a few
templates changes only the pairs they are in, so `update` scores just those against the gallery,
O(changed x templates):

- the histogram takes the new pairs in and gives the removed ones back (counts are exact);
- a template's closest other resident can only improve when templates arrive; one whose closest
  template left is scored again against the whole gallery;
- the highest pairs are kept TOP_KEPT deep, with the bound below which every pair left out lies.
  While KTH_PAIR kept pairs stand above that bound, the top is exact; when removals wear it
  thinner, the pairs are counted again from scratch.

A change of more than a quarter of the gallery, a new embedder (another dimension) or the
owner's schedule (`rebuild`) counts everything again.
"""

from __future__ import annotations

import numpy as np

from edge.face.operating_point import BINS, KTH_PAIR, PairScores
from edge.store import Gallery

BLOCK = 2048  # templates scored at once (memory: BLOCK x templates floats)
TOP_KEPT = 200  # highest pairs kept with their templates' ids, so a removal can take its own out
REBUILD_SHARE = 0.25  # a change of more than this share of the templates is counted from scratch
MASKED = -2.0  # the score given to a template's pair with its own resident's templates: never a pair


class PairStatistics:
    """Sufficient statistics of the different-resident pair scores of one gallery's positive templates."""

    def __init__(self) -> None:
        self.ids = np.zeros(0, np.int64)
        self.embeddings = np.zeros((0, 0), np.float32)
        self.owners = np.zeros(0, np.int64)
        self.best = np.zeros(0, np.float32)  # each template's best score against another resident's
        self.closest = np.zeros(0, np.int64)  # ... and that template's id (-1: no other resident)
        self.histogram = np.zeros(len(BINS) - 1, np.int64)
        self.top: list[tuple[float, int, int]] = []  # (score, id, id), highest first
        self.floor = -np.inf  # every pair not in `top` scores at most this
        self.full_counts = 0  # times everything was counted from scratch

    def scores(self) -> PairScores:
        """The frozen summary the operating point is derived from."""
        closest = self.owners.copy()
        known = self.closest >= 0
        if known.any():
            order = np.argsort(self.ids)
            closest[known] = self.owners[order[np.searchsorted(self.ids, self.closest[known], sorter=order)]]
        top = np.array([score for score, _, _ in self.top[:KTH_PAIR]], np.float32)
        return PairScores(self.owners.copy(), self.best.copy(), closest, self.histogram.copy(), top)

    def update(self, gallery: Gallery) -> str:
        """Follow `gallery`: "incremental", "full" (counted from scratch) or "unchanged"."""
        ids, embeddings, owners = _positive(gallery)
        if embeddings.shape[1] != self.embeddings.shape[1] and len(self.ids) and len(ids):
            self.rebuild(gallery)
            return "full"
        removed = ~np.isin(self.ids, ids)
        added = ~np.isin(ids, self.ids)
        changes = int(removed.sum() + added.sum())
        if changes == 0:
            return "unchanged"
        if changes > REBUILD_SHARE * max(len(ids), len(self.ids)):
            self.rebuild(gallery)
            return "full"
        self._remove(removed)
        self._add(ids[added], embeddings[added], owners[added])
        if sum(1 for score, _, _ in self.top if score >= self.floor) < min(KTH_PAIR, self.pairs):
            self.rebuild(gallery)  # removals took out the highest pairs known: the next ones are unknown
            return "full"
        return "incremental"

    @property
    def pairs(self) -> int:
        return int(self.histogram.sum())

    def rebuild(self, gallery: Gallery) -> None:
        """Count every pair from scratch."""
        ids, embeddings, owners = _positive(gallery)
        count = len(ids)
        self.ids, self.embeddings, self.owners = ids, embeddings, owners
        self.best = np.full(count, -1.0, np.float32)
        self.closest = np.full(count, -1, np.int64)
        self.histogram = np.zeros(len(BINS) - 1, np.int64)
        top: list[tuple[float, int, int]] = []
        for start in range(0, count, BLOCK):
            rows = np.arange(start, min(start + BLOCK, count))
            scores = embeddings[rows] @ embeddings.T
            scores[owners[rows, None] == owners[None, :]] = MASKED
            self._take_best(rows, scores, np.arange(count))
            later = rows[:, None] < np.arange(count)[None, :]
            counted = later & (scores > MASKED + 0.5)
            values = scores[counted]
            self.histogram += _histogram(values)
            top = _merge(top, _highest(scores, counted, values, ids[rows], ids)[0])
        self.top = top[:TOP_KEPT]
        self.floor = self.top[-1][0] if len(top) > TOP_KEPT else -np.inf
        self.full_counts += 1

    def _remove(self, removed: np.ndarray) -> None:
        if not removed.any():
            return
        rows = np.flatnonzero(removed)
        scores = self.embeddings[rows] @ self.embeddings.T
        scores[self.owners[rows, None] == self.owners[None, :]] = MASKED
        counted = (~removed[None, :] | (rows[:, None] < np.arange(len(self.ids))[None, :])) & (scores > MASKED + 0.5)
        self.histogram -= _histogram(scores[counted])
        gone = set(self.ids[rows].tolist())
        self.top = [entry for entry in self.top if entry[1] not in gone and entry[2] not in gone]
        kept = ~removed
        self.ids, self.embeddings, self.owners = self.ids[kept], self.embeddings[kept], self.owners[kept]
        self.best, self.closest = self.best[kept], self.closest[kept]
        stale = np.flatnonzero(np.isin(self.closest, list(gone)))
        for start in range(0, len(stale), BLOCK):  # their closest template left: find the next closest
            chunk = stale[start:start + BLOCK]
            self.best[chunk], self.closest[chunk] = -1.0, -1
            scores = self.embeddings[chunk] @ self.embeddings.T
            scores[self.owners[chunk, None] == self.owners[None, :]] = MASKED
            self._take_best(chunk, scores, np.arange(len(self.ids)))

    def _add(self, ids: np.ndarray, embeddings: np.ndarray, owners: np.ndarray) -> None:
        if not len(ids):
            return
        if not len(self.ids):
            self.embeddings = np.zeros((0, embeddings.shape[1]), np.float32)
        old = len(self.ids)
        self.ids = np.concatenate([self.ids, ids])
        self.embeddings = np.concatenate([self.embeddings, embeddings])
        self.owners = np.concatenate([self.owners, owners])
        self.best = np.concatenate([self.best, np.full(len(ids), -1.0, np.float32)])
        self.closest = np.concatenate([self.closest, np.full(len(ids), -1, np.int64)])
        everyone = np.arange(len(self.ids))
        for start in range(old, len(self.ids), BLOCK):
            rows = np.arange(start, min(start + BLOCK, len(self.ids)))
            scores = self.embeddings[rows] @ self.embeddings.T
            scores[self.owners[rows, None] == self.owners[None, :]] = MASKED
            self._take_best(rows, scores, everyone)  # the new templates' own closest
            older = everyone[None, :] < rows[:, None]  # each pair once: with the templates before it
            counted = older & (scores > MASKED + 0.5)
            values = scores[counted]
            self.histogram += _histogram(values)
            highest, left_out = _highest(scores, counted, values, self.ids[rows], self.ids)
            self.floor = max(self.floor, left_out)
            self._insert_top(highest)
            column = scores[:, :start].argmax(axis=0) if start else np.zeros(0, np.int64)
            if start:  # the templates before may have found a closer stranger among the new
                best = scores[column, np.arange(start)]
                better = best > self.best[:start]
                self.best[:start][better] = best[better]
                self.closest[:start][better] = self.ids[rows][column[better]]

    def _take_best(self, rows: np.ndarray, scores: np.ndarray, columns: np.ndarray) -> None:
        column = scores.argmax(axis=1)
        best = scores[np.arange(len(rows)), column]
        found = best > MASKED + 0.5
        self.best[rows[found]] = best[found]
        self.closest[rows[found]] = self.ids[columns[column[found]]]

    def _insert_top(self, candidates: list[tuple[float, int, int]]) -> None:
        above = [entry for entry in candidates if entry[0] > self.floor]
        merged = _merge(self.top, above)
        if len(merged) > TOP_KEPT:
            self.floor = max(self.floor, merged[TOP_KEPT][0])
        self.top = merged[:TOP_KEPT]


def pair_scores(gallery: Gallery) -> PairScores:
    """Every pair counted once, from scratch (tools, benchmarks and tests)."""
    statistics = PairStatistics()
    statistics.rebuild(gallery)
    return statistics.scores()


def _positive(gallery: Gallery) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    positive = ~gallery.negative
    ids = gallery.ids[positive] if gallery.ids is not None else np.flatnonzero(positive).astype(np.int64)
    return ids, np.ascontiguousarray(gallery.embeddings[positive], dtype=np.float32), gallery.owners[positive]


def _histogram(scores: np.ndarray) -> np.ndarray:
    return np.histogram(np.clip(scores, -1.0, 1.0), BINS)[0].astype(np.int64)


def _highest(scores: np.ndarray, counted: np.ndarray, values: np.ndarray, row_ids: np.ndarray,
             column_ids: np.ndarray) -> tuple[list[tuple[float, int, int]], float]:
    """The TOP_KEPT highest counted pairs of one block (`values`: the counted scores), highest first, and the
    highest score left out."""
    left_out = -np.inf
    if len(values) > TOP_KEPT:
        split = np.partition(values, len(values) - TOP_KEPT - 1)
        left_out = float(split[len(values) - TOP_KEPT - 1])
        counted = counted & (scores >= split[len(values) - TOP_KEPT])
    rows, columns = np.nonzero(counted)
    chosen = scores[rows, columns]
    order = np.argsort(-chosen, kind="stable")[:TOP_KEPT]
    return [(float(chosen[k]), int(row_ids[rows[k]]), int(column_ids[columns[k]])) for k in order], left_out


def _merge(first: list[tuple[float, int, int]], second: list[tuple[float, int, int]]) -> list[tuple[float, int, int]]:
    return sorted(first + second, key=lambda entry: -entry[0])[:TOP_KEPT + 1]
