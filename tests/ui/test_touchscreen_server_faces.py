"""The touchscreen's actions that need a face, over plain HTTP, in this process: a capture with nobody in front and
with a resident in front, enrolling that resident again, the snapshot kept with a decision, a guard's clinical
recheck of a fever and "not this person". One gate for the module: Bob is enrolled, and comes to the gate with a
fever 4 s after it starts, and stays a minute; another gate sees nobody."""

from __future__ import annotations

import time

import numpy as np
import pytest
import yaml

from edge.app import Runtime
from edge.config import parse_config
from edge.events import EventKind
from tests.broker import free_port
from tests.conftest import SCENARIOS
from tests.emulators import wait_for
from tests.running import frame_loop
from tests.ui.screen import PIN, Screen

ARRIVES_S = 4.0


def running_gate(tmp, visitors: list[dict]):
    scenario = tmp / "fever.yaml"
    scenario.write_text(yaml.safe_dump({
        "faces_dir": str(SCENARIOS / "faces"), "tail_s": 600,
        "residents": [{"name": "Bob", "unit": "5-1102", "photos": ["resident_b/01.jpg"]}], "visitors": visitors}))
    config = parse_config({
        "state_dir": str(tmp / "state"), "mqtt": {"enabled": False}, "storage": {"snapshots": "face"},
        "hardware": {"thermal": {"recheck": {"min_pairs": 1}}},  # one guard's recheck moves the site's offset (a day's step)
        "ui": {"enabled": True, "port": free_port(), "language": "en"},
        "simulation": {"scenario": str(scenario), "realtime": True, "loop": False}})
    runtime = Runtime(config, control=False)
    runtime.service.guards.add("7", "Guard Seven", PIN)
    with frame_loop(runtime):
        screen = Screen(runtime.touchscreen.port)
        screen.login()
        yield {"runtime": runtime, "screen": screen}


@pytest.fixture(scope="module")
def gate(tmp_path_factory):
    yield from running_gate(tmp_path_factory.mktemp("faces"), [
        {"at": ARRIVES_S, "photo": "resident_b/03.jpg", "identity": "Bob", "temperature_c": 38.6,
         "walks_through": False, "dwell_s": 60.0, "expect": "denied"}])


@pytest.fixture
def empty_gate(tmp_path):
    yield from running_gate(tmp_path, [{"at": 500.0, "photo": "resident_b/03.jpg", "identity": "Bob",
                                          "expect": "granted"}])  # not soon


def bobs_decision(runtime: Runtime) -> dict:
    def decided() -> list[dict]:
        return [e for e in runtime.store.events(kind=EventKind.decision.value) if e.get("resident_name") == "Bob"]

    assert wait_for(lambda: bool(decided()), timeout=60)
    return decided()[0]


def test_a_capture_with_nobody_in_front_says_why_none_was_taken(empty_gate):
    status, answer = empty_gate["screen"].post("/api/enrol/capture", {})
    assert status == 422 and answer["ok"] is False and answer["error"] and "None" not in answer["error"]


def test_the_snapshot_kept_with_a_decision_is_shown_to_a_guard_and_never_cached(gate):
    decision = bobs_decision(gate["runtime"])
    path = f"/api/snapshots/{decision['event_id']}.jpg"
    assert wait_for(lambda: gate["screen"].get(path)[0] == 200, timeout=10)  # written beside the frame loop
    status, body, response = gate["screen"].request("GET", path)
    assert status == 200 and response.getheader("Content-Type") == "image/jpeg"
    assert response.getheader("Cache-Control") == "no-store"
    assert body[:2] == b"\xff\xd8" and body == gate["runtime"].service.snapshot(decision["event_id"])


def test_a_guards_clinical_recheck_confirms_the_fever_or_names_the_field(gate):
    screen, runtime = gate["screen"], gate["runtime"]
    decision = bobs_decision(runtime)
    assert "fever" in decision["reason_codes"]
    assert screen.post("/api/recheck", {"visit_id": "v" * 40, "temperature_c": 38.9}) == (
        400, {"ok": False, "error": f"visit_id: no visit {'v' * 32!r} decided in the last 7 days"})  # cut to 32
    status, answer = screen.post("/api/recheck", {"visit_id": decision["visit_id"], "temperature_c": 50})
    assert status == 400 and answer["ok"] is False and answer["error"].startswith("temperature_c: ")
    clinical = round(decision["temperature"]["estimate_c"] + 1.0, 1)  # the gate read 1 °C low
    status, answer = screen.post("/api/recheck", {"visit_id": decision["visit_id"], "temperature_c": clinical})
    assert (status, answer) == (200, {"ok": True, "fever_confirmed": True, "site_offset_c": 0.1})  # the day's step
    assert screen.post("/api/recheck", {"visit_id": decision["visit_id"], "temperature_c": clinical}) == (
        200, {"ok": True, "fever_confirmed": True, "site_offset_c": None})  # the day's step is spent: no change
    rechecks = [e for e in runtime.store.events(kind=EventKind.action.value) if e.get("action") == "fever_recheck"]
    assert [(r["guard"], r["visit_id"], r["clinical_temperature_c"]) for r in rechecks] == [
        ("7", decision["visit_id"], clinical)] * 2


