"""Anti-passback's rules at their bounds, on a real state database and a test clock: another gate's record field by
field, who is held back and when the memory lets go, the alarm of a gate of both ways, and what is told to the site."""

from __future__ import annotations

import hashlib
import json

import pytest

from edge.passback import MAX_FUTURE_S, Passback, parse_movement, person_key
from edge.store import Movement
from edge.untrusted import UntrustedInput
from tests.edge.test_passback import NOW, _ledger

KEY = person_key("resident:abc")


def record(**fields) -> bytes:
    return json.dumps({"person": "resident:abc", "direction": "in", "time": NOW, **fields}).encode()


def test_a_person_s_topic_level_is_32_hex_digits_of_their_sha_256():
    assert person_key("pass:a/b+c") == hashlib.sha256(b"pass:a/b+c").hexdigest()[:32]


@pytest.mark.parametrize("payload, problem", [
    (b"[]", "movement: expected a JSON object"),
    (b"x" * 601, "movement: 601 bytes exceeds the limit of 600"),
    (record(person="resident:other"), "movement: field 'person' does not match the topic"),
    (record(direction="up"), "movement: field 'direction' must be one of in, out, reset"),
    (record(time=0), "movement: field 'time' must be a Unix time"),
    (record(time=-1), "movement: field 'time' must be a Unix time"),
    (record(time="1800000000"), "movement: field 'time' must be a Unix time"),
    (record(time=NOW + MAX_FUTURE_S + 0.01), "movement: field 'time' is in the future"),
])
def test_another_gate_s_record_is_refused_in_one_line_naming_its_field(payload, problem):
    with pytest.raises(UntrustedInput, match=f"^{problem}$"):
        parse_movement("gate-2", KEY, payload, now=NOW)


def test_a_record_is_taken_up_to_its_bounds():
    assert parse_movement("gate-2", KEY, record(time=0.5, direction="reset"), now=NOW) == Movement(
        "resident:abc", "gate-2", "reset", 0.5)
    assert parse_movement("gate-2", KEY, record(time=NOW + MAX_FUTURE_S), now=NOW).time == NOW + MAX_FUTURE_S
    for person in ("p", "p" * 200):
        body = json.dumps({"person": person, "direction": "out", "time": NOW}).encode()
        assert parse_movement("gate-2", person_key(person), body, now=NOW).person == person
    for person in ("", "p" * 201):
        body = json.dumps({"person": person, "direction": "out", "time": NOW}).encode()
        with pytest.raises(UntrustedInput, match="field 'person'"):
            parse_movement("gate-2", person_key(person), body, now=NOW)


def test_with_the_rule_off_nobody_is_held_back_whatever_the_site_says(tmp_path):
    ledger, chen, clock = _ledger(tmp_path, mode="off")
    ledger.store.note_movement(Movement(ledger.person(chen), "gate-2", "in", clock.now - 60))
    assert ledger.conflict(chen) is None
    ledger, chen, clock = _ledger(tmp_path / "on", mode="hard")
    ledger.store.note_movement(Movement(ledger.person(chen), "gate-2", "in", clock.now - 60))
    assert ledger.conflict(chen) == Movement(ledger.person(chen), "gate-2", "in", clock.now - 60)


def test_a_movement_within_the_hours_kept_holds_and_a_memory_of_none_never_lets_go(tmp_path):
    ledger, chen, clock = _ledger(tmp_path, forget_after_h=1.0)
    ledger.passed(chen)
    clock.now += 3599
    ledger.passed(("pass", "visit-1"))  # prunes, and keeps what is within the hour
    assert ledger.conflict(chen) is not None
    forever, chen, clock = _ledger(tmp_path / "forever", forget_after_h=0.0)
    forever.passed(chen)
    clock.now += 30 * 86400
    forever.passed(("pass", "visit-1"))
    assert forever.conflict(chen) is not None


