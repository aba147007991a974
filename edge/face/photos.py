"""Enrolment from photo files: each photo's face found, a group photo's person picked by the other photos."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edge.errors import EnrolmentError
from edge.face.engine import FaceEngine
from edge.face.enrolment import EnrolmentReview, enrol_templates
from edge.face.gallery import FaceGallery
from edge.images import read_image


def enrol_photos(engine: FaceEngine, gallery: FaceGallery, name: str, unit: str, photos: list[Path], *,
                 lookalike_of: tuple[int, ...] = ()) -> tuple[int, EnrolmentReview]:
    """Enrol one resident from photos: every photo must hold a good face; ambiguous ones are refused. A photo
    with several faces gives the one that matches the person's other photos, or is refused alone."""
    found = [(Path(photo).name, engine.faces_in_photo(read_image(photo), source=str(photo))) for photo in photos]
    singles = [faces[0][0] for _, faces in found if len(faces) == 1]
    embeddings, qualities, sources, refused = [], [], [], []
    for source, faces in found:
        if len(faces) > 1:
            chosen = pick_the_person(faces, singles, gallery.matcher.threshold)
            if chosen is None:
                refused.append(f"{source}: {len(faces)} faces, none of them clearly the person of the other photos")
                continue
            faces = [chosen]
        embeddings.append(faces[0][0])
        qualities.append(faces[0][1].value)
        sources.append(source)
    if not embeddings:
        raise EnrolmentError("; ".join(refused) + ("" if singles else "; use a photo of one person, or add one"))
    resident_id, review = enrol_templates(gallery, name, unit, embeddings, qualities, sources,
                                          lookalike_of=lookalike_of)
    return resident_id, EnrolmentReview(review.kept, review.refused + refused, review.lookalikes)


def pick_the_person(faces: list, others: list[np.ndarray], threshold: float):
    """Of a photo's faces, the one its person's other photos agree with (above the threshold, and beating the
    rest by a margin); None if none clearly does."""
    if not others:
        return None
    references = np.stack(others)
    scored = sorted(((float((references @ embedding).max()), (embedding, quality)) for embedding, quality in faces),
                    key=lambda item: -item[0])
    best, runner_up = scored[0][0], scored[1][0]
    return scored[0][1] if best >= threshold and best - runner_up >= 0.1 else None
