"""Visits of k photos as the gate judges them: every frame searched, and the visit's template too.

A visit is k photos of one person. The gate names a resident when frames agree (`face.evidence_frames`
frames naming the same resident, or one frame `single_frame_margin` above the threshold), or when
the visit template (the mean of the frames' embeddings) clears the threshold with k >= evidence
frames; frames that name different residents name nobody (edge/face/engine.py `visit_verdict`).
A refused photo is a frame the gate could not search. A non-mated visit is k photos of a stranger,
or a mated visit searched with its own person left out of the gallery (FRVT's leave-one-out).
A resident's visit that was missed is put down to one cause (`misses`): its best evidence under
the threshold, by how far, or the rule that held it back. A visit's photos also go through the
gate's enrolment review as a new person (`enrolments_refused`).

The development sets hold photos from different sessions: their frames are far less alike than
the frames of one real visit, so k photos are an optimistic bound on what k frames of a visit add
for residents, and a pessimistic one for strangers (more independent chances to clear the threshold).
"""

from __future__ import annotations

import numpy as np

from face_embeddings import FaceSet


def group_visits(faces: FaceSet, people: list[str], mask: np.ndarray, k: int, rng) -> list[np.ndarray]:
    """Photos (indices, within `mask`) of each person grouped k at a time, shuffled; the remainder dropped."""
    visits = []
    for person in people:
        photos = np.flatnonzero((faces.identities == person) & mask)
        rng.shuffle(photos)
        visits += [photos[i:i + k] for i in range(0, len(photos) - k + 1, k)]
    return visits


def gallery_rows(faces: FaceSet, gallery: np.ndarray, fused: tuple[np.ndarray, np.ndarray] | None):
    """(owners, embeddings) of the enrolled photos, and of each resident's fused template where given."""
    if fused is None:
        return faces.identities[gallery], faces.embeddings[gallery]
    return (np.concatenate([faces.identities[gallery], fused[0]]),
            np.vstack([faces.embeddings[gallery], fused[1]]).astype(np.float32))


MISS_CAUSES = ("best evidence under the threshold by > 0.08", "best evidence under the threshold by 0.03-0.08",
               "best evidence under the threshold by < 0.03", "one frame over the threshold, short of the single-frame margin",
               "within the margin of the runner-up", "frames named different residents",
               "no frame passed the quality gate", "let in as another resident")


