"""Pair scores kept current change by change say what counting every pair from scratch says."""

import numpy as np

from edge.config import FaceConfig
from edge.face.gallery import FaceGallery
from edge.face.pair_statistics import TOP_KEPT, PairStatistics, pair_scores
from edge.store import Gallery, Store
from tests.vectors import unit


class Templates:
    """A gallery held in memory with store-like ids: templates come and go, ids are never reused."""

    def __init__(self, seed):
        self.rng = np.random.default_rng(seed)
        self.embeddings = np.zeros((0, 32), np.float32)
        self.owners = np.zeros(0, np.int64)
        self.ids = np.zeros(0, np.int64)
        self.next_id, self.next_owner = 1, 1

    def add_resident(self, photos=3):
        centre = unit(self.rng, 1)[0]
        photos_of = centre + 0.5 * unit(self.rng, photos)
        photos_of /= np.linalg.norm(photos_of, axis=1, keepdims=True)
        self.embeddings = np.concatenate([self.embeddings, photos_of.astype(np.float32)])
        self.owners = np.concatenate([self.owners, np.full(photos, self.next_owner)])
        self.ids = np.concatenate([self.ids, np.arange(self.next_id, self.next_id + photos)])
        self.next_id += photos
        self.next_owner += 1

    def remove_resident(self, owner):
        kept = self.owners != owner
        self.embeddings, self.owners, self.ids = self.embeddings[kept], self.owners[kept], self.ids[kept]

    def gallery(self):
        count = len(self.ids)
        return Gallery(self.embeddings, self.owners, np.zeros(count, bool), {}, 1, ids=self.ids)


def assert_same(kept, counted):
    assert np.array_equal(kept.owners, counted.owners)
    assert np.allclose(kept.best, counted.best, atol=1e-5)
    assert np.array_equal(kept.closest, counted.closest)
    assert abs(int(kept.histogram.sum()) - int(counted.histogram.sum())) == 0
    moved = kept.histogram - counted.histogram  # a product summed in another order may land across a bin edge:
    assert np.abs(np.cumsum(moved)).max() <= 2  # only into the next bin,
    assert np.abs(moved).sum() <= max(4, counted.pairs // 2000)  # and rarely (float32 rounding near an edge)
    assert np.allclose(kept.top, counted.top, atol=1e-5)


def test_changes_counted_one_by_one_match_a_count_from_scratch():
    templates = Templates(seed=1)
    for _ in range(120):
        templates.add_resident()
    statistics = PairStatistics()
    assert statistics.update(templates.gallery()) == "full"
    how = []
    for step in range(40):
        if step % 3 == 2:
            templates.remove_resident(int(templates.rng.choice(np.unique(templates.owners))))
        else:
            templates.add_resident(photos=1 + step % 3)
        how.append(statistics.update(templates.gallery()))
        assert_same(statistics.scores(), pair_scores(templates.gallery()))
    assert how.count("incremental") >= 35
    assert statistics.update(templates.gallery()) == "unchanged"


def test_removing_the_closest_pairs_finds_the_next_ones():
    """Residents whose photos are nearly alike hold the top pairs; removing them all leaves a top that must be
    counted again, and is."""
    templates = Templates(seed=2)
    for _ in range(80):
        templates.add_resident()
    twin = templates.embeddings[-1].copy()
    for _ in range(TOP_KEPT // 2 + 30):  # more near-identical pairs than the top keeps
        templates.embeddings = np.concatenate([templates.embeddings, twin[None, :]])
        templates.owners = np.concatenate([templates.owners, [templates.next_owner]])
        templates.ids = np.concatenate([templates.ids, [templates.next_id]])
        templates.next_id += 1
        templates.next_owner += 1
    statistics = PairStatistics()
    statistics.update(templates.gallery())
    full_counts = statistics.full_counts
    for owner in range(81, templates.next_owner - 2):
        templates.remove_resident(owner)
        statistics.update(templates.gallery())
    assert_same(statistics.scores(), pair_scores(templates.gallery()))
    assert statistics.full_counts > full_counts  # the kept top wore out and was counted again


def test_a_batch_is_searched_at_once_and_its_operating_point_derived_once_it_settles(tmp_path):
    rng = np.random.default_rng(3)
    with Store(tmp_path) as store:
        for k in range(150):
            store.add_resident(f"r{k}", "", list(unit(rng, 2, 128)), [1.0, 1.0], ["test", "test"])
        gallery = FaceGallery(store, FaceConfig())
        assert gallery.refresh(now=100.0) and gallery.last_build["pairs"] == "full"
        store.add_resident("first", "", list(unit(rng, 2, 128)), [1.0, 1.0], ["import", "import"])
        assert gallery.refresh(now=200.0)  # a lone change: derived at once, from the changed pairs only
        # 151 residents' two photos and each one's fused template (edge/face/fused.py)
        assert gallery.last_build["pairs"] == "incremental" and gallery.matcher.point.templates == 453
        probe = unit(rng, 1, 128)[0]
        store.add_resident("second", "", [probe], [1.0], ["import"])
        assert gallery.refresh(now=200.5)  # another within SETTLE_S: a batch
        assert gallery.matcher.search(probe).name == "second"  # searchable at once ...
        assert gallery.matcher.point.templates == 453  # ... at the operating point in force
        assert not gallery.refresh(now=201.0)  # still settling
        assert gallery.refresh(now=203.0)  # settled: derived for the whole batch
        assert gallery.matcher.point.templates == 454 and gallery.last_build["pairs"] == "incremental"  # one photo
        assert not gallery.refresh(now=204.0)


def test_a_gallery_read_since_another_holds_what_a_full_read_holds(tmp_path):
    rng = np.random.default_rng(4)
    with Store(tmp_path) as store:
        ids = [store.add_resident(f"r{k}", "", list(unit(rng, 2, 16)), [1.0, 1.0], ["t", "t"]) for k in range(5)]
        before = store.gallery()
        store.remove_resident(ids[1])
        store.add_resident("late", "", list(unit(rng, 3, 16)), [1.0] * 3, ["t"] * 3)
        since, full = store.gallery(since=before), store.gallery()
        assert np.array_equal(since.ids, full.ids) and np.array_equal(since.owners, full.owners)
        assert np.array_equal(since.embeddings, full.embeddings) and since.version == full.version
        assert since.names == full.names and len(full.ids) == 11
