"""One alarm per person: the memory's rules at their bounds (leaving, the same face, faces unknown)."""

import numpy as np

from edge.alarm_memory import SAME_PERSON_AT, AlarmMemory, VisitAlarms
from edge.events import Decision, DecisionSource, Event
from edge.visit import Visit


def face(cosine_to_first: float, *, norm: float = 1.0) -> np.ndarray:
    """A vector at `cosine_to_first` from the first axis, of length `norm`."""
    vector = np.zeros(128)
    vector[0], vector[1] = cosine_to_first, np.sqrt(1.0 - cosine_to_first ** 2)
    return vector * norm


def test_whoever_was_alarmed_has_left_after_exactly_leave_after_s_of_nobody():
    memory = AlarmMemory(leave_after_s=5.0)
    memory.raised("fever", "a1", None)
    memory.tick(101.0)  # nobody since 101
    memory.tick(105.99)
    assert memory.already_raised("fever", None) == "a1"
    memory.face_seen()  # somebody again: the wait starts over
    memory.tick(106.0)
    memory.tick(110.99)
    assert memory.already_raised("fever", None) == "a1"
    memory.tick(111.0)
    assert memory.already_raised("fever", None) is None


def test_an_alarm_counts_for_the_same_face_and_the_same_kind_only():
    memory = AlarmMemory(leave_after_s=5.0)
    memory.raised("fever", "a1", face(1.0, norm=3.0))
    at_bound = np.zeros(128)
    at_bound[:4] = 0.5  # cosine exactly 1/2 to the first axis, in numbers floats hold exactly
    assert SAME_PERSON_AT == 0.5 and memory.already_raised("fever", at_bound) == "a1"  # the bound: the same
    at_bound[3] = 0.6
    assert memory.already_raised("fever", at_bound) is None
    assert memory.already_raised("fever", face(0.3, norm=2.0)) is None  # lengths do not make a face alike
    assert memory.already_raised("spoof", face(1.0)) is None
    assert memory.already_raised("fever", np.zeros(128)) is None  # no face at all


def test_without_a_face_on_either_side_nothing_tells_two_visits_apart():
    memory = AlarmMemory(leave_after_s=5.0)
    memory.raised("no_reading", "a1", None)
    assert memory.already_raised("no_reading", face(1.0)) == "a1"
    memory.raised("fever", "a2", face(1.0))
    assert memory.already_raised("fever", None) == "a2"


def decision(*, temperature: str | None = None, passback: bool = False, granted: bool = False, mode="required",
             params=None) -> Decision:
    checks = {}
    if temperature is not None:
        checks["temperature"] = {"status": "pass" if temperature == "normal" else "fail", "code": temperature,
                                 "mode": mode, "reason": f"{temperature} said", "params": params or {}}
    if passback:
        checks["antipassback"] = {"status": "fail", "code": "passback", "reason": "already in", "params": {}}
    return Decision(granted, DecisionSource.pipeline, [], checks=checks, temperature_c=38.4, resident_id=1)


def recorder():
    recorded: list[tuple[str, dict]] = []

    def record(kind, body):
        recorded.append((body["alarm"], body))
        return Event(kind, body)

    return recorded, VisitAlarms(record, leave_after_s=5.0)


def visit(embedding=None) -> Visit:
    seen = Visit(1, started=100.0, started_perf=0.0)
    seen.embedding = embedding
    return seen


def test_a_person_at_the_gate_is_alarmed_once_per_kind_until_they_leave():
    recorded, alarms = recorder()
    alarms.decided(visit(face(1.0)), decision(temperature="fever"))
    alarms.decided(visit(face(1.0)), decision(temperature="fever"))  # the same person's track broke
    assert [kind for kind, _ in recorded] == ["fever"]
    alarms.tick(200.0)
    alarms.tick(205.0)  # nobody for leave_after_s: they left
    alarms.decided(visit(face(1.0)), decision(temperature="fever"))
    assert [kind for kind, _ in recorded] == ["fever", "fever"]
    assert recorded[0][1]["temperature_c"] == 38.4 and recorded[0][1]["visit_id"]


