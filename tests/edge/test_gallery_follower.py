"""The gallery's one owner follows the store: any path that changes templates reaches the engine within a second."""

import time

import numpy as np

from edge.config import FaceConfig
from edge.face.gallery import FaceGallery
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


def test_a_resident_removed_by_another_process_is_refused_within_a_second(engine_factory, tmp_path):
    config = FaceConfig(recalibrate_s=0.2)
    with Store(tmp_path) as daemon_store:
        gallery = FaceGallery(daemon_store, config)
        engine = engine_factory(gallery)
        gallery.refresh()
        gallery.start()
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
            gallery.close()


def test_visit_scores_refit_the_operating_point(tmp_path):
    config = FaceConfig()
    with Store(tmp_path) as store:
        for seed in range(60):
            store.add_resident(f"r{seed}", "", [vector(seed)], [1.0], ["test"])
        gallery = FaceGallery(store, config)
        assert gallery.refresh() and not gallery.refresh()  # nothing changed the second time
        before = gallery.matcher.point
        for score in np.random.default_rng(2).gumbel(0.6, 0.02, 50):  # this camera: strangers score high
            store.add_visit_score(float(score), 60)
        assert gallery.refresh()
        after = gallery.matcher.point
        assert after.visit_samples == 50 and after.source == "visits" and after.threshold > before.threshold


def test_one_failed_rebuild_is_a_fault_and_the_next_change_still_arrives(tmp_path, caplog):
    """The thread that follows the store survives an error (a locked database, say): it keeps the last matcher,
    reports the fault (in the journal once, however often it recurs), and applies the next change when it can."""
    config = FaceConfig(recalibrate_s=0.05)
    with Store(tmp_path) as store:
        gallery = FaceGallery(store, config)
        gallery.refresh()
        real = store.gallery
        locked = [True]
        tries = []

        def flaky(**since):
            if locked[0]:
                tries.append(1)
                raise RuntimeError("database is locked")
            return real(**since)

        store.gallery = flaky
        gallery.start()
        try:
            store.add_resident("Ann", "", [vector(3)], [1.0], ["cli"])
            assert wait_for(lambda: gallery.error == "gallery: RuntimeError: database is locked" and len(tries) >= 3)
            assert not gallery.matcher.search(vector(3)).known  # the last matcher, kept
            assert caplog.text.count("rebuilding the matcher failed") == 1
            locked[0] = False
            assert wait_for(lambda: gallery.matcher.search(vector(3)).name == "Ann")
            assert wait_for(lambda: gallery.error is None)
            store.add_resident("Ben", "", [vector(4)], [1.0], ["cli"])
            assert wait_for(lambda: gallery.matcher.search(vector(4)).name == "Ben")
        finally:
            gallery.close()
        assert gallery._thread is None
        gallery.close()  # twice: nothing left to stop


def test_a_gallery_that_cannot_rebuild_is_a_fault_of_the_face_stage(engine_factory, tmp_path):
    """The follower's error was kept and never raised as a gate fault: the gate searched a stale gallery silently."""
    from edge.stages.face import FaceStage

    with Store(tmp_path) as store:
        gallery = FaceGallery(store, FaceConfig())
        stage = FaceStage(engine_factory(gallery))
        assert stage.fault is None
        gallery.error = "gallery: OperationalError: database is locked"
        assert stage.fault == "gallery: OperationalError: database is locked"
