"""The face stage's engine: detect → track → quality → align → embed → match, with timings."""

from __future__ import annotations

import logging
import math
import statistics
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import cv2
import numpy as np

from edge.config import FaceConfig
from edge.errors import EnrolmentError
from edge.face.align import norm_crop
from edge.face.detector import Detection, ScrfdDetector, YuNetDetector
from edge.face.embedder import CROP_SIZE, Embedder, arcface, sface
from edge.face.gallery import FixedMatcher, MatcherSource
from edge.face.mask import THRESHOLD as MASKED_AT
from edge.face.mask import read_mask
from edge.face.matcher import Match, Matcher, verdict
from edge.face.quality import Quality, QualityLimits, assess
from edge.face.regions import Region, RegionPlanner
from edge.face.runtime import create_session
from edge.face.tracker import Track, Tracker

log = logging.getLogger(__name__)

FACE_WIDTH_M = 0.15
ENROL_MAX_SIDE = 1280
RESEARCH_EVERY_S = 0.12  # an unknown face still in front of the gate is searched again this often
LOOK_MIN_WIDTH = 160  # the still check's look is never made on a copy narrower than this
MASKED_PROBLEM = "the face is masked: enrol a photo without a mask"
MASK_VOTES = 5  # a track is masked by the median of its newest mask readings: one odd frame does not flip it


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
    masked: bool = False  # the track's faces read masked (the median of its newest frames)


@dataclass
class FaceResult:
    faces: list[SeenFace]
    stage_ms: dict[str, float] = field(default_factory=dict)

    @property
    def primary(self) -> SeenFace | None:
        return next((face for face in self.faces if face.primary), None)


