"""Each resident's enrolment photos searched as one template too: made from the photos alone, made again when they
change, counted by the pair statistics as they change, and finding the face that sits between the photos."""

import numpy as np

from edge.config import FaceConfig
from edge.face.fused import with_fused
from edge.face.gallery import FaceGallery
from edge.face.pair_statistics import PairStatistics, pair_scores
from edge.store import Store
from tests.vectors import unit


def fused_rows(gallery):
    return {int(owner): (int(i), row) for owner, i, row in zip(gallery.owners, gallery.ids, gallery.embeddings)
            if i < 0}


def test_the_mean_of_a_residents_enrolment_photos_only(tmp_path):
    rng = np.random.default_rng(1)
    with Store(tmp_path) as store:
        two = store.add_resident("two", "", list(unit(rng, 2)), [1.0, 1.0], ["t", "t"])
        one = store.add_resident("one", "", list(unit(rng, 1)), [1.0], ["t"])
        store.add_templates(one, list(unit(rng, 1)), [1.0], ["not this person"], negative=True)
        store.adapt(one, unit(rng, 1)[0], 0.7, "visit v1", keep=3)
        gallery = store.gallery()
        fused = with_fused(gallery)
        assert set(fused_rows(fused)) == {two}  # one photo, a learned template and a negative one: nothing to fuse
        photos = gallery.embeddings[gallery.owners == two]
        mean = photos.mean(axis=0)
        assert np.allclose(fused_rows(fused)[two][1], mean / np.linalg.norm(mean), atol=1e-6)
        assert not fused.adaptive[fused.ids < 0].any() and not fused.negative[fused.ids < 0].any()
        assert len(fused.owners) == len(gallery.owners) + 1 and fused.names == gallery.names
        again = with_fused(fused)  # a gallery read again holds one fused template a resident, not two
        assert np.array_equal(again.ids, fused.ids) and np.array_equal(again.embeddings, fused.embeddings)


def test_a_change_of_the_photos_is_a_new_fused_template(tmp_path):
    rng = np.random.default_rng(2)
    with Store(tmp_path) as store:
        resident = store.add_resident("r", "", list(unit(rng, 3)), [1.0] * 3, ["t"] * 3)
        before = fused_rows(with_fused(store.gallery()))[resident][0]
        store.remove_template(int(store.gallery().ids[0]))  # not the newest photo: the count tells
        removed = fused_rows(with_fused(store.gallery()))[resident][0]
        store.add_templates(resident, list(unit(rng, 1)), [1.0], ["t"])
        added = fused_rows(with_fused(store.gallery()))[resident][0]
        assert len({before, removed, added}) == 3
        store.remove_template(int(store.gallery().ids[0]))
        store.remove_template(int(store.gallery().ids[0]))
        assert fused_rows(with_fused(store.gallery())) == {}  # one photo left


def test_the_pair_statistics_follow_fused_templates_as_they_change(tmp_path):
    rng = np.random.default_rng(3)
    with Store(tmp_path) as store:
        ids = [store.add_resident(f"r{k}", "", list(unit(rng, 2)), [1.0, 1.0], ["t", "t"]) for k in range(30)]
        statistics = PairStatistics()
        statistics.update(with_fused(store.gallery()))
        store.remove_template(int(store.gallery().ids[store.gallery().owners == ids[3]][0]))
        store.add_templates(ids[4], list(unit(rng, 1)), [1.0], ["t"])
        store.remove_resident(ids[5])
        gallery = with_fused(store.gallery())
        assert statistics.update(gallery) == "incremental"
        counted, fresh = statistics.scores(), pair_scores(gallery)
        assert np.array_equal(counted.histogram, fresh.histogram) and np.allclose(counted.top, fresh.top)


def test_a_face_between_two_photos_is_found_by_their_mean_and_not_without_it(tmp_path):
    rng = np.random.default_rng(4)
    with Store(tmp_path) as store:
        for k in range(20):
            store.add_resident(f"r{k}", "", list(unit(rng, 2)), [1.0, 1.0], ["t", "t"])
        a, b = unit(rng, 2)
        midpoint = (a + b) / np.linalg.norm(a + b)
        # two photos of one face, each 0.55 from what the camera shows today, which sits between them
        today = unit(rng, 1)[0]
        today -= (today @ midpoint) * midpoint
        today /= np.linalg.norm(today)
        first, second = (0.55 * today + np.sqrt(1 - 0.55 ** 2) * side for side in (a - b, b - a))
        first, second = (v / np.linalg.norm(v) for v in (first, second))
        store.add_resident("between", "", [first, second], [1.0, 1.0], ["t", "t"])
        config = FaceConfig(match_threshold=0.7)
        assert FaceGallery(store, config).matcher.search(today).name == "between"
        without = FaceGallery(store, config.model_copy(update={"fused_template": False}))
        assert max(float(first @ today), float(second @ today)) < 0.7
        assert without.matcher.search(today).name is None


def test_turning_fused_templates_off_is_followed_without_a_change_of_the_gallery(tmp_path):
    rng = np.random.default_rng(5)
    with Store(tmp_path) as store:
        for k in range(5):
            store.add_resident(f"r{k}", "", list(unit(rng, 2)), [1.0, 1.0], ["t", "t"])
        gallery = FaceGallery(store, FaceConfig())
        assert gallery.refresh(now=100.0) and gallery.last_build["fused"] == 5
        gallery.reconfigure(FaceConfig(fused_template=False))
        assert gallery.refresh(now=200.0) and gallery.last_build["fused"] == 0
        assert len(gallery.matcher.gallery.owners) == 10
