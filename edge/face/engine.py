"""The face stage's engine: detect → track → quality → align → embed → match, with timings."""

from __future__ import annotations

import logging
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

with warnings.catch_warnings():  # insightface 2.1 calls a scikit-image API deprecated in 0.26
    warnings.simplefilter("ignore", FutureWarning)
    from insightface.utils.face_align import norm_crop as _norm_crop

from edge.config import FaceConfig
from edge.errors import EnrolmentError
from edge.face.detector import Detection, ScrfdDetector, YuNetDetector
from edge.face.embedder import CROP_SIZE, Embedder, arcface, sface
from edge.face.matcher import Match, Matcher, verdict
from edge.face.operating_point import PairLaw
from edge.face.quality import Quality, QualityLimits, assess
from edge.face.runtime import create_session
from edge.face.tracker import Track, Tracker
from edge.store import Gallery

log = logging.getLogger(__name__)

FACE_WIDTH_M = 0.15
ENROL_MAX_SIDE = 1280


def norm_crop(image: np.ndarray, landmarks: np.ndarray, size: int) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        return _norm_crop(image, landmarks, size)
EYE_TO_FACE_WIDTH = 0.42  # eye distance over face width, adult average


@dataclass
class SeenFace:
    track_id: int
    box: list[float]
    landmarks: np.ndarray
    score: float
    quality: Quality
    distance_m: float
    match: Match | None
    primary: bool = False
    recognised_now: bool = False
    embedding: np.ndarray | None = None


@dataclass
class FaceResult:
    faces: list[SeenFace]
    stage_ms: dict[str, float] = field(default_factory=dict)

    @property
    def primary(self) -> SeenFace | None:
        return next((face for face in self.faces if face.primary), None)


class FaceEngine:
    """Detects, tracks and recognises faces in frames; enrols from photos. One per gate.

    `matcher` is replaced whole (see `use`) when the gallery or its operating point changes, so
    a frame is searched against one consistent gallery. A track's name is a verdict over its
    frames (`matcher.verdict`), never one borderline frame.
    """

    def __init__(self, *, detector, embedder: Embedder, matcher: Matcher, limits: QualityLimits,
                 better_by: float = 1.3, focal_px: float = 520.0, evidence_frames: int = 1,
                 single_frame_margin: float = 0.0, detect_width: int = 640) -> None:
        self.detector = detector
        self.embedder = embedder
        self.matcher = matcher
        self.limits = limits
        self.better_by = better_by
        self.focal_px = focal_px
        self.evidence_frames = evidence_frames
        self.single_frame_margin = single_frame_margin
        self.detect_width = detect_width
        self.tracker = Tracker()

    def distance_of(self, detection: Detection) -> float:
        face_width_px = detection.eye_distance / EYE_TO_FACE_WIDTH
        return self.focal_px * FACE_WIDTH_M / max(face_width_px, 1e-3)

    def process(self, image: np.ndarray, now: float) -> FaceResult:
        timings = {"detect": 0.0, "align": 0.0, "embed": 0.0, "search": 0.0}
        started = time.perf_counter()
        detections = self._detect(image)
        timings["detect"] = _ms(started)
        tracks = self.tracker.update(detections, now)
        faces = []
        primary_index = max(range(len(detections)), key=lambda i: detections[i].eye_distance) if detections else -1
        for index, (detection, track) in enumerate(zip(detections, tracks)):
            is_primary = index == primary_index
            started = time.perf_counter()
            crop = norm_crop(image, detection.landmarks, CROP_SIZE)
            quality = assess(detection, crop, self.limits)
            timings["align"] += _ms(started)
            recognised_now = False
            if is_primary and quality.ok and self._worth_recognising(track, quality):
                self._recognise(track, crop, quality, timings)
                recognised_now = True
            faces.append(SeenFace(track.track_id, detection.box.tolist(), detection.landmarks, detection.score,
                                  quality, self.distance_of(detection), track.match, is_primary, recognised_now,
                                  track.extra.get("embedding")))
        return FaceResult(faces, timings)

    def _detect(self, image: np.ndarray) -> list[Detection]:
        """Faces found on a copy `detect_width` wide, in the full frame's pixels (recognition crops the full frame)."""
        scale = self.detect_width / image.shape[1]
        if scale >= 1.0:
            return self.detector.detect(image)
        small = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        return [Detection(d.box / scale, d.landmarks / scale, d.score) for d in self.detector.detect(small)]

    def _worth_recognising(self, track: Track, quality: Quality) -> bool:
        if track.match is None or not track.match.settled:
            return True
        if track.extra.get("gallery_version") != self.matcher.version:
            return True
        return quality.value > track.matched_quality * self.better_by

    def _recognise(self, track: Track, crop: np.ndarray, quality: Quality, timings: dict[str, float]) -> None:
        matcher = self.matcher  # one gallery for the whole frame, even if a new one arrives meanwhile
        started = time.perf_counter()
        embedding = self.embedder.embed([crop])[0]
        timings["embed"] += _ms(started)
        started = time.perf_counter()
        match = matcher.search(embedding)
        timings["search"] += _ms(started)
        frames = track.extra.setdefault("frames", [])
        if track.extra.get("gallery_version") != matcher.version:
            frames.clear()  # evidence against another gallery (a removed resident, say) counts no more
        frames.append(match)
        del frames[:-10]
        track.match = verdict(frames, evidence_frames=self.evidence_frames,
                              single_frame_margin=self.single_frame_margin)
        track.matched_quality = max(track.matched_quality, quality.value)
        track.extra["gallery_version"] = matcher.version
        track.extra["embedding"] = embedding

    def use(self, matcher: Matcher) -> None:
        """A new gallery or operating point: the next frame is searched against it."""
        self.matcher = matcher

    # enrolment

    def template_from_photo(self, image: np.ndarray, *, source: str) -> tuple[np.ndarray, Quality]:
        """The one face in an enrolment photo, embedded; EnrolmentError with the reason otherwise."""
        image = shrink_to(image, ENROL_MAX_SIDE)
        detections = self.detector.detect(image)
        if not detections:
            raise EnrolmentError(f"{source}: no face found")
        large = [d for d in detections if d.eye_distance >= 0.5 * max(x.eye_distance for x in detections)]
        if len(large) > 1:
            raise EnrolmentError(f"{source}: {len(large)} faces found; use a photo of one person")
        detection = large[0]
        crop = norm_crop(image, detection.landmarks, CROP_SIZE)
        quality = assess(detection, crop, self.limits)
        if not quality.ok:
            raise EnrolmentError(f"{source}: poor quality: {'; '.join(quality.problems)}")
        return self.embedder.embed([crop])[0], quality


