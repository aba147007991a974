"""Photos with and without drawn masks, seen as the gate sees them: for bench/mask_train.py and bench/face_masks.py.

Each photo's face is found, a mask of a drawn style is put on it (drivers/sim/mask.py), and the masked
photo goes through the gate's own detector, quality gate and alignment again: a mask that hides the
face from the detector, or fails the quality gate, is counted as such, never quietly dropped.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from drivers.sim.mask import MaskStyle, put_on
from edge.face.align import norm_crop
from edge.face.engine import shrink_to
from edge.face.mask import features
from edge.face.quality import assess

SHARED_FACES = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "faces"


@dataclass
class Sample:
    identity: str
    masked: bool
    kind: str  # the mask's kind, or "" unmasked
    found: bool  # the detector found the face
    quality_codes: tuple[str, ...]
    measured: np.ndarray | None  # mask features of the aligned crop
    embedding: np.ndarray | None


def labelled_photos(folder: Path, *, frontal_only: bool = True) -> list[tuple[Path, str]]:
    with open(folder / "labels.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    return [(folder / row["image"], row["identity"]) for row in rows
            if not frontal_only or row.get("pose", "frontal") != "profile"]


def samples(photos: list[tuple[Path, str]], detector, limits, *, embedder=None, masks_per_photo: int = 1,
            seed: int = 0, keep_unmasked: bool = True, bare_variants: int = 0) -> list[Sample]:
    """Per photo: the unmasked face (when kept), `bare_variants` unmasked ones under other light, and
    `masks_per_photo` masked ones, each judged by the gate's parts."""
    rng = np.random.default_rng(seed)
    out: list[Sample] = []
    for path, identity in photos:
        image = cv2.imread(str(path))
        if image is None:
            continue
        image = shrink_to(image, 1280)
        found = detector.detect(image)
        if not found:
            continue
        face = max(found, key=lambda d: d.eye_distance)
        if keep_unmasked:
            out.append(_judge(image, identity, "", detector, limits, embedder))
        for _ in range(bare_variants):
            out.append(_judge(relit(image, rng), identity, "", detector, limits, embedder))
        for _ in range(masks_per_photo):
            style = MaskStyle.draw(rng)
            out.append(_judge(put_on(image, face.landmarks, style), identity, style.kind, detector, limits, embedder))
    return out


def relit(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The photo under other light: a colour cast, brightness and contrast, a shadow from above or a side."""
    out = image.astype(np.float32) * rng.uniform(0.8, 1.2, 3)[None, None, :]
    out = (out - 128) * rng.uniform(0.7, 1.2) + 128 + rng.uniform(-40, 30)
    height, width = image.shape[:2]
    ramp = np.linspace(0, 1, height if rng.random() < 0.5 else width, dtype=np.float32)
    ramp = ramp[:, None] if len(ramp) == height else ramp[None, :]
    out *= (1 - rng.uniform(0, 0.45) * (ramp if rng.random() < 0.5 else 1 - ramp))[..., None]
    return np.clip(out, 0, 255).astype(np.uint8)


def _judge(image: np.ndarray, identity: str, kind: str, detector, limits, embedder) -> Sample:
    found = detector.detect(image)
    if not found:
        return Sample(identity, bool(kind), kind, False, ("no_face",), None, None)
    face = max(found, key=lambda d: d.eye_distance)
    crop = norm_crop(image, face.landmarks, 112)
    quality = assess(face, crop, limits)
    embedding = embedder.embed([crop])[0] if embedder is not None else None
    return Sample(identity, bool(kind), kind, True, quality.codes, features(crop), embedding)
