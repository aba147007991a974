"""The gallery's one owner, rule by rule: when it derives again, counts every pair again, and who is a lookalike."""

import numpy as np
import pytest

from edge.config import FaceConfig
from edge.face.gallery import (DEFER_AT_MOST_S, RECOUNT_EVERY_S, SETTLE_S, FaceGallery, FixedMatcher, build_matcher,
                               default_law, lookalikes_of)
from edge.store import Store
from tests.vectors import unit


@pytest.fixture()
def followed(tmp_path):
    rng = np.random.default_rng(5)
    with Store(tmp_path) as store:
        for k in range(120):
            store.add_resident(f"r{k}", "", list(unit(rng, 2)), [1.0, 1.0], ["t", "t"])
        gallery = FaceGallery(store, FaceConfig())
        assert gallery.refresh(now=100.0) and gallery.last_build["pairs"] == "full"
        yield store, gallery, rng


def test_new_settings_are_derived_at_the_next_check_and_another_model_counts_every_pair_again(followed):
    store, gallery, _ = followed
    before = gallery.matcher.threshold
    assert not gallery.refresh(now=110.0)
    gallery.reconfigure(FaceConfig(max_false_accept=1e-2))
    assert gallery.refresh(now=111.0) and gallery.last_build["pairs"] == "unchanged"
    assert gallery.matcher.threshold < before and gallery.matcher.point.target_fpir == 1e-2
    gallery.reconfigure(FaceConfig(max_false_accept=1e-2, pack="buffalo_s"))
    assert gallery.refresh(now=112.0) and gallery.last_build["pairs"] == "full"
    gallery.reconfigure(FaceConfig(max_false_accept=1e-2, pack="buffalo_s", embedder="arcface"))
    assert gallery.refresh(now=113.0) and gallery.last_build["pairs"] == "full"
    assert gallery._law == default_law(FaceConfig(pack="buffalo_s"))


def test_every_pair_is_counted_again_after_six_hours(followed):
    store, gallery, rng = followed
    store.add_resident("late", "", list(unit(rng, 2)), [1.0, 1.0], ["t", "t"])
    assert gallery.refresh(now=100.0 + RECOUNT_EVERY_S - 10) and gallery.last_build["pairs"] == "incremental"
    store.add_resident("later", "", list(unit(rng, 2)), [1.0, 1.0], ["t", "t"])
    assert gallery.refresh(now=100.0 + RECOUNT_EVERY_S) and gallery.last_build["pairs"] == "full"


def test_each_build_says_what_it_took(followed, monkeypatch):
    from edge.face import gallery as module

    store, gallery, rng = followed
    ticks = {"wall": 10.0, "cpu": 1.0}

    def wall():
        ticks["wall"] += 0.125
        return ticks["wall"]

    def cpu():
        ticks["cpu"] += 0.0625
        return ticks["cpu"]

    monkeypatch.setattr(module.time, "perf_counter", wall)
    monkeypatch.setattr(module.time, "thread_time", cpu)
    store.add_resident("late", "", list(unit(rng, 2)), [1.0, 1.0], ["t", "t"])
    assert gallery.refresh(now=200.0)
    assert gallery.last_build == {"version": store.gallery_version, "pairs": "incremental", "templates": 242 + 121,
                                  "fused": 121, "ms": 125.0, "cpu_ms": 62.5}  # each resident's two photos, fused


def test_the_kept_pair_scores_and_the_gates_own_law_are_what_a_build_uses(followed, monkeypatch):
    from edge.face import gallery as module
    from edge.face.operating_point import PairLaw

    store, gallery, rng = followed

    def never(*args, **kwargs):
        raise AssertionError("every pair counted again for one change")

    monkeypatch.setattr(module, "pair_scores", never)
    shipped = gallery.matcher.threshold
    gallery._law = PairLaw(t1=0.95, share1=1e-2, t2=0.99, share2=1e-5)  # a law no embedder here would give
    store.add_resident("late", "", list(unit(rng, 2)), [1.0, 1.0], ["t", "t"])
    assert gallery.refresh(now=200.0)
    assert gallery.matcher.point.source == "blended" and gallery.matcher.threshold > shipped + 0.05


def test_a_visit_score_moves_the_operating_point_only_every_25(followed):
    store, gallery, _ = followed
    store.add_visit_score(0.3, 120)
    assert not gallery.refresh(now=200.0)
    for _ in range(24):
        store.add_visit_score(0.3, 120)
    assert gallery.refresh(now=201.0)