def taught_by(runtime: Runtime, visit_id: str, resident_id: int) -> int:
    """Say the visit taught the resident a template (one 0.9 from their enrolment photo): its id."""
    enrolled = runtime.gallery.matcher.gallery.enrolled(resident_id)[0]
    other = np.random.default_rng(0).standard_normal(enrolled.shape).astype(np.float32)
    other -= (other @ enrolled) * enrolled
    probe = (0.9 * enrolled + np.sqrt(1 - 0.81) * other / np.linalg.norm(other)).astype(np.float32)
    taught = runtime.gate.call_soon(lambda: runtime.gallery.adapt(
        visit_id, resident_id, probe, frames=3, match_similarity=0.99, runner_up=0.0)).result(10)
    assert taught is not None
    return taught.template_id


def test_not_this_person_keeps_the_face_from_the_resident_it_was_taken_for(gate):
    screen, runtime = gate["screen"], gate["runtime"]
    decision = bobs_decision(runtime)
    template_id = taught_by(runtime, decision["visit_id"], decision["resident_id"])
    assert screen.post("/api/not-this-person", {"visit_id": decision["visit_id"]}) == (
        200, {"ok": True, "resident_id": decision["resident_id"]})
    assert wait_for(lambda: any(e.get("action") == "not_this_person"
                                for e in runtime.store.events(kind=EventKind.action.value)), timeout=10)
    [marked] = [e for e in runtime.store.events(kind=EventKind.action.value) if e.get("action") == "not_this_person"]
    assert (marked["guard"], marked["visit_id"], marked["resident_id"]) == (
        "7", decision["visit_id"], decision["resident_id"])
    negatives = [t.source for t in runtime.store.templates(decision["resident_id"]) if t.negative]
    assert negatives == ["guard: not this person"]  # the face is kept as someone Bob is not
    assert template_id not in [t.id for t in runtime.store.templates(decision["resident_id"])]  # what it taught goes


def test_a_resident_in_front_is_not_enrolled_twice_but_a_visitor_is_enrolled_for_their_hours(gate):
    screen, runtime = gate["screen"], gate["runtime"]
    bobs_decision(runtime)  # Bob is in front, and stays
    status, capture = screen.post("/api/enrol/capture", {})
    assert status == 200 and capture["ok"] is True and capture["capture_id"] and capture["faces"]
    enrolment = {"capture_id": capture["capture_id"], "name": " Robert ", "unit": " 1 ", "pin": PIN}
    status, answer = screen.post("/api/enrol", enrolment)
    assert status == 422 and answer["ok"] is False and "Bob" in answer["error"]
    assert [r.name for r in runtime.store.residents()] == ["Bob"]
    bob = runtime.store.residents()[0]
    runtime.gate.call_soon(lambda: runtime.service.remove_resident(bob)).result(10)  # the site removed Bob
    assert runtime.gallery.matcher.residents == 0  # searched no more from the next frame, not when the owner looks
    status, capture = screen.post("/api/enrol/capture", {})
    assert status == 200
    before = time.time()
    status, answer = screen.post("/api/enrol", {**enrolment, "capture_id": capture["capture_id"], "visitor_hours": 2})
    assert (status, answer["ok"]) == (200, True) and answer["templates"] == len(capture["faces"])
    assert answer["warnings"] == []
    [robert] = runtime.store.residents()
    assert (robert.id, robert.name, robert.unit) == (answer["resident_id"], "Robert", "1")
    assert runtime.store.expired(before + 7200 - 1) == [] and runtime.store.expired(time.time() + 7200) == [
        (robert.id, "Robert")]  # a visitor, removed two hours from now
    [enrolled] = [e for e in runtime.store.events(kind=EventKind.action.value) if e.get("action") == "enrolled"]
    assert (enrolled["guard"], enrolled["resident_id"], enrolled["name"], enrolled["visitor_hours"],
            enrolled["templates"]) == ("7", robert.id, "Robert", 2, answer["templates"])
    assert [t.source for t in runtime.store.templates(robert.id)] == [
        f"touchscreen capture {n + 1}" for n in range(answer["templates"])]
    runtime.gate.call_soon(lambda: runtime.service.remove_resident(robert)).result(10)
    status, capture = screen.post("/api/enrol/capture", {})
    status, answer = screen.post("/api/enrol", {**enrolment, "capture_id": capture["capture_id"]})
    assert (status, answer["ok"]) == (200, True)  # a resident this time: no end
    assert [r.name for r in runtime.store.residents()] == ["Robert"] and runtime.store.expired(time.time() + 1e9) == []
    enrolled = [e for e in runtime.store.events(kind=EventKind.action.value) if e.get("action") == "enrolled"][-1]
    assert enrolled["resident_id"] == answer["resident_id"] and "visitor_hours" not in enrolled