def shrink_to(image: np.ndarray, max_side: int) -> np.ndarray:
    scale = max_side / max(image.shape[:2])
    return cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) if scale < 1 else image


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000.0


def default_law(config: FaceConfig) -> PairLaw:
    """The embedder's shipped score law (models/manifest.json), for a gallery too small to measure its own."""
    from models.fetch import load_manifest

    law = load_manifest()[config.pack].calibration
    return PairLaw(float(law["t1"]), float(law["share1"]), float(law["t2"]), float(law["share2"]))


def build_engine(config: FaceConfig, gallery: Gallery, *, focal_px: float = 520.0,
                 models_dir: Path | None = None) -> FaceEngine:
    """Verify the configured models (sha256) and load them; ModelError names the file and the fix."""
    from edge.face.gallery_follower import build_matcher
    from models import MODELS_DIR
    from models.fetch import verify_pack

    directory = models_dir or (Path(config.models_dir) if config.models_dir else MODELS_DIR)
    paths = verify_pack(config.pack, directory)
    detector_session = create_session(paths["detector"], providers=config.providers, threads=config.threads)
    embedder_session = create_session(paths["embedder"], providers=config.providers, threads=config.threads)
    detector: YuNetDetector | ScrfdDetector
    if config.pack == "default":
        detector = YuNetDetector(detector_session, score_threshold=config.detect_score)
        embedder = sface(embedder_session)
    else:
        detector = ScrfdDetector(detector_session, score_threshold=config.detect_score)
        embedder = arcface(embedder_session)
    limits = QualityLimits(config.min_eye_distance_px, config.min_sharpness, config.max_yaw, config.detect_score)
    return FaceEngine(detector=detector, embedder=embedder, matcher=build_matcher(gallery, config),
                      limits=limits, better_by=config.better_by, focal_px=focal_px,
                      evidence_frames=config.evidence_frames, single_frame_margin=config.single_frame_margin,
                      detect_width=config.detect_width)
