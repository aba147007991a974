"""Templates that keep up: what a visit may teach the gallery, and what it never may."""

import subprocess
import sys
import threading

import numpy as np
import pytest

from edge.config import FaceConfig
from edge.face.gallery import FaceGallery
from edge.face.lessons import LESSONS_WAITING, Lesson
from edge.store import Store
from tests.conftest import ROOT
from tests.emulators import wait_for


def unit(vector):
    vector = np.asarray(vector, np.float32)
    return vector / np.linalg.norm(vector)


def random_unit(rng, dimension=128):
    return unit(rng.normal(size=dimension))


def towards(base, other, cosine):
    """A unit vector at `cosine` from `base`, in the direction of `other`."""
    side = other - (other @ base) * base
    return unit(cosine * base + np.sqrt(1 - cosine ** 2) * unit(side))


@pytest.fixture
def setup(tmp_path):
    rng = np.random.default_rng(3)
    alice, bob = random_unit(rng), random_unit(rng)
    with Store(tmp_path) as store:
        alice_id = store.add_resident("Alice", "", [alice], [1.0], ["enrolment"])
        store.add_resident("Bob", "", [bob], [1.0], ["enrolment"])
        config = FaceConfig(match_threshold=0.5, adapt_margin=0.1, adaptive_templates=2, adapt_every_s=0.0)
        yield FaceGallery(store, config), store, alice_id, alice, rng


def visit(gallery, probe, visit_id="v", frames=3):
    match = gallery.matcher.search(probe)
    return gallery.adapt(visit_id, match.resident_id, probe, frames=frames, match_similarity=match.similarity,
                         runner_up=match.runner_up)


def test_a_clear_visit_teaches_one_template_and_a_borderline_one_teaches_none(setup):
    gallery, store, alice_id, alice, rng = setup
    taught = visit(gallery, towards(alice, random_unit(rng), 0.8), "v1")
    assert taught is not None and taught.resident_id == alice_id and taught.replaced == []
    assert [t.adaptive for t in store.templates(alice_id)] == [False, True]
    assert visit(gallery, towards(alice, random_unit(rng), 0.55), "v2") is None  # just over 0.5: borderline
    assert visit(gallery, towards(alice, random_unit(rng), 0.8), "v3", frames=1) is None  # one frame is no visit


def test_learned_templates_are_bounded_the_oldest_replaced_and_enrolment_never(setup):
    gallery, store, alice_id, alice, rng = setup
    taught = [visit(gallery, towards(alice, random_unit(rng), 0.75), f"v{n}") for n in range(4)]
    assert all(t is not None for t in taught)
    kept = store.templates(alice_id)
    assert [t.adaptive for t in kept] == [False, True, True]  # the enrolment photo and the two newest
    assert {t.id for t in kept if t.adaptive} == {taught[2].template_id, taught[3].template_id}
    assert taught[3].replaced == [taught[1].template_id]


def test_not_this_person_removes_what_the_visit_taught(setup):
    gallery, store, alice_id, alice, rng = setup
    taught = visit(gallery, towards(alice, random_unit(rng), 0.8), "mistaken")
    assert gallery.forget_visit("mistaken") == taught.template_id
    assert [t.adaptive for t in store.templates(alice_id)] == [False]
    assert gallery.forget_visit("mistaken") is None


def test_at_most_one_learned_template_per_resident_per_period(tmp_path):
    rng = np.random.default_rng(4)
    alice = random_unit(rng)
    with Store(tmp_path) as store:
        store.add_resident("Alice", "", [alice], [1.0], ["enrolment"])
        gallery = FaceGallery(store, FaceConfig(match_threshold=0.5, adapt_every_s=3600.0))
        assert visit(gallery, towards(alice, random_unit(rng), 0.8), "a") is not None
        assert visit(gallery, towards(alice, random_unit(rng), 0.8), "b") is None


def test_a_stranger_who_tailgates_a_residents_visits_cannot_walk_the_gallery_towards_himself(setup):
    """Each visit's template is a little more the stranger's (he stands behind Alice, his frames mix in). Were a
    learned template anchored to the last learned one, the gallery would follow him step by step; anchored to
    Alice's enrolment photo, it stops where her own photo no longer vouches for the visit."""
    gallery, store, alice_id, alice, rng = setup
    stranger = towards(alice, random_unit(rng), 0.1)
    for step in range(60):
        mix = min(1.0, step / 40)
        probe = unit((1 - mix) * alice + mix * stranger)
        visit(gallery, probe, f"v{step}")
    learned = [t for t in store.templates(alice_id) if t.adaptive]
    assert learned  # it did learn while the visits were Alice's
    match = gallery.matcher.search(stranger)
    assert match.resident_id != alice_id
    assert match.reason in ("below threshold", "only a learned template agrees")


def test_a_learned_template_lets_in_a_resident_who_has_drifted_from_her_enrolment_photo(setup):
    gallery, store, alice_id, alice, rng = setup
    drift = random_unit(rng)
    today = towards(alice, drift, 0.45)  # new glasses: under the threshold against her enrolment photo
    assert not gallery.matcher.search(today).known
    visit(gallery, towards(alice, drift, 0.75), "spring")  # a clear visit on the way there taught a template
    match = gallery.matcher.search(today)
    assert match.resident_id == alice_id