def test_the_gallery_is_read_since_the_one_held(followed, monkeypatch):
    store, gallery, rng = followed
    asked = []
    real = store.gallery
    monkeypatch.setattr(store, "gallery", lambda since=None: asked.append(since) or real(since=since))
    held = gallery.matcher
    store.add_resident("late", "", list(unit(rng, 2)), [1.0, 1.0], ["t", "t"])
    assert gallery.refresh(now=200.0)
    assert len(asked) == 1 and asked[0] is held.gallery
    held = gallery.matcher
    store.add_resident("later", "", list(unit(rng, 2)), [1.0, 1.0], ["t", "t"])
    gallery.changed()  # stored here: searched from the next frame, at the operating point in force
    assert gallery.matcher.point is held.point and gallery.matcher.version == store.gallery_version
    assert len(asked) == 2 and asked[1] is held.gallery


def test_a_build_for_an_older_gallery_keeps_the_newer_one_and_derives_again(followed):
    store, gallery, rng = followed
    older = gallery.matcher
    store.add_resident("late", "", list(unit(rng, 2)), [1.0, 1.0], ["t", "t"])
    gallery.changed()
    newer = gallery.matcher
    gallery._install(older, (older.version, 0))
    assert gallery.matcher.gallery is newer.gallery and gallery.matcher.point is older.point
    assert gallery.matcher.lookalikes is older.lookalikes and gallery.matcher.lookalike_margin == older.lookalike_margin
    assert gallery.refresh(now=200.0)  # derived again for the newer gallery


def test_a_change_exactly_settle_s_after_the_last_is_not_a_batch_and_a_batch_settles_exactly_then(followed):
    store, gallery, rng = followed
    store.add_resident("a", "", list(unit(rng, 1)), [1.0], ["t"])
    assert gallery.refresh(now=200.0)
    store.add_resident("b", "", list(unit(rng, 1)), [1.0], ["t"])
    assert gallery.refresh(now=200.0 + SETTLE_S) and gallery.last_build["version"] == store.gallery_version
    store.add_resident("c", "", list(unit(rng, 1)), [1.0], ["t"])
    assert gallery.refresh(now=203.0) and gallery.last_build["version"] < store.gallery_version  # a batch
    assert not gallery.refresh(now=203.0 + SETTLE_S - 0.5)
    assert gallery.refresh(now=203.0 + SETTLE_S) and gallery.last_build["version"] == store.gallery_version


def test_a_batch_that_never_settles_is_derived_after_a_minute_at_most(followed):
    store, gallery, rng = followed
    now = 200.0
    store.add_resident("first", "", list(unit(rng, 2)), [1.0, 1.0], ["t", "t"])
    assert gallery.refresh(now=now) and gallery.last_build["version"] == store.gallery_version
    derived = []
    while now < 200.0 + DEFER_AT_MOST_S + 5:
        now += 1.0
        store.add_resident(f"b{now}", "", list(unit(rng, 1)), [1.0], ["t"])
        assert gallery.refresh(now=now)  # searched at once, every time
        if gallery.last_build["version"] == store.gallery_version:
            derived.append(now)
    assert derived and derived[0] == 200.0 + DEFER_AT_MOST_S
    assert gallery.matcher.version == store.gallery_version


def test_a_batch_that_stops_late_is_derived_a_minute_after_it_began(followed):
    store, gallery, rng = followed
    store.add_resident("first", "", list(unit(rng, 2)), [1.0, 1.0], ["t", "t"])
    assert gallery.refresh(now=200.0)
    for second in range(1, 60):
        store.add_resident(f"b{second}", "", list(unit(rng, 1)), [1.0], ["t"])
        assert gallery.refresh(now=200.0 + second)
    assert gallery.last_build["version"] < store.gallery_version
    assert gallery.refresh(now=200.0 + DEFER_AT_MOST_S)  # one second after the last change: not settled, but due
    assert gallery.last_build["version"] == store.gallery_version


def test_lookalikes_are_pairs_at_or_above_the_floor_never_a_resident_with_themselves():
    owners = np.array([2, 1, 3, 4, 4, 5])
    best = np.array([0.6, 0.55, 0.49, 0.7, 0.9, 0.5])
    closest = np.array([1, 2, 1, 4, 1, 3])
    pairs = lookalikes_of(owners, best, closest, 0.5)  # each pair at its highest score, whichever came first
    assert dict(pairs.pairs) == {frozenset((1, 2)): 0.6, frozenset((1, 4)): 0.9, frozenset((3, 5)): 0.5}


def test_a_fixed_matcher_is_the_one_it_was_given_and_a_fixed_threshold_is_used_as_set():
    rng = np.random.default_rng(2)
    from edge.store import Gallery

    vectors = unit(rng, 4)
    gallery = Gallery(vectors, np.arange(1, 5), np.zeros(4, bool), {i: str(i) for i in range(1, 5)}, 1)
    matcher = build_matcher(gallery, FaceConfig(match_threshold=0.45))
    assert FixedMatcher(matcher).matcher is matcher
    assert matcher.threshold == 0.45 and matcher.point.residents == 4 and matcher.point.source == "fixed"


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def toward(base, other, cosine):
    side = other - (other @ base) * base
    mixed = cosine * base + np.sqrt(1 - cosine ** 2) * side / np.linalg.norm(side)
    return (mixed / np.linalg.norm(mixed)).astype(np.float32)


