"""Enrolment that helps: new templates are checked against the gallery before they are stored.

A template closer to another resident than to the rest of its own person's templates would
make that person ambiguous: it is refused with the reason. A new person who scores above the
operating threshold less the lookalike margin against someone already enrolled (most of their
photos do, or their photos' mean comes within TOGETHER_SLACK of the threshold) is refused as a
duplicate, naming them, as vendor terminals refuse an already-registered face: enrolled under a
second name, one of them is refused as "ambiguous between residents" and the other is let in
under either name. The check is looser than the gate's threshold on purpose: a refusal here
costs an administrator a flag, a duplicate costs residents their entry. An administrator can
still enrol a known pair, twins say, by naming the resident they resemble (`lookalike_of`):
recorded with the enrolment, and the matcher holds the pair to `face.lookalike_margin`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

from edge.errors import EnrolmentError
from edge.face.gallery import FaceGallery
from edge.face.matcher import Matcher

log = logging.getLogger(__name__)

# The mean of a new person's photos is a duplicate this far below the threshold. On the development sets (three photos
# at a time, about 600 residents) it refused 2.1 / 0.9 points more of the people enrolled again under a new name (one /
# three enrolment photos each), and 0.1 / 0.3 points more of the people new to the gate.
TOGETHER_SLACK = 0.05


@dataclass(frozen=True)
class Lookalike:
    resident_id: int
    name: str
    score: float


@dataclass(frozen=True)
class EnrolmentReview:
    """Which new templates to keep, which were refused and why, and whom the person resembles."""

    kept: list[int]
    refused: list[str] = field(default_factory=list)
    lookalikes: list[Lookalike] = field(default_factory=list)  # allowed by name (lookalike_of)

    @property
    def warnings(self) -> list[str]:
        return [f"looks like resident {look.resident_id} {look.name} (score {look.score:.2f}), as declared; "
                f"the pair is held to a stricter margin" for look in self.lookalikes] + self.refused

    def as_dict(self) -> dict:
        return {"kept": len(self.kept), "refused": self.refused,
                "lookalikes": [{"resident_id": look.resident_id, "name": look.name, "score": round(look.score, 3)}
                               for look in self.lookalikes]}


class DuplicateEnrolment(EnrolmentError):
    """The face is already a resident's: refused, naming them."""

    def __init__(self, resident_id: int, name: str, score: float, threshold: float) -> None:
        self.resident_id, self.name, self.score = resident_id, name, score
        super().__init__(f"already enrolled as resident {resident_id} {name}, or their lookalike (score {score:.2f}, "
                         f"threshold {threshold:.2f}); a twin or a known lookalike is enrolled naming them "
                         f"(lookalike_of {resident_id})")


def review(matcher: Matcher, embeddings: list[np.ndarray], sources: list[str], *,
           resident_id: int | None = None, lookalike_of: tuple[int, ...] = ()) -> EnrolmentReview:
    """Check templates for a new resident (or more for `resident_id`); EnrolmentError if none can be kept,
    DuplicateEnrolment if they are someone already enrolled (other than those named in `lookalike_of`)."""
    new = np.stack([np.asarray(e, np.float32) for e in embeddings])
    own = _own_templates(matcher, resident_id, new.shape[1])
    best = [_best_other(matcher, embedding, resident_id) for embedding in new]
    votes: dict[int, list[float]] = {}
    floor = matcher.threshold - matcher.lookalike_margin  # where a pair would be held to the stricter margin
    for other, score in best:
        if other is not None and score >= floor and other not in lookalike_of:
            votes.setdefault(other, []).append(score)
    for other, scores in votes.items():  # most of a new person's photos are this resident: a duplicate, not an outlier
        if resident_id is None and 2 * len(scores) > len(new):
            raise DuplicateEnrolment(other, matcher.gallery.names.get(other, "?"), max(scores), matcher.threshold)
    kept: list[int] = []
    refused: list[str] = []
    closest: dict[int, float] = {}
    for index, embedding in enumerate(new):
        other, score = best[index]
        references = np.concatenate([own, np.delete(new, index, axis=0)])
        own_score = float((references @ embedding).max()) if len(references) else None
        if other is not None and score >= matcher.threshold and own_score is not None and score > own_score:
            name = matcher.gallery.names.get(other, "?")
            refused.append(f"{sources[index]}: closer to resident {other} {name} ({score:.2f}) than to this "
                           f"person's other photos ({own_score:.2f}); it would make them ambiguous")
            continue
        kept.append(index)
        if other is not None and score >= matcher.threshold:
            closest[other] = max(score, closest.get(other, -1.0))
    if not kept:
        raise EnrolmentError("; ".join(refused) or "no template to keep")
    if resident_id is None and len(kept) > 1:  # the photos kept, taken together as a visit is: a steadier face
        together = new[kept].mean(axis=0)
        other, score = _best_other(matcher, together / max(float(np.linalg.norm(together)), 1e-12), None)
        if other is not None and score >= matcher.threshold - TOGETHER_SLACK:
            closest[other] = max(score, closest.get(other, -1.0))
    duplicates = {o: s for o, s in closest.items() if o not in lookalike_of}
    if duplicates:
        other, score = max(duplicates.items(), key=lambda item: item[1])
        raise DuplicateEnrolment(other, matcher.gallery.names.get(other, "?"), score, matcher.threshold)
    lookalikes = [Lookalike(o, matcher.gallery.names.get(o, "?"), s)
                  for o, s in sorted(closest.items(), key=lambda item: -item[1])]
    return EnrolmentReview(kept, refused, lookalikes)


def _best_other(matcher: Matcher, embedding: np.ndarray, resident_id: int | None) -> tuple[int | None, float]:
    others = {o: s for o, s in matcher.scores_by_resident(embedding).items() if o != resident_id}
    return max(others.items(), key=lambda item: item[1]) if others else (None, -1.0)


def one_person(embeddings: list[np.ndarray], floor: float) -> bool:
    """Templates taken together (a burst at the gate) that all score at least `floor` against each other."""
    if len(embeddings) < 2:
        return True
    matrix = np.stack([np.asarray(e, np.float32) for e in embeddings])
    scores = matrix @ matrix.T
    return bool(scores[~np.eye(len(matrix), dtype=bool)].min() >= floor)


def _own_templates(matcher: Matcher, resident_id: int | None, dimension: int) -> np.ndarray:
    gallery = matcher.gallery
    if resident_id is None or not len(gallery.owners):
        return np.zeros((0, dimension), np.float32)
    return gallery.embeddings[(gallery.owners == resident_id) & ~gallery.negative]


def enrol_templates(gallery: FaceGallery, name: str, unit: str, embeddings: list[np.ndarray],
                    qualities: list[float], sources: list[str], *,
                    lookalike_of: tuple[int, ...] = (), valid_until: float | None = None) -> tuple[int, EnrolmentReview]:
    """Review new templates against the gallery, then store those kept; searchable from the next frame (until
    `valid_until`, for a visitor)."""
    checked = review(gallery.matcher, embeddings, sources, lookalike_of=lookalike_of)
    keep = checked.kept
    resident_id = gallery.store.add_resident(name, unit, [embeddings[i] for i in keep], [qualities[i] for i in keep],
                                             [sources[i] for i in keep],
                                             lookalike_of=tuple(look.resident_id for look in checked.lookalikes),
                                             valid_until=valid_until)
    gallery.changed()
    for warning in checked.warnings:
        log.warning("enrolling %s: %s", name, warning)
    return resident_id, checked