def test_the_cli_lists_templates_with_their_origin_and_removes_one(setup, tmp_path):
    gallery, store, alice_id, alice, rng = setup
    taught = visit(gallery, towards(alice, random_unit(rng), 0.8), "v1")
    state = store.path.parent
    listed = subprocess.run([sys.executable, "-m", "edge.cli", "residents", "--state-dir", str(state), "templates",
                             "--id", str(alice_id)], cwd=ROOT, capture_output=True, text=True)
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.strip().splitlines()
    assert len(lines) == 2 and "\tenrolled\t" in lines[0] and "\tlearned\t" in lines[1] and "visit v1" in lines[1]
    removed = subprocess.run([sys.executable, "-m", "edge.cli", "residents", "--state-dir", str(state), "templates",
                              "--remove", str(taught.template_id)], cwd=ROOT, capture_output=True, text=True)
    assert removed.returncode == 0, removed.stderr
    last = store.templates(alice_id)[0].id
    refused = subprocess.run([sys.executable, "-m", "edge.cli", "residents", "--state-dir", str(state), "templates",
                              "--remove", str(last)], cwd=ROOT, capture_output=True, text=True)
    assert refused.returncode == 1 and "remove the resident instead" in refused.stderr


@pytest.fixture
def running(setup):
    """The gallery with its thread started, as the daemon runs it."""
    gallery = setup[0]
    gallery.start()
    yield setup
    gallery.close()


def lesson(gallery, probe, visit_id, then):
    match = gallery.matcher.search(probe)
    return Lesson(visit_id, match.resident_id, probe, frames=3, match_similarity=match.similarity,
                  runner_up=match.runner_up, then=then)


class Hold:
    """A `then` that keeps the gallery's thread busy until released: what a slow store write would do."""

    def __init__(self):
        self.taught, self.threads, self.release = [], [], threading.Event()

    def __call__(self, taught):
        self.taught.append(taught)
        self.threads.append(threading.current_thread().name)
        assert self.release.wait(10)


def test_an_ended_visit_teaches_in_the_gallerys_thread_and_the_caller_never_waits_for_it(running):
    gallery, store, alice_id, alice, rng = running
    held = Hold()
    gallery.teach(lesson(gallery, towards(alice, random_unit(rng), 0.8), "v1", held))
    assert wait_for(lambda: held.taught)
    assert held.threads == ["face-gallery"] and held.taught[0].visit_id == "v1"
    gallery.teach(lesson(gallery, towards(alice, random_unit(rng), 0.8), "v2", held))  # returns while it is busy
    assert gallery.forget_visit("v2") is None  # a guard's "not this person" before it was taught: withdrawn
    heard = []
    gallery.teach(lesson(gallery, towards(alice, random_unit(rng), 0.8), "v3", heard.append))
    held.release.set()
    assert wait_for(lambda: heard)
    assert [t.visit_id for t in held.taught + heard] == ["v1", "v3"]
    assert [t.source for t in store.templates(alice_id) if t.adaptive] == ["visit v1", "visit v3"]


def test_lessons_beyond_the_bound_are_dropped_and_counted(running):
    gallery, store, alice_id, alice, rng = running
    held = Hold()
    gallery.teach(lesson(gallery, towards(alice, random_unit(rng), 0.8), "first", held))
    assert wait_for(lambda: held.taught)
    for n in range(LESSONS_WAITING + 2):
        gallery.teach(lesson(gallery, towards(alice, random_unit(rng), 0.8), f"v{n}", lambda taught: None))
    assert gallery.lessons.dropped == 2
    held.release.set()


@pytest.mark.parametrize("fused", [True, False])
def test_the_cli_lists_a_residents_fused_template_as_the_gate_searches_it(tmp_path, fused):
    rng = np.random.default_rng(5)
    with Store(tmp_path / "state") as store:
        two = store.add_resident("Two", "", [random_unit(rng), random_unit(rng)], [1.0, 1.0], ["a", "b"])
        store.add_resident("One", "", [random_unit(rng)], [1.0], ["c"])
        photos = [t.id for t in store.templates(two)]
    config = tmp_path / "gate.yaml"
    config.write_text(f"face:\n  fused_template: {str(fused).lower()}\n")
    listed = subprocess.run([sys.executable, "-m", "edge.cli", "-c", str(config), "residents", "--state-dir",
                             str(tmp_path / "state"), "templates"], cwd=ROOT, capture_output=True, text=True)
    assert listed.returncode == 0, listed.stderr
    rows = [line.split("\t") for line in listed.stdout.strip().splitlines()]
    assert [row[3] for row in rows] == ["enrolled"] * 3 + (["fused"] if fused else [])
    if fused:
        assert rows[-1][:3] == ["-", str(two), "Two"] and f"templates {photos[0]}, {photos[1]}" in rows[-1][5]