def test_the_memory_is_pruned_at_most_once_an_hour(tmp_path):
    ledger, chen, clock = _ledger(tmp_path, forget_after_h=1.0)
    ledger.passed(("pass", "first"))  # prunes now; next at NOW + 3600
    old = ledger.person(chen)

    def note(at: float) -> None:
        ledger.store.note_movement(Movement(old, "gate-2", "in", at))

    note(NOW - 3700)  # older than the hour kept
    recent = "resident:recent"
    ledger.store.note_movement(Movement(recent, "gate-2", "in", NOW + 1))
    clock.now = NOW + 1800
    ledger.passed(("pass", "second"))
    assert ledger.store.last_movement(old) is not None  # within the hour since the last pruning: not pruned
    clock.now = NOW + 3600
    ledger.passed(("pass", "third"))
    assert ledger.store.last_movement(old) is None  # an hour on, to the second: pruned
    assert ledger.store.last_movement(recent) is not None  # within the hour kept


def test_a_record_is_told_to_the_site_only_while_there_is_a_broker_and_a_topic(tmp_path):
    ledger, chen, _ = _ledger(tmp_path)
    ledger.passed(chen)  # neither: noted here only
    ledger.topic = lambda key: f"gatepost/s/gate-1/movement/{key}"
    ledger.passed(("pass", "visit-1"))  # a topic, no broker
    told = []
    ledger.publish = lambda topic, body: told.append((topic, json.loads(body)))
    ledger.passed(("pass", "visit-2"))
    assert told == [(f"gatepost/s/gate-1/movement/{person_key('pass:visit-2')}",
                     {"person": "pass:visit-2", "direction": "in", "time": NOW})]
    ledger.topic = None
    ledger.passed(("pass", "visit-3"))  # a broker, no topic
    assert len(told) == 1 and ledger.store.last_movement("pass:visit-3") is not None


def test_a_guard_s_reset_names_a_person_of_1_to_200_characters(tmp_path):
    ledger, _, clock = _ledger(tmp_path)
    for person in ("p", "p" * 200):
        ledger.reset(person)
        assert ledger.store.last_movement(person) == Movement(person, "gate-1", "reset", clock.now)
    for person in ("", "p" * 201):
        with pytest.raises(ValueError, match=r"^person: 1 to 200 characters$"):
            ledger.reset(person)


def _both_ways(tmp_path, **options) -> tuple[Passback, tuple, object, list[dict]]:
    ledger, chen, clock = _ledger(tmp_path, direction="both", **options)
    alarms: list[dict] = []
    ledger.alarm = alarms.append
    return ledger, chen, clock, alarms


def test_the_same_way_twice_is_an_alarm_with_who_where_and_since_when(tmp_path):
    ledger, chen, clock, alarms = _both_ways(tmp_path)
    clock.now = NOW + 0.123456
    ledger.went(chen, "in")
    clock.now += 60
    ledger.went(chen, "in")
    ledger.went(("pass", "visit-1"), "out")
    clock.now += 60
    ledger.went(("pass", "visit-1"), "out")
    assert alarms == [
        {"alarm": "passback", "detail": "went in again (last at gate-1)", "granted": True, "way": "in",
         "gate": "gate-1", "since": round(NOW + 0.123456, 3), "name": "", "resident_id": chen[1]},
        {"alarm": "passback", "detail": "went out again (last at gate-1)", "granted": True, "way": "out",
         "gate": "gate-1", "since": NOW + 60.123, "name": "", "pass_id": "visit-1"}]


def test_the_same_way_after_the_hours_kept_is_no_alarm(tmp_path):
    ledger, chen, clock, alarms = _both_ways(tmp_path, forget_after_h=1.0)
    ledger.went(chen, "in")
    clock.now = NOW + 3600.0
    ledger.went(chen, "in")  # exactly the hour: still remembered
    assert len(alarms) == 1
    clock.now += 3600.5
    ledger.went(chen, "in")
    assert len(alarms) == 1


@pytest.mark.parametrize("direction, mode", [("entry", "hard"), ("both", "off")])
def test_a_gate_of_one_way_or_with_the_rule_off_notes_no_way_told(tmp_path, direction, mode):
    ledger, chen, clock = _ledger(tmp_path, direction=direction, mode=mode)
    alarms: list[dict] = []
    ledger.alarm = alarms.append
    ledger.went(chen, "in")
    clock.now += 1
    ledger.went(chen, "in")
    assert alarms == [] and ledger.store.last_movement(ledger.person(chen)) is None


