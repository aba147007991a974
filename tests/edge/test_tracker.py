"""Following faces across frames: one person, one track; someone else at the same place is a new one."""

import numpy as np

from edge.face.detector import Detection
from edge.face.matcher import Match
from edge.face.quality import QualityLimits, assess
from edge.face.tracker import Tracker, iou


def face(x, y, size, score=0.9):
    """A detection whose eyes are `0.42 * size` apart, centred at (x, y)."""
    half = size / 2
    eye = 0.21 * size
    landmarks = np.array([[x - eye, y - 0.1 * size], [x + eye, y - 0.1 * size], [x, y + 0.05 * size],
                          [x - 0.15 * size, y + 0.25 * size], [x + 0.15 * size, y + 0.25 * size]], np.float32)
    return Detection(np.array([x - half, y - half, x + half, y + half], np.float32), landmarks, score)


def test_a_face_moving_a_little_keeps_its_track():
    tracker = Tracker()
    first = tracker.update([face(320, 240, 120)], 0.0)[0]
    second = tracker.update([face(326, 242, 126)], 0.04)[0]
    assert second.track_id == first.track_id and second.hits == 2


def test_a_smaller_face_revealed_at_the_same_place_is_someone_else():
    tracker = Tracker()
    first = tracker.update([face(320, 240, 130)], 0.0)[0]
    first.match = Match(1, "Alice", 0.8, 0.1, "match")
    behind = tracker.update([face(320, 235, 90)], 0.04)[0]
    assert behind.track_id != first.track_id and behind.match is None


def test_a_small_face_keeps_its_track_while_its_eye_landmarks_wander():
    """At 1280x720 faces are found on a 640-wide copy: one still resident's eye distance read 29.2, 35.2 and
    28.7 pixels on successive frames while her box stayed 65 wide; by eye distance that was someone else,
    a new track, and her fever was decided twice."""
    tracker = Tracker()
    tracks = []
    for n, eyes in enumerate([29.2, 35.2, 28.7, 29.1]):
        detection = face(640, 300, 65)
        centre = detection.landmarks[:2].mean(axis=0)
        detection.landmarks[:2] = centre + (detection.landmarks[:2] - centre) * eyes / detection.eye_distance
        tracks.append(tracker.update([detection], n * 0.04)[0])
    assert {t.track_id for t in tracks} == {tracks[0].track_id}


def test_a_face_missing_for_a_frame_loses_its_name_until_recognised_again():
    tracker = Tracker()
    track = tracker.update([face(320, 240, 120)], 0.0)[0]
    track.match = Match(1, "Alice", 0.8, 0.1, "match")
    track.extra["frames"] = [track.match]
    tracker.update([], 0.04)
    again = tracker.update([face(322, 240, 121)], 0.08)[0]
    assert again.track_id == track.track_id and again.match is None and "frames" not in again.extra


def test_tracks_unseen_for_long_are_forgotten():
    tracker = Tracker(max_age_s=0.5)
    tracker.update([face(100, 100, 80)], 0.0)
    tracker.update([], 0.6)
    assert tracker.tracks == {}


def test_a_face_after_frames_the_gate_skipped_at_rest_is_a_new_track():
    """At rest the detector skips frames (edge/presence.py): whoever is found at the same place seconds later,
    with no update in between, is someone new and never inherits the old track's name."""
    tracker = Tracker(max_age_s=0.5)
    track = tracker.update([face(320, 240, 120)], 0.0)[0]
    track.match = Match(1, "Alice", 0.8, 0.1, "match")
    later = tracker.update([face(320, 240, 120)], 3.0)[0]
    assert later.track_id != track.track_id and later.match is None


def test_iou_of_boxes():
    a = np.array([0, 0, 10, 10], np.float32)
    assert iou(a, a) == 1.0 and iou(a, np.array([20, 20, 30, 30], np.float32)) == 0.0
    assert abs(iou(a, np.array([5, 0, 15, 10], np.float32)) - 1 / 3) < 1e-6


def test_quality_names_each_problem():
    limits = QualityLimits(min_eye_distance_px=24, min_sharpness=30, max_yaw=0.35, min_score=0.6)
    sharp = (np.indices((112, 112)).sum(axis=0) % 2 * 255).astype(np.uint8)
    good = assess(face(320, 240, 120), np.dstack([sharp] * 3), limits)
    assert good.ok and good.value > 0
    small_blurred_unsure = assess(face(50, 50, 30, score=0.5), np.full((112, 112, 3), 127, np.uint8), limits)
    assert [p.split(" ")[0] for p in small_blurred_unsure.problems] == ["too", "blurred", "uncertain"]
    turned = face(320, 240, 120)
    turned.landmarks[2, 0] += 30  # the nose far off the eyes' middle
    assert any(p.startswith("turned away") for p in assess(turned, np.dstack([sharp] * 3), limits).problems)
