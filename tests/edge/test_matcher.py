"""The matcher's verdict over a visit's frames: agreeing evidence, never one borderline frame."""

import numpy as np

from edge.face.matcher import Match, Matcher, verdict
from edge.store import Gallery

THRESHOLD = 0.5


def frame(resident, similarity):
    if resident is None:
        return Match(None, None, similarity, 0.1, "below threshold", THRESHOLD)
    return Match(resident, f"r{resident}", similarity, 0.1, "match", THRESHOLD)


def decide(*frames):
    return verdict(list(frames), evidence_frames=2, single_frame_margin=0.08)


def test_one_borderline_frame_waits_for_an_agreeing_one():
    first = decide(frame(7, 0.55))
    assert not first.known and not first.settled and first.reason == "awaiting an agreeing frame"
    second = decide(frame(7, 0.55), frame(7, 0.53))
    assert second.known and second.resident_id == 7 and second.frames == 2 and second.similarity == 0.55


def test_one_frame_far_above_the_threshold_is_enough():
    assert decide(frame(7, 0.58)).resident_id == 7
    assert not decide(frame(7, 0.5799)).known


def test_frames_naming_different_residents_name_nobody():
    mixed = decide(frame(7, 0.55), frame(8, 0.56), frame(7, 0.6))
    assert not mixed.known and mixed.settled and mixed.reason == "frames name different residents"


def test_an_unknown_frame_between_agreeing_ones_does_not_break_them():
    assert decide(frame(7, 0.55), frame(None, 0.45), frame(7, 0.52)).resident_id == 7


def test_no_known_frame_gives_the_best_unknown():
    result = decide(frame(None, 0.3), frame(None, 0.45))
    assert not result.known and result.similarity == 0.45 and result.settled


def test_margin_rejects_a_face_just_inside_it():
    """The margin is a rule, not a tie-break: 0.099 short of a 0.1 margin is refused, 0.101 passes."""
    base = np.array([1.0, 0.0], np.float32)
    gallery = Gallery(np.stack([base, np.array([0.0, 1.0], np.float32)]), np.array([1, 2]), np.zeros(2, bool),
                      {1: "A", 2: "B"}, 1)
    matcher = Matcher(gallery, threshold=0.5, margin=0.1)

    def probe(gap):
        # cosines 0.7 and 0.7 - gap with the two residents
        a, b = 0.7, 0.7 - gap
        return np.array([a, b], np.float32)

    assert matcher.search(probe(0.099)).reason == "ambiguous between residents"
    assert matcher.search(probe(0.101)).name == "A"