def test_a_feverish_person_who_comes_back_after_someone_else_is_alarmed_again_in_a_queue_never_empty():
    recorded, alarms = recorder()
    alarms.decided(visit(face(1.0)), decision(temperature="fever"))
    alarms.face_seen()  # the queue: a face in every frame, never a moment of nobody
    alarms.decided(visit(face(0.0)), decision(temperature="normal", granted=True))  # the next person went through
    alarms.decided(visit(face(1.0)), decision(temperature="fever"))  # back at the front: a new alarm
    alarms.decided(visit(face(1.0)), decision(temperature="fever"))  # still there, the track broke: not again
    alarms.decided(visit(), decision(temperature="normal", granted=True))  # a code at the scanner, no face
    alarms.decided(visit(face(1.0)), decision(temperature="fever"))  # no face tells them apart: not again
    assert [kind for kind, _ in recorded] == ["fever", "fever"]


def test_a_passback_alarm_is_raised_whatever_the_temperature_said():
    recorded, alarms = recorder()
    alarms.decided(visit(), decision(temperature="normal", passback=True, granted=True))
    alarms.decided(visit(face(0.0)), decision(passback=True))
    assert [(kind, body["granted"]) for kind, body in recorded] == [("passback", True)]  # then the same person


def test_each_kind_is_remembered_apart_for_the_same_person():
    recorded, alarms = recorder()
    alarms.decided(visit(face(1.0)), decision(temperature="fever"))
    alarms.decided(visit(face(1.0)), decision(temperature="fever", passback=True))
    assert [kind for kind, _ in recorded] == ["fever", "passback"]


def test_each_temperature_failure_raises_its_alarm_with_what_the_guard_should_do():
    def raised(**fields) -> list[dict]:
        recorded, alarms = recorder()
        alarms.decided(visit(), decision(**fields))
        return [{k: v for k, v in body.items() if k != "visit_id"} for _, body in recorded]

    assert raised(temperature="fever") == [{"alarm": "fever", "temperature_c": 38.4,
                                            "detail": "fever said; recheck with a clinical thermometer"}]
    assert raised(temperature="spoof") == [{"alarm": "spoof", "detail": "spoof said"}]
    for code in ("temperature_no_reading", "temperature_uncertain"):
        assert raised(temperature=code) == [{"alarm": "no_reading", "why": code,
                                             "detail": f"{code} said; measure with a clinical thermometer"}]
        assert raised(temperature=code, mode="advisory") == []  # the gate did not need one
    assert raised(temperature="temperature_uncertain", params={"why": "face_maximum_only"})[0]["why"] == \
        "face_maximum_only"
    assert raised(temperature="spoof", mode="advisory") == [{"alarm": "spoof", "detail": "spoof said"}]
    assert raised(temperature="elevated") == []  # a code without an alarm


def test_a_passback_alarm_names_who_went_the_same_way_twice():
    recorded, alarms = recorder()
    named = decision(passback=True, granted=True)
    named.resident_name, named.pass_id = "Alice", None
    named.checks["antipassback"]["params"] = {"way": "in", "gate": "gate-2"}
    alarms.decided(visit(face(1.0)), named)
    assert {k: v for k, v in recorded[0][1].items() if k != "visit_id"} == {
        "alarm": "passback", "detail": "already in", "granted": True, "name": "Alice",
        "resident_id": 1, "pass_id": None, "way": "in", "gate": "gate-2"}
    visitor = decision(passback=True)
    visitor.resident_id, visitor.resident_name, visitor.pass_id = None, None, "p-1"
    alarms.decided(visit(face(0.0)), visitor)  # another face: alarmed too
    assert recorded[1][1]["name"] == "" and recorded[1][1]["pass_id"] == "p-1" and recorded[1][1]["granted"] is False
