"""The running engine follows the store: any path that changes templates reaches it within a second."""

import time

import numpy as np

from edge.config import FaceConfig
from edge.face.gallery_follower import GalleryFollower
from edge.store import Store


def wait_for(condition, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


def vector(seed):
    v = np.random.default_rng(seed).normal(size=128).astype(np.float32)
    return v / np.linalg.norm(v)


def test_a_resident_removed_by_another_process_is_refused_within_a_second(engine_factory, empty_gallery, tmp_path):
    config = FaceConfig(recalibrate_s=0.2)
    with Store(tmp_path) as daemon_store:
        engine = engine_factory(empty_gallery)
        follower = GalleryFollower(daemon_store, engine, config)
        follower.refresh()
        follower.start()
        try:
            with Store(tmp_path) as cli_store:  # `gatepost residents add/remove` opens its own connection
                bob = cli_store.add_resident("Bob", "", [vector(1)], [1.0], ["cli"])
                assert wait_for(lambda: engine.matcher.search(vector(1)).name == "Bob")
                removed_at = time.monotonic()
                cli_store.remove_resident(bob)
            assert wait_for(lambda: not engine.matcher.search(vector(1)).known, timeout=1.0)
            assert time.monotonic() - removed_at < 1.0
            assert engine.matcher.search(vector(1)).reason == "gallery empty"
        finally:
            follower.close()


def test_visit_scores_refit_the_operating_point(engine_factory, empty_gallery, tmp_path):
    config = FaceConfig()
    with Store(tmp_path) as store:
        for seed in range(60):
            store.add_resident(f"r{seed}", "", [vector(seed)], [1.0], ["test"])
        engine = engine_factory(empty_gallery)
        follower = GalleryFollower(store, engine, config)
        assert follower.refresh() and not follower.refresh()  # nothing changed the second time
        before = engine.matcher.point
        for score in np.random.default_rng(2).gumbel(0.6, 0.02, 50):  # this camera: strangers score high
            store.add_visit_score(float(score), 60)
        assert follower.refresh()
        after = engine.matcher.point
        assert after.visit_samples == 50 and after.source == "visits" and after.threshold > before.threshold
