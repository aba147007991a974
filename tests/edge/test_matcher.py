"""The matcher's verdict over a visit's frames: agreeing evidence, never one borderline frame."""

import numpy as np

import pytest

from edge.face.matcher import SHORTLIST, Lookalikes, Match, Matcher, verdict
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


# Search: gallery rows are orthonormal, so a probe's coordinates are exactly its scores.

def orthonormal_gallery(owners, negative=(), names=None, version=3):
    owners = np.array(owners, np.int64)
    flags = np.zeros(len(owners), bool)
    flags[list(negative)] = True
    names = names or {int(o): f"r{o}" for o in owners}
    return Gallery(np.eye(len(owners), dtype=np.float32), owners, flags, names, version)


def probe(*scores):
    return np.array(scores, np.float32)


def test_an_empty_gallery_names_nobody():
    matcher = Matcher(orthonormal_gallery([]), threshold=0.5, margin=0.1)
    assert matcher.search(probe()) == Match(None, None, 0.0, 0.0, "gallery empty", 0.5)
    assert matcher.scores_by_resident(probe()) == {}


def test_without_a_point_or_threshold_the_fixed_fallback_is_used():
    matcher = Matcher(orthonormal_gallery([1, 2]), margin=0.1)
    assert matcher.threshold == 0.42 and matcher.point.source == "fixed" and matcher.point.residents == 2


def test_a_stranger_below_the_threshold_is_reported_with_both_scores():
    matcher = Matcher(orthonormal_gallery([1, 2, 3]), threshold=0.5, margin=0.1)
    assert matcher.search(probe(0.375, 0.25, 0.125)) == Match(None, None, 0.375, 0.25, "below threshold", 0.5,
                                                              residents=3)
    assert matcher.search(probe(0.5, 0.25, 0.125)).resident_id == 1  # the threshold itself is enough


def test_a_match_carries_name_scores_threshold_and_gallery_size():
    matcher = Matcher(orthonormal_gallery([1, 2], names={1: "Alice", 2: "Bob"}), threshold=0.5, margin=0.1)
    assert matcher.search(probe(0.25, 0.75)) == Match(2, "Bob", 0.75, 0.25, "match", 0.5, residents=2)
    assert matcher.version == 3


def test_a_lone_resident_has_no_runner_up():
    matcher = Matcher(orthonormal_gallery([5]), threshold=0.5, margin=0.1)
    assert matcher.search(probe(0.6)).runner_up == -1.0


def test_each_resident_is_scored_by_their_best_template():
    matcher = Matcher(orthonormal_gallery([1, 1, 2]), threshold=0.5, margin=0.1)
    assert matcher.scores_by_resident(probe(0.2, 0.7, 0.4)) == pytest.approx({1: 0.7, 2: 0.4})
    assert list(matcher.scores_by_resident(probe(0.2, 0.3, 0.4))) == [2, 1]  # highest first
    assert matcher.residents == 2


def test_the_shortlist_still_finds_every_resident_best_in_a_large_gallery():
    owners = list(range(100))
    matcher = Matcher(orthonormal_gallery(owners), threshold=0.5, margin=0.005)
    scores = np.linspace(0.0, 0.99, 100)[::-1].astype(np.float32)
    best = matcher.scores_by_resident(scores)
    assert set(best) == set(range(SHORTLIST)) and list(best)[:2] == [0, 1] and best[0] == pytest.approx(0.99)
    assert matcher.search(scores).resident_id == 0


def test_lookalikes_are_held_to_their_own_margin_and_others_to_the_usual_one():
    lookalikes = Lookalikes({frozenset((1, 2)): 0.6})
    matcher = Matcher(orthonormal_gallery([1, 2, 3]), threshold=0.5, margin=0.05, lookalike_margin=0.2,
                      lookalikes=lookalikes)
    assert matcher.lookalike_margin == 0.2
    assert matcher.search(probe(0.8, 0.65, 0.0)).reason == "ambiguous between residents"
    assert matcher.search(probe(0.8, 0.59, 0.0)).resident_id == 1
    assert matcher.search(probe(0.8, 0.0, 0.7)).resident_id == 1  # 1 and 3 are not lookalikes
    assert frozenset((1, 2)) in lookalikes and frozenset((1, 3)) not in lookalikes