@pytest.fixture()
def two(tmp_path):
    rng = np.random.default_rng(11)
    alice = unit(rng, 1, 64)[0]
    bob = toward(alice, unit(rng, 1, 64)[0], 0.7)
    clock = Clock()
    with Store(tmp_path, clock=clock) as store:
        ids = (store.add_resident("Alice", "", [alice], [1.0], ["enrolment"]),
               store.add_resident("Bob", "", [bob], [1.0], ["enrolment"]))
        yield store, clock, ids, alice, bob, rng


def owner(store, **settings):
    config = FaceConfig(**{"match_threshold": 0.5, "match_margin": 0.0625, "adapt_margin": 0.125,
                           "adaptive_templates": 2, "adapt_every_s": 0.0, **settings})
    return FaceGallery(store, config)


@pytest.mark.parametrize("settings, frames, similarity, runner_up, taught", [
    ({}, 2, 0.75, 0.5, True),  # two frames are a visit
    ({}, 1, 0.75, 0.5, False),
    ({"adaptive_templates": 1}, 3, 0.75, 0.5, True),
    ({"adaptive_templates": 0}, 3, 0.75, 0.5, False),
    ({}, 3, 0.625, 0.5, True),  # exactly the adapt margin above the threshold
    ({}, 3, 0.6, 0.4, False),  # just under it
    ({}, 3, 0.75, 0.625, True),  # exactly twice the margin ahead of the runner-up
    ({}, 3, 0.75, 0.65, False),  # a clear score, but the runner-up too close
])
def test_what_a_visit_must_show_to_teach_a_template(two, settings, frames, similarity, runner_up, taught):
    store, _, (alice_id, _), alice, _, rng = two
    probe = toward(alice, unit(rng, 1, 64)[0], 0.8)
    result = owner(store, **settings).adapt("v", alice_id, probe, frames=frames, match_similarity=similarity,
                                            runner_up=runner_up)
    assert (result is not None) == taught
    if taught:
        assert result.score == pytest.approx(0.8, abs=1e-5)


def test_a_visit_is_anchored_to_its_own_residents_enrolment_and_their_own_learning_pace(two):
    store, clock, (alice_id, bob_id), alice, bob, rng = two
    gallery = owner(store, adapt_every_s=60.0)
    far = toward(alice, unit(rng, 1, 64)[0], 0.6)
    assert gallery.adapt("far", alice_id, far, frames=3, match_similarity=0.9, runner_up=0.5) is None  # 0.6 < 0.625
    like_bob = toward(bob, alice, 0.999)  # Alice's enrolment scores it 0.7: hers to learn, though Bob's photo is alike
    assert gallery.adapt("b", alice_id, like_bob, frames=3, match_similarity=0.9, runner_up=0.5) is not None
    assert gallery.adapt("c", bob_id, toward(bob, unit(rng, 1, 64)[0], 0.8), frames=3, match_similarity=0.9,
                         runner_up=0.5) is not None  # Bob's pace is his own
    clock.now += 60.0
    assert gallery.adapt("d", alice_id, toward(alice, unit(rng, 1, 64)[0], 0.8), frames=3, match_similarity=0.9,
                         runner_up=0.5) is not None  # exactly a period later


def test_the_visits_a_guard_can_still_take_back_are_the_newest(two, monkeypatch):
    from edge.face import gallery as module

    monkeypatch.setattr(module, "TAUGHT_KEPT", 2)
    store, _, (alice_id, _), alice, _, rng = two
    gallery = owner(store, adaptive_templates=5)
    for name in ("v1", "v2", "v3"):
        assert gallery.adapt(name, alice_id, toward(alice, unit(rng, 1, 64)[0], 0.8), frames=3,
                             match_similarity=0.9, runner_up=0.5) is not None
    assert gallery.forget_visit("v1") is None
    assert gallery.forget_visit("v3") is not None and gallery.forget_visit("v2") is not None


def test_a_change_before_the_first_build_builds_it(tmp_path):
    with Store(tmp_path) as store:
        resident = store.add_resident("A", "", list(unit(np.random.default_rng(1), 1)), [1.0], ["t"])
        gallery = FaceGallery(store, FaceConfig())
        assert gallery.last_build == {}
        gallery.close()  # never started: nothing to stop
        gallery.changed()
        assert gallery._matcher is not None and gallery.matcher.gallery.owners.tolist() == [resident]
