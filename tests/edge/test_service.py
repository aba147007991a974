"""The interface the console and the touchscreen use: nothing else of the gate is theirs."""

import numpy as np
import pytest

from edge.app import Runtime
from edge.config import parse_config
from edge.events import DecisionSource, EventKind
from edge.service import FaceOff, GateService


def _runtime(tmp_path, **settings) -> Runtime:
    config = parse_config({"mqtt": {"enabled": False}, "ui": {"enabled": False}, **settings})
    return Runtime(config, state_dir=tmp_path / "state", realtime=False, loop=False, control=False, ui=False,
                   mqtt=False)


def test_status_is_one_typed_record(tmp_path):
    runtime = _runtime(tmp_path)
    try:
        service = runtime.service
        assert isinstance(service, GateService)
        runtime.gate.step()
        status = service.status()
        assert status.frames == 1 and status.relay_open is False and status.mqtt_connected is None
        assert status.residents == len(runtime.store.residents()) and status.faults == {}
        assert status.as_dict()["gallery_version"] == runtime.store.gallery_version
    finally:
        runtime.close()


def test_a_face_a_guard_rejects_becomes_a_negative_template_the_gate_follows(tmp_path):
    runtime = _runtime(tmp_path)
    try:
        service = runtime.service
        resident = service.residents()[0]
        before = runtime.store.gallery()
        service.not_this_person(resident.id, np.ones(service.template_dimension, np.float32) / 8, "guard: test")
        after = runtime.store.gallery()
        assert len(after.owners) == len(before.owners) + 1 and after.negative[-1]
        assert service.resident(uid=resident.uid) == service.resident(resident_id=resident.id)
    finally:
        runtime.close()


def test_without_face_recognition_enrolment_is_refused_by_name(tmp_path):
    runtime = _runtime(tmp_path, pipeline={"stages": ["thermal", "qr"]}, checks={"face": {"mode": "off"}})
    try:
        assert runtime.service.template_dimension is None and runtime.service.status().face is None
        with pytest.raises(FaceOff, match="face recognition is off"):
            runtime.service.enrol("Eve", "1-1", [np.ones(128, np.float32)], [1.0], ["x"])
        with pytest.raises(FaceOff):
            runtime.service.template_from_photo(np.zeros((100, 100, 3), np.uint8), "photo")
    finally:
        runtime.close()


def test_listeners_hear_frames_and_decisions_and_a_broken_one_does_not_stop_the_gate(tmp_path):
    runtime = _runtime(tmp_path)
    try:
        service, frames, decided = runtime.service, [], []

        def broken(*args):
            raise RuntimeError("a screen bug")

        service.on_frame(broken)
        service.on_frame(lambda image, context, visit: frames.append(image.shape))
        service.on_decided(lambda visit, decision: decided.append(decision))
        service.open(DecisionSource.guard, "g1", "delivery")
        for _ in range(3):
            runtime.gate.step()
        assert len(frames) == 3 and frames[0][2] == 3
        manual = runtime.store.events(kind=EventKind.decision.value)
        assert manual[-1]["actor"] == "g1" and manual[-1]["granted"]
        assert decided == []  # a manual opening is not a recognised visit
    finally:
        runtime.close()


def test_a_manual_open_the_gate_cannot_record_is_refused_to_the_caller(tmp_path):
    """`gatepost open` against a database another process holds locked said "open requested" and exited 0 while the
    gate stayed shut (it could not record the opening). The control socket now answers once the opening is decided."""
    import sqlite3

    runtime = _runtime(tmp_path)
    locker = sqlite3.connect(tmp_path / "state" / "gatepost.db", isolation_level=None)
    try:
        locker.execute("BEGIN EXCLUSIVE")
        reply = runtime._handle_control({"command": "open", "reason": "delivery", "actor": "ops"})
        assert reply["ok"] is False and reply["code"] == "not_recorded" and "stayed closed" in reply["error"]
        assert runtime.gate.turnstile.pulses == 0
        locker.execute("ROLLBACK")
        assert runtime._handle_control({"command": "open", "reason": "delivery", "actor": "ops"}) == {"ok": True}
        assert runtime.gate.turnstile.pulses == 1
        opened = [e for e in runtime.store.events(kind="decision") if e["granted"]]
        assert len(opened) == 1 and opened[0]["actor"] == "ops"
    finally:
        locker.close()
        runtime.close()
