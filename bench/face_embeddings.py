"""Embeddings of a labelled photo folder through the gate's own engine, cached by model.

A folder holds `labels.csv` with `image,identity` (and optionally `pose`) columns. Each photo
goes through exactly what enrolment does (detect, quality gate, align, embed); a photo the
quality gate refuses is kept as refused, so benchmarks count it rather than drop it. Results
are cached under $XDG_CACHE_HOME/gatepost/embeddings/<model digest>/, so a second run of a
benchmark on the same models takes seconds.
"""

from __future__ import annotations

import csv
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from face_data import cache_dir

SAME_PERSON_AT = 0.65


@dataclass(frozen=True)
class FaceSet:
    """Photos of one or more folders: identity and pose of each, its embedding or why it was refused."""

    identities: np.ndarray  # (n,) str, prefixed by the folder's name so two sets never share one
    images: list[str]  # paths
    poses: np.ndarray  # (n,) str: frontal, profile, wild
    embeddings: np.ndarray  # (n, d) float32; zero rows where refused
    refused: np.ndarray  # (n,) bool

    def select(self, mask: np.ndarray) -> "FaceSet":
        return FaceSet(self.identities[mask], [i for i, m in zip(self.images, mask) if m], self.poses[mask],
                       self.embeddings[mask], self.refused[mask])


def _limits_digest(engine) -> str:
    limits = engine.limits
    return json.dumps([limits.min_eye_distance_px, limits.min_sharpness, limits.max_yaw, limits.min_score])


def _model_digest(models_dir: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(models_dir.glob("*.onnx")):
        digest.update(path.name.encode())
        digest.update(str(path.stat().st_size).encode())
    return digest.hexdigest()[:16]


def load_set(folder: Path, engine, *, models_dir: Path, limit: int | None = None, progress: bool = True) -> FaceSet:
    with open(folder / "labels.csv") as handle:
        rows = list(csv.DictReader(handle))
    if limit:
        rows = rows[:limit]
    key = hashlib.sha256((str(folder.resolve()) + _model_digest(models_dir) + _limits_digest(engine)).encode())
    cache = cache_dir().parent / "embeddings" / f"{folder.name}-{key.hexdigest()[:16]}.npz"
    cached = dict(np.load(cache, allow_pickle=False)) if cache.is_file() else {}
    known = {str(image): n for n, image in enumerate(cached.get("images", []))}
    dimension = 128
    embeddings, refused = [], []
    fresh = 0
    for count, row in enumerate(rows):
        at = known.get(row["image"])
        if at is not None:
            embeddings.append(cached["embeddings"][at])
            refused.append(bool(cached["refused"][at]))
            continue
        vector, was_refused = _embed(folder / row["image"], engine)
        dimension = vector.size if vector is not None else dimension
        embeddings.append(vector)
        refused.append(was_refused)
        fresh += 1
        if progress and fresh % 500 == 0:
            print(f"  {folder.name}: {count + 1}/{len(rows)} photos embedded", flush=True)
    dimension = next((e.size for e in embeddings if e is not None), dimension)
    matrix = np.stack([e if e is not None else np.zeros(dimension, np.float32) for e in embeddings]) \
        if embeddings else np.zeros((0, dimension), np.float32)
    images = [row["image"] for row in rows]
    if fresh:
        cache.parent.mkdir(parents=True, exist_ok=True)
        np.savez(cache, images=np.array(images), embeddings=matrix, refused=np.array(refused))
    prefix = folder.name
    return FaceSet(np.array([f"{prefix}/{row['identity']}" for row in rows]), [str(folder / i) for i in images],
                   np.array([row.get("pose") or "wild" for row in rows]), matrix, np.array(refused, bool))


def _embed(path: Path, engine) -> tuple[np.ndarray | None, bool]:
    from edge.images import read_image
    from edge.errors import EnrolmentError

    try:
        embedding, _ = engine.template_from_photo(read_image(path), source=path.name)
    except EnrolmentError:
        return None, True
    return embedding, False


def label_conflicts(faces: FaceSet) -> np.ndarray:
    """Photos whose very bytes appear under two identities: a labelling error of the set, not a lookalike."""
    owners: dict[str, set[str]] = {}
    digests = [hashlib.sha1(Path(image).read_bytes()).hexdigest() for image in faces.images]
    for digest, identity in zip(digests, faces.identities):
        owners.setdefault(digest, set()).add(str(identity))
    return np.array([len(owners[d]) > 1 for d in digests], bool)


def same_people(faces: FaceSet, *, at: float = SAME_PERSON_AT) -> dict[str, str]:
    """Identities that are one person under two labels (a celebrity in two sets, CelebA's split
    identities): alias -> kept name, linked when any two of their photos score `at` or more.

    On CFP's 500 people (12.5 million pairs of photos of different people) no pair reaches 0.6;
    every link at 0.65 looked at here was one person.
    """
    usable = np.flatnonzero(~faces.refused)
    identities = faces.identities[usable]
    parent: dict[str, str] = {}

    def root(name: str) -> str:
        while parent.get(name, name) != name:
            name = parent[name]
        return name

    for start in range(0, len(usable), 2048):
        scores = faces.embeddings[usable[start:start + 2048]] @ faces.embeddings[usable].T
        rows, cols = np.nonzero(scores >= at)
        for row, col in zip(rows, cols):
            a, b = root(str(identities[start + row])), root(str(identities[col]))
            if a != b:
                parent[max(a, b)] = min(a, b)
    return {name: root(name) for name in parent}


def concat(sets: list[FaceSet]) -> FaceSet:
    return FaceSet(np.concatenate([s.identities for s in sets]), [i for s in sets for i in s.images],
                   np.concatenate([s.poses for s in sets]), np.concatenate([s.embeddings for s in sets]),
                   np.concatenate([s.refused for s in sets]))