class FaceEngine:
    """Detects, tracks and recognises faces in frames; enrols from photos. One per gate.

    The matcher comes from the gallery's one owner (`source`, edge/face/gallery.py), read once
    per frame, so a frame is searched against one consistent gallery. A track's name is a
    verdict over its frames (`matcher.verdict`), never one borderline frame.

    A visit is one probe: every good frame searched is added to the track's visit template (a
    quality-weighted mean of its embeddings), which is searched too; it names a resident on its own
    once it holds `evidence_frames` frames. An early "unknown" is not final while the person is
    still in front of the gate: an unknown track is searched again every RESEARCH_EVERY_S until
    `search_window_s` after it was first seen (someone standing still never gets the 1.3 times
    better frame that used to be the only way to a second search).

    A masked face (edge/face/mask.py, judged on the primary face's newest frames) is searched at the
    threshold plus `mask_margin`, into a visit template of its own; whether a masked face may pass is
    the policy's rule (checks.face.mask), not the engine's.
    """

    def __init__(self, *, detector, embedder: Embedder, source: MatcherSource, limits: QualityLimits,
                 better_by: float = 1.3, focal_px: float = 520.0, evidence_frames: int = 1,
                 single_frame_margin: float = 0.0, detect_width: int = 640, search_window_s: float = 3.0,
                 mask_margin: float = 0.02, whole_frame_every_s: float = 0.0) -> None:
        self.detector = detector
        self.embedder = embedder
        self.source = source
        self.limits = limits
        self.better_by = better_by
        self.focal_px = focal_px
        self.evidence_frames = evidence_frames
        self.single_frame_margin = single_frame_margin
        self.detect_width = detect_width
        self.search_window_s = search_window_s
        self.mask_margin = mask_margin
        self.tracker = Tracker()
        self.regions = RegionPlanner(whole_frame_every_s)

    def distance_of(self, detection: Detection) -> float:
        face_width_px = detection.eye_distance / EYE_TO_FACE_WIDTH
        return self.focal_px * FACE_WIDTH_M / max(face_width_px, 1e-3)

    def process(self, image: np.ndarray, now: float) -> FaceResult:
        timings = {"detect": 0.0, "align": 0.0, "embed": 0.0, "search": 0.0}
        started = time.perf_counter()
        detections = self._detect(image, self.detect_width, self._region(image, now))
        timings["detect"] = _ms(started)
        tracks = self.tracker.update(detections, now)
        faces = []
        primary_index = max(range(len(detections)), key=lambda i: detections[i].eye_distance) if detections else -1
        for index, (detection, track) in enumerate(zip(detections, tracks)):
            is_primary = index == primary_index
            started = time.perf_counter()
            crop = norm_crop(image, detection.landmarks, CROP_SIZE)
            quality = assess(detection, crop, self.limits)
            masked = is_primary and _masked(track, crop)
            timings["align"] += _ms(started)
            recognised_now = False
            if is_primary and quality.ok and self._worth_recognising(track, quality, now, masked):
                self._recognise(track, crop, quality, timings, now, masked)
                recognised_now = True
            faces.append(SeenFace(track.track_id, detection.box.tolist(), detection.landmarks, detection.score,
                                  quality, self.distance_of(detection), track.match, is_primary, recognised_now,
                                  track.extra.get("embedding"), masked))
        return FaceResult(faces, timings)

    def anyone_there(self, image: np.ndarray) -> bool:
        """Is there a face at all? Looked for on a copy half as wide as a search's: a quarter of the cost, and
        a face too small to find there is too small to recognise (face.min_eye_distance_px)."""
        return bool(self._detect(image, max(LOOK_MIN_WIDTH, self.detect_width // 2)))

    def _region(self, image: np.ndarray, now: float) -> Region | None:
        """Where the detector looks in this frame (edge/face/regions.py), in the pixels of its copy; None: everywhere."""
        scale = min(1.0, self.detect_width / image.shape[1])
        boxes = [track.detection.box * scale for track in self.tracker.tracks.values()
                 if now - track.last_seen <= self.tracker.max_age_s]
        return self.regions.plan(boxes, round(image.shape[1] * scale), round(image.shape[0] * scale), now)

    def _detect(self, image: np.ndarray, width: int, region: Region | None = None) -> list[Detection]:
        """Faces found on a copy `width` wide (only inside `region` of that copy, when given), in the full frame's
        pixels (recognition crops the full frame)."""
        scale = min(1.0, width / image.shape[1])
        if region is None:
            region = Region(0, 0, round(image.shape[1] * scale), round(image.shape[0] * scale))
        else:
            image = image[int(region.top / scale):math.ceil(region.bottom / scale),
                          int(region.left / scale):math.ceil(region.right / scale)]
        if scale < 1.0:
            image = cv2.resize(image, (region.right - region.left, region.bottom - region.top),
                               interpolation=cv2.INTER_AREA)
        detections = self.detector.detect(image)
        if scale == 1.0 and region.left == region.top == 0:
            return detections
        offset = np.array([region.left, region.top], dtype=np.float32)
        return [Detection((d.box + np.tile(offset, 2)) / scale, (d.landmarks + offset) / scale, d.score)
                for d in detections]

    def _worth_recognising(self, track: Track, quality: Quality, now: float, masked: bool) -> bool:
        if track.match is None or not track.match.settled or track.match.masked != masked:
            return True
        if track.extra.get("gallery_version") != self.matcher.version:
            return True
        if not track.match.known and now - track.first_seen <= self.search_window_s:
            return now - track.extra.get("searched_at", -math.inf) >= RESEARCH_EVERY_S
        return quality.value > track.matched_quality * self.better_by

    def _recognise(self, track: Track, crop: np.ndarray, quality: Quality, timings: dict[str, float],
                   now: float, masked: bool) -> None:
        matcher = self.matcher  # one gallery for the whole frame, even if a new one arrives meanwhile
        started = time.perf_counter()
        embedding = self.embedder.embed([crop])[0]
        timings["embed"] += _ms(started)
        started = time.perf_counter()
        probe, fused_frames = add_to_probe(track.extra, embedding, quality.value, kind="masked" if masked else "bare")
        stricter_by = self.mask_margin if masked else 0.0
        match = matcher.search(embedding, stricter_by=stricter_by)
        fused = matcher.search(probe, stricter_by=stricter_by) if fused_frames >= 2 else None
        timings["search"] += _ms(started)
        frames = track.extra.setdefault("frames", [])
        if track.extra.get("gallery_version") != matcher.version:
            frames.clear()  # evidence against another gallery (a removed resident, say) counts no more
        frames.append(match)
        del frames[:-10]
        per_frame = verdict(frames, evidence_frames=self.evidence_frames, single_frame_margin=self.single_frame_margin)
        track.match = replace(visit_verdict(per_frame, fused, fused_frames, evidence_frames=self.evidence_frames),
                              masked=masked)
        track.matched_quality = max(track.matched_quality, quality.value)
        track.extra["gallery_version"] = matcher.version
        if not masked or "embedding" not in track.extra:  # the visit's template: what "not this person" keeps
            track.extra["embedding"] = probe
        track.extra["searched_at"] = now

    @property
    def matcher(self) -> Matcher:
        return self.source.matcher

    def use(self, matcher: Matcher) -> None:
        """Search this matcher from the next frame on: for tools and tests that hold a gallery in memory. A running
        gate's matcher comes from its FaceGallery alone."""
        self.source = FixedMatcher(matcher)

    # enrolment

    def template_from_photo(self, image: np.ndarray, *, source: str) -> tuple[np.ndarray, Quality]:
        """The one face in an enrolment photo, embedded; EnrolmentError with the reason otherwise."""
        faces = self.faces_in_photo(image, source=source)
        if len(faces) > 1:
            raise EnrolmentError(f"{source}: {len(faces)} faces found; use a photo of one person")
        return faces[0]

    def enrolment_face(self, image: np.ndarray, *, source: str) -> tuple[np.ndarray, Quality, np.ndarray]:
        """The one face of a live frame at enrolment: (embedding, quality, the aligned crop the guard is shown)."""
        image = shrink_to(image, ENROL_MAX_SIDE)
        detections = self.detector.detect(image)
        if not detections:
            raise EnrolmentError(f"{source}: no face found")
        large = [d for d in detections if d.eye_distance >= 0.5 * max(x.eye_distance for x in detections)]
        if len(large) > 1:
            raise EnrolmentError(f"{source}: {len(large)} faces found; one person in front of the camera")
        crop = norm_crop(image, large[0].landmarks, CROP_SIZE)
        quality = assess(large[0], crop, self.limits)
        if not quality.ok:
            raise EnrolmentError(f"{source}: poor quality: {'; '.join(quality.problems)}")
        if read_mask(crop).masked:
            raise EnrolmentError(f"{source}: {MASKED_PROBLEM}")
        return self.embedder.embed([crop])[0], quality, crop

    def faces_in_photo(self, image: np.ndarray, *, source: str) -> list[tuple[np.ndarray, Quality]]:
        """Every large face of a photo (at least half the largest's size), embedded; EnrolmentError when there is
        none, or when the only large one is of poor quality."""
        image = shrink_to(image, ENROL_MAX_SIDE)
        detections = self.detector.detect(image)
        if not detections:
            raise EnrolmentError(f"{source}: no face found")
        large = [d for d in detections if d.eye_distance >= 0.5 * max(x.eye_distance for x in detections)]
        faces, problems = [], []
        for detection in large:
            crop = norm_crop(image, detection.landmarks, CROP_SIZE)
            quality = assess(detection, crop, self.limits)
            if not quality.ok:
                problems.append("; ".join(quality.problems))
            elif read_mask(crop).masked:
                problems.append(MASKED_PROBLEM)
            else:
                faces.append((self.embedder.embed([crop])[0], quality))
        if not faces:
            problem = problems[0]
            raise EnrolmentError(f"{source}: {problem if problem == MASKED_PROBLEM else 'poor quality: ' + problem}")
        return faces


def shrink_to(image: np.ndarray, max_side: int) -> np.ndarray:
    scale = max_side / max(image.shape[:2])
    return cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) if scale < 1 else image


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000.0


def load_models(config: FaceConfig, *, models_dir: Path | None = None) -> tuple[YuNetDetector | ScrfdDetector,
                                                                                 Embedder, QualityLimits]:
    """Verify the configured models (sha256) and load them; ModelError names the file and the fix."""
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
    return detector, embedder, limits


def _masked(track: Track, crop: np.ndarray) -> bool:
    """Whether the track's face is masked: the median of its newest MASK_VOTES readings."""
    votes = track.extra.setdefault("mask_votes", [])
    votes.append(read_mask(crop).probability)
    del votes[:-MASK_VOTES]
    return statistics.median(votes) >= MASKED_AT


def add_to_probe(extra: dict, embedding: np.ndarray, weight: float, kind: str = "bare") -> tuple[np.ndarray, int]:
    """Add a frame's embedding to a track's visit template of `kind` (bare or masked faces; quality-weighted);
    (the template, frames in it)."""
    total, count = extra.get(f"{kind}_probe_sum"), int(extra.get(f"{kind}_probe_frames", 0))
    total = max(weight, 1e-3) * embedding + (total if total is not None else 0.0)
    extra[f"{kind}_probe_sum"], extra[f"{kind}_probe_frames"] = total, count + 1
    return (total / max(float(np.linalg.norm(total)), 1e-12)).astype(np.float32), count + 1


def visit_verdict(per_frame: Match, fused: Match | None, fused_frames: int, *, evidence_frames: int) -> Match:
    """The visit's name: agreeing frames, or the visit template over `evidence_frames` frames; frames naming
    different residents name nobody, whatever the template says."""
    if per_frame.known or fused is None or per_frame.reason == "frames name different residents":
        return per_frame
    if fused.known and fused_frames >= evidence_frames:
        return Match(fused.resident_id, fused.name, fused.similarity, fused.runner_up, "match (visit template)",
                     fused.threshold, fused_frames, residents=fused.residents, unit=fused.unit, group=fused.group)
    return per_frame if per_frame.similarity >= fused.similarity else \
        Match(None, None, fused.similarity, fused.runner_up, fused.reason, fused.threshold, fused_frames,
              settled=per_frame.settled, residents=fused.residents)
