"""The residents' store, rule by rule: the gallery it reads, learned templates, site records, visit scores."""

import numpy as np
import pytest

from edge.errors import StorageError
from edge.store import Store
from edge.store.residents import RECORD_AHEAD_S, Gallery, TemplateRecord


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


def vector(seed: int) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=8).astype(np.float32)
    return v / np.linalg.norm(v)


@pytest.fixture()
def clock():
    return Clock()


@pytest.fixture()
def store(tmp_path, clock):
    with Store(tmp_path, clock=clock) as opened:
        yield opened


def test_a_gallery_read_since_an_older_one_is_the_gallery_read_whole(store):
    first = store.add_resident("A", "1-101", [vector(1), vector(2)], [0.9, 0.8], ["a", "b"])
    before = store.gallery()
    second = store.add_resident("B", "", [vector(3)], [0.9], ["c"])
    store.add_templates(first, [vector(4)], [0.7], ["d"], negative=True)
    store.remove_template(int(before.ids[1]))
    store.set_access_group(second, "staff")
    since, whole = store.gallery(since=before), store.gallery()
    for field in ("embeddings", "owners", "negative", "adaptive", "ids"):
        assert np.array_equal(getattr(since, field), getattr(whole, field)), field
    assert whole.names == {first: "A", second: "B"} and whole.units == {first: "1-101"}
    assert whole.groups == {second: "staff"} and whole.version == store.gallery_version
    assert whole.owners.tolist() == [first, second, first] and whole.negative.tolist() == [False, False, True]
    assert np.allclose(whole.enrolled(first), vector(1)[None])
    assert Gallery(np.zeros((0, 0), np.float32), np.zeros(0, np.int64), np.zeros(0, bool), {}, 0).enrolled(1).size == 0


@pytest.mark.parametrize("removed", [False, True])
def test_a_gallery_read_since_one_with_rows_of_its_own_is_the_gallery_read_whole(store, removed):
    """The gallery owner passes what it searched: the store's rows, and its own (fused templates, negative ids)."""
    first = store.add_resident("A", "", [vector(1), vector(2)], [0.9, 0.8], ["a", "b"])
    read = store.gallery()
    own = Gallery(np.concatenate([read.embeddings, vector(9)[None]]), np.append(read.owners, first),
                  np.append(read.negative, False), read.names, read.version, np.append(read.adaptive, False),
                  np.append(read.ids, -first))
    store.add_resident("B", "", [vector(3)], [0.9], ["c"])
    if removed:
        store.remove_template(int(read.ids[0]))
    since, whole = store.gallery(since=own), store.gallery()
    for field in ("embeddings", "owners", "negative", "adaptive", "ids"):
        assert np.array_equal(getattr(since, field), getattr(whole, field)), field
    assert len(whole.ids) == (2 if removed else 3)


def test_an_empty_store_reads_an_empty_gallery(store):
    gallery = store.gallery()
    assert gallery.embeddings.shape == (0, 0) and gallery.owners.size == 0 and gallery.ids.size == 0
    assert gallery.owners.dtype == gallery.ids.dtype == np.int64  # integers even when there are none
    assert store.gallery(since=gallery).embeddings.shape == (0, 0)


def test_learned_templates_are_kept_newest_first_up_to_the_bound_and_enrolment_never_goes(store, clock):
    resident = store.add_resident("A", "", [vector(1)], [0.9], ["enrol"])
    added = []
    for seed in range(2, 6):
        clock.now += 10
        template, dropped = store.adapt(resident, vector(seed), 0.8, f"visit {seed}", keep=2)
        added.append((template, dropped))
    assert [d for _, d in added] == [[], [], [added[0][0]], [added[1][0]]]
    kept = store.templates(resident)
    assert [t.source for t in kept] == ["enrol", "visit 4", "visit 5"]
    assert [t.adaptive for t in kept] == [False, True, True]
    assert kept[1] == TemplateRecord(added[2][0], resident, "A", "visit 4", True, False, pytest.approx(0.8),
                                     clock.now - 10)
    gallery = store.gallery()
    assert gallery.adaptive.tolist() == [False, True, True] and len(gallery.enrolled(resident)) == 1
    with pytest.raises(StorageError, match="no resident with id 99"):
        store.adapt(99, vector(9), 0.8, "visit", keep=2)


def test_a_residents_last_template_stays_until_the_resident_goes(store):
    resident = store.add_resident("A", "", [vector(1)], [0.9], ["enrol"])
    store.add_templates(resident, [vector(2)], [0.5], ["not this person"], negative=True)
    enrol, negative = store.templates(resident)
    assert (enrol.negative, negative.negative) == (False, True)
    version = store.gallery_version
    with pytest.raises(StorageError, match=f"template {enrol.id} is resident {resident}'s last"):
        store.remove_template(enrol.id)
    assert store.gallery_version == version
    assert store.remove_template(negative.id) and store.gallery_version == version + 1
    assert store.remove_template(12345) is False
    with pytest.raises(StorageError, match="no resident with id 7"):
        store.add_templates(7, [vector(3)], [0.5], ["x"])
    with pytest.raises(StorageError, match="at least one template"):
        store.add_resident("B", "", [], [], [])