class VisitSearches:
    """Each visit's frames and template searched against one gallery, reduced to what any threshold needs."""

    def __init__(self, faces: FaceSet, gallery: np.ndarray, mated: list[np.ndarray],
                 nonmated: list[np.ndarray], fused: tuple[np.ndarray, np.ndarray] | None = None) -> None:
        owners, embeddings = gallery_rows(faces, gallery, fused)
        order = np.argsort(owners, kind="stable")
        self.residents, starts = np.unique(owners[order], return_index=True)
        self._embeddings, self._starts = embeddings[order], starts
        self.mated_total, self.nonmated_total = len(mated), len(nonmated) + len(mated)
        self._mated_visits, self._stranger_visits = mated, nonmated
        self.mated_truth = np.array([np.searchsorted(self.residents, faces.identities[v[0]]) for v in mated], int)
        self._mated = self._search(faces, mated, [None] * len(mated))
        self._nonmated = self._search(faces, nonmated, [None] * len(nonmated)) + \
            self._search(faces, mated, list(self.mated_truth))

    def _search(self, faces: FaceSet, visits: list[np.ndarray], left_out: list) -> list:
        """Per visit: per searched frame (best resident, best score, runner-up's) and the template's
        (resident, best, second) when it holds two frames or more."""
        probes, spans = [], []
        for visit in visits:
            usable = visit[~faces.refused[visit]]
            vectors = faces.embeddings[usable]
            start = sum(len(p) for p in probes)
            if len(usable):
                template = vectors.mean(axis=0)
                probes.append(np.vstack([vectors, template / max(float(np.linalg.norm(template)), 1e-12)]))
            spans.append((start, len(usable)))
        if not probes:
            return [(np.zeros(0, int), np.zeros(0), np.zeros(0), None) for _ in visits]
        matrix = np.maximum.reduceat(np.vstack(probes) @ self._embeddings.T, self._starts, axis=1)
        results = []
        for (start, frames), out in zip(spans, left_out):
            if not frames:
                results.append((np.zeros(0, int), np.zeros(0), np.zeros(0), None))
                continue
            block = matrix[start:start + frames + 1].copy()
            if out is not None:
                block[:, out] = -2.0
            top = np.argsort(-block, axis=1)[:, :2]
            best = np.take_along_axis(block, top, axis=1)
            second = best[:, 1] if block.shape[1] > 1 else np.full(len(best), -1.0)
            fused = (int(top[-1, 0]), float(best[-1, 0]), float(second[-1])) if frames >= 2 else None
            results.append((top[:-1, 0], best[:-1, 0], second[:-1], fused))
        return results

    @staticmethod
    def _named(search, threshold: float, margin: float, single_margin: float, evidence: int) -> int | None:
        """The resident the gate would name for this visit, or None."""
        who, best, second, fused = search
        known = (best >= threshold) & (best - second >= margin)
        named = set(who[known].tolist())
        if len(named) > 1:
            return None  # frames that name different residents name nobody
        if named and (known.sum() >= evidence or best[known].max() >= threshold + single_margin):
            return int(next(iter(named)))
        if fused is not None and len(who) >= evidence and fused[1] >= threshold and fused[1] - fused[2] >= margin:
            if not named or fused[0] in named:
                return fused[0]
        return None

    def fnir(self, threshold: float, margin: float, single_margin: float, evidence: int) -> float:
        right = sum(1 for search, truth in zip(self._mated, self.mated_truth)
                    if self._named(search, threshold, margin, single_margin, evidence) == truth)
        return 1.0 - right / max(1, self.mated_total)

    def fpir(self, threshold: float, margin: float, single_margin: float, evidence: int) -> float:
        wrong = sum(1 for search in self._nonmated
                    if self._named(search, threshold, margin, single_margin, evidence) is not None)
        return wrong / max(1, self.nonmated_total)

    def wrong_resident(self, threshold: float, margin: float, single_margin: float, evidence: int) -> int:
        """Mated visits let in as somebody else."""
        return sum(1 for search, truth in zip(self._mated, self.mated_truth)
                   if (named := self._named(search, threshold, margin, single_margin, evidence)) is not None
                   and named != truth)

    def misses(self, threshold: float, margin: float, single_margin: float, evidence: int) -> dict[str, int]:
        """Mated visits not let in as their own resident, by why: what a better rule could reach, and what
        only a better embedder could (the visit's best evidence for its resident below the threshold)."""
        causes: dict[str, int] = {}
        for search, truth in zip(self._mated, self.mated_truth):
            named = self._named(search, threshold, margin, single_margin, evidence)
            if named != truth:
                cause = self._miss_cause(search, truth, named, threshold, margin)
                causes[cause] = causes.get(cause, 0) + 1
        return causes

    @staticmethod
    def _miss_cause(search, truth: int, named: int | None, threshold: float, margin: float) -> str:
        who, best, second, fused = search
        if named is not None:
            return "let in as another resident"
        if not len(who):
            return "no frame passed the quality gate"
        scores = list(zip(who.tolist(), best.tolist(), second.tolist()))
        if fused is not None:
            scores.append(fused)
        own = [(score, score - runner_up) for resident, score, runner_up in scores if resident == truth]
        if any(resident != truth and score >= threshold and score - runner_up >= margin
               for resident, score, runner_up in scores):
            return "frames named different residents"
        if any(score >= threshold and gap < margin for score, gap in own):
            return "within the margin of the runner-up"
        if any(score >= threshold for score, _ in own):
            return "one frame over the threshold, short of the single-frame margin"
        shortfall = threshold - max((score for score, _ in own), default=-1.0)
        if shortfall < 0.03:
            return "best evidence under the threshold by < 0.03"
        if shortfall < 0.08:
            return "best evidence under the threshold by 0.03-0.08"
        return "best evidence under the threshold by > 0.08"

    def enrolments_refused(self, faces: FaceSet, matcher) -> tuple[float, float]:
        """The share of mated visits (the person's photos enrolled again under a new name) and of strangers'
        visits (a new person) that the gate's own enrolment review refuses: as somebody already enrolled, or
        every photo as closer to a resident than to the person's other photos."""
        from edge.errors import EnrolmentError
        from edge.face.enrolment import review

        def refused(visit: np.ndarray) -> bool:
            usable = visit[~faces.refused[visit]]
            try:
                review(matcher, list(faces.embeddings[usable]), [str(i) for i in usable])
            except EnrolmentError:
                return True
            return False

        again = [refused(visit) for visit in self._mated_visits if (~faces.refused[visit]).any()]
        new = [refused(visit) for visit in self._stranger_visits if (~faces.refused[visit]).any()]
        return float(np.mean(again)) if again else 0.0, float(np.mean(new)) if new else 0.0

    def det(self, margin: float, single_margin: float, evidence: int) -> list[tuple[float, float]]:
        return [(self.fpir(t, margin, single_margin, evidence), self.fnir(t, margin, single_margin, evidence))
                for t in np.linspace(0.2, 0.8, 61)]