def test_a_movement_holds_to_the_last_second_of_the_hours_kept(tmp_path):
    ledger, chen, clock = _ledger(tmp_path, forget_after_h=1.0)
    ledger.passed(chen)
    clock.now = NOW + 3600.0
    assert ledger.conflict(chen) is not None


def test_with_the_rule_off_a_grant_is_noted_nowhere(tmp_path):
    ledger, chen, _ = _ledger(tmp_path, mode="off")
    ledger.passed(chen)
    assert ledger.store.last_movement(ledger.person(chen)) is None


def test_the_loop_applies_at_most_its_budget_of_records_a_frame(tmp_path):
    ledger, _, _ = _ledger(tmp_path)
    for n in range(201):
        person = f"pass:v{n}"
        body = json.dumps({"person": person, "direction": "in", "time": NOW}).encode()
        ledger.submit("gate-2", person_key(person), body)
    ledger.poll()
    applied = [n for n in range(201) if ledger.store.last_movement(f"pass:v{n}") is not None]
    assert applied == list(range(200))
    ledger.poll(budget=1)
    assert ledger.store.last_movement("pass:v200") is not None


def test_at_each_connect_a_gate_tells_its_own_movements_within_the_hours_kept_newest_first(tmp_path):
    ledger, _, clock = _ledger(tmp_path, forget_after_h=1.0)
    assert ledger.announcements() == []  # no topic: nothing to tell
    ledger.topic = lambda key: f"t/{key}"
    for person, gate, at in (("pass:old", "gate-1", NOW - 3601), ("pass:a", "gate-1", NOW - 3599),
                             ("pass:b", "gate-1", NOW - 10), ("pass:other", "gate-2", NOW - 5)):
        ledger.store.note_movement(Movement(person, gate, "in", at))
    told = [(topic, json.loads(body)) for topic, body in ledger.announcements()]
    assert told == [(f"t/{person_key('pass:b')}", {"person": "pass:b", "direction": "in", "time": NOW - 10}),
                    (f"t/{person_key('pass:a')}", {"person": "pass:a", "direction": "in", "time": NOW - 3599})]
    forever, _, _ = _ledger(tmp_path / "forever", forget_after_h=0.0)
    forever.topic = lambda key: f"t/{key}"
    forever.store.note_movement(Movement("pass:first", "gate-1", "out", 0.5))
    assert [json.loads(body)["person"] for _, body in forever.announcements()] == ["pass:first"]


@pytest.mark.parametrize("who", [None, ("card", 7), ("resident", "7"), ("resident", 999), ("pass",)])
def test_a_grant_of_nobody_the_site_knows_is_noted_nowhere_and_holds_nobody(tmp_path, who):
    ledger, _, _ = _ledger(tmp_path)
    ledger.passed(who)
    assert ledger.conflict(who) is None
    assert ledger.store.movements_at("gate-1", since=0.0, limit=10) == []


def test_a_card_holder_s_number_is_not_a_resident_s_and_a_resident_s_id_is_looked_up_once(tmp_path):
    ledger, chen, _ = _ledger(tmp_path)
    ledger.passed(("card", chen[1]))  # a card's number that happens to equal a resident's id
    assert ledger.store.movements_at("gate-1", since=0.0, limit=10) == []
    looked_up = []
    uid_of = ledger.store.uid_of
    ledger.store.uid_of = lambda resident: looked_up.append(resident) or uid_of(resident)
    assert ledger.person(chen) == ledger.person(chen) == f"resident:{uid_of(chen[1])}"
    assert looked_up == [chen[1]]  # then remembered: no query per frame


def test_a_gate_told_its_topic_at_start_announces_and_a_full_queue_drops_with_a_line(tmp_path, caplog):
    ledger, chen, clock = _ledger(tmp_path)
    told = Passback(ledger.store, ledger.config, clock=clock, topic=lambda key: f"t/{key}")
    told.passed(chen)
    assert [json.loads(body)["person"] for _, body in told.announcements()] == [told.person(chen)]
    body = json.dumps({"person": "pass:v", "direction": "in", "time": NOW}).encode()
    for _ in range(10_001):
        told.submit("gate-2", person_key("pass:v"), body)
    dropped = [r.getMessage() for r in caplog.records if "queue full" in r.getMessage()]
    assert dropped == ["anti-passback: queue full; a movement from gate-2 dropped"]