def test_a_site_record_applies_only_when_newer_and_a_far_future_version_does_not_pin_a_resident(store, clock):
    now_ms = int(clock.now * 1000)
    assert store.apply_resident_record("u1", now_ms, name="A", unit="2-1", embeddings=[vector(1)])
    version = store.gallery_version
    assert not store.apply_resident_record("u1", now_ms, name="B", embeddings=[vector(2)])  # a replay
    assert store.gallery_version == version
    resident = store.resident_by_uid("u1")
    assert (resident.name, resident.unit, resident.record_version, resident.templates) == ("A", "2-1", now_ms, 1)
    assert store.uid_of(resident.id) == "u1" and store.uid_of(999) is None
    assert store.apply_resident_record("u1", now_ms + 1) and store.resident_by_uid("u1") is None
    assert store.gallery_version == version + 1  # a site-wide removal reaches the running matcher
    assert not store.apply_resident_record("u1", now_ms, name="A", embeddings=[vector(1)])  # older than the removal
    ahead = int((clock.now + RECORD_AHEAD_S) * 1000)
    assert store.apply_resident_record("u2", ahead, name="C", embeddings=[vector(3)])
    assert not store.apply_resident_record("u2", ahead, name="C2", embeddings=[vector(3)])  # at the bound: trusted
    assert store.apply_resident_record("u3", ahead + 1, name="D", embeddings=[vector(4)])
    assert store.apply_resident_record("u3", now_ms, name="D2", embeddings=[vector(4)])  # beyond it: not a reason
    assert store.resident_by_uid("u3").name == "D2"


def test_visit_scores_are_the_newest_and_bounded(store):
    for index in range(6):
        store.add_visit_score(0.1 * index, 10 + index, keep=4)
    assert store.visit_scores(3) == [(pytest.approx(0.5), 15), (pytest.approx(0.4), 14), (pytest.approx(0.3), 13)]
    assert len(store.visit_scores(100)) == 4 and store.visit_score_count() == 6


def test_groups_numbers_and_visitors_ending(store, clock):
    resident = store.add_resident("A", "", [vector(1)], [0.9], ["x"])
    visitor = store.add_resident("V", "", [vector(2)], [0.9], ["x"], valid_until=clock.now + 60)
    version = store.gallery_version
    assert store.set_access_group(resident, "staff") and store.gallery_version == version + 1
    assert not store.set_access_group(999, "staff") and store.gallery_version == version + 1
    assert store.residents()[0].access_group == "staff"
    assert store.controller_number(resident) is None
    assert store.set_controller_number(resident, 4242) and store.controller_number(resident) == 4242
    assert store.set_controller_number(resident, 0) and store.controller_number(resident) == 0
    assert not store.set_controller_number(999, 1)
    assert store.expired(clock.now + 59) == [] and store.expired(clock.now + 60) == [(visitor, "V")]
    assert [r.id for r in store.find_residents("A")] == [resident]
    assert store.remove_resident(visitor) and not store.remove_resident(visitor)
    assert not store.apply_resident_record(store.uid_of(resident) or "", 0)  # older than what is held


def test_templates_added_later_are_positive_unless_marked_and_lists_must_match(store):
    resident = store.add_resident("A", "", [vector(1)], [0.9], ["enrol"])
    store.add_templates(resident, [vector(2)], [0.6], ["later"])
    assert [t.negative for t in store.templates(resident)] == [False, False]
    with pytest.raises(ValueError):
        store.add_templates(resident, [vector(3), vector(4)], [0.6], ["a", "b"])
    with pytest.raises(ValueError):
        store.add_resident("B", "", [vector(5), vector(6)], [0.6, 0.7], ["a"])
    assert len(store.templates()) == 2 and len(store.residents()) == 1  # nothing partial


def test_a_site_records_templates_are_its_own_and_say_where_they_came_from(store, clock):
    assert store.apply_resident_record("u9", int(clock.now * 1000), name="S", embeddings=[vector(7), vector(8)])
    resident = store.resident_by_uid("u9")
    assert [(t.source, t.quality) for t in store.templates(resident.id)] == [("site record", 0.0)] * 2
    gallery = store.gallery()
    assert np.allclose(gallery.embeddings, np.stack([vector(7), vector(8)]))


def test_a_gallery_read_since_another_reads_only_the_new_templates_from_disk(store):
    import dataclasses

    store.add_resident("A", "", [vector(1), vector(2)], [0.9, 0.8], ["a", "b"])
    before = store.gallery()
    marked = dataclasses.replace(before, embeddings=np.ones_like(before.embeddings))  # what it holds, told apart
    store.add_resident("B", "", [vector(3)], [0.9], ["c"])
    since = store.gallery(since=marked)
    assert np.array_equal(since.embeddings[:2], np.ones((2, 8), np.float32))  # taken from the one held
    assert np.allclose(since.embeddings[2], vector(3))
    assert since.ids.dtype == np.int64 and since.owners.dtype == np.int64