def test_a_lookalike_margin_below_the_margin_never_loosens_it():
    matcher = Matcher(orthonormal_gallery([1, 2]), threshold=0.5, margin=0.1, lookalike_margin=0.01,
                      lookalikes=Lookalikes({frozenset((1, 2)): 0.6}))
    assert matcher.lookalike_margin == 0.1
    assert Matcher(orthonormal_gallery([1, 2]), threshold=0.5, margin=0.1).lookalike_margin == 0.1


def test_a_face_marked_not_this_person_is_not_that_resident():
    gallery = orthonormal_gallery([1, 1, 2], negative=[1])  # row 1: a stranger once taken for resident 1
    matcher = Matcher(gallery, threshold=0.5, margin=0.1)
    assert matcher.residents == 2
    assert matcher.search(probe(0.7, 0.7, 0.2)).resident_id is None  # as close to the stranger: refused
    assert matcher.search(probe(0.7, 0.7, 0.2)).reason == "below threshold"
    assert matcher.search(probe(0.7, 0.69, 0.2)).resident_id == 1
    only = Matcher(orthonormal_gallery([1, 1], negative=[1]), threshold=0.5, margin=0.1)
    assert only.search(probe(0.7, 0.8)) == Match(None, None, 0.0, 0.0, "marked not this person", 0.5)
    assert Matcher(orthonormal_gallery([1, 2], negative=[1]), threshold=0.5, margin=0.1).search(
        probe(0.6, 0.9)).resident_id == 1  # a negative template of someone else's does not count


def test_the_same_point_carries_over_to_a_changed_gallery():
    matcher = Matcher(orthonormal_gallery([1, 2]), threshold=0.55, margin=0.07, lookalike_margin=0.2,
                      lookalikes=Lookalikes({frozenset((1, 2)): 0.6}))
    changed = matcher.with_gallery(orthonormal_gallery([1, 2, 3], version=4))
    assert (changed.threshold, changed.margin, changed.lookalike_margin, changed.version) == (0.55, 0.07, 0.2, 4)
    assert changed.point is matcher.point and changed.lookalikes is matcher.lookalikes
    assert changed.residents == 3


def test_each_verdict_carries_the_evidence_behind_it():
    many = [Match(7, "r7", 0.55, 0.2, "match", THRESHOLD, residents=40), Match(7, "r7", 0.57, 0.3, "match",
                                                                               THRESHOLD, residents=40)]
    assert decide(*many) == Match(7, "r7", 0.57, 0.3, "match", THRESHOLD, 2, residents=40)
    assert decide(many[0]) == Match(None, None, 0.55, 0.2, "awaiting an agreeing frame", THRESHOLD, 1,
                                    settled=False)
    mixed = decide(frame(7, 0.55), frame(None, 0.3), frame(8, 0.6))
    assert mixed == Match(None, None, 0.6, 0.1, "frames name different residents", THRESHOLD, 3)


def test_the_number_of_agreeing_frames_is_configurable():
    three = [frame(7, 0.55), frame(7, 0.54)]
    assert not verdict(three, evidence_frames=3, single_frame_margin=0.08).known
    assert verdict(three + [frame(7, 0.53)], evidence_frames=3, single_frame_margin=0.08).frames == 3
    assert verdict([frame(7, 0.6)], evidence_frames=3, single_frame_margin=0.1).resident_id == 7  # exactly at it


def test_two_lookalikes_alone_in_the_gallery_are_held_to_their_margin():
    matcher = Matcher(orthonormal_gallery([1, 2]), threshold=0.5, margin=0.05, lookalike_margin=0.25,
                      lookalikes=Lookalikes({frozenset((1, 2)): 0.6}))
    assert matcher.search(probe(0.75, 0.625)) == Match(None, None, 0.75, 0.625, "ambiguous between residents", 0.5,
                                                       residents=2)
    assert matcher.search(probe(0.75, 0.5)).resident_id == 1  # exactly the margin apart is enough


def test_a_verdict_still_waiting_counts_its_frames():
    waiting = verdict([frame(7, 0.55), frame(7, 0.54)], evidence_frames=3, single_frame_margin=0.08)
    assert (waiting.settled, waiting.frames, waiting.reason) == (False, 2, "awaiting an agreeing frame")
