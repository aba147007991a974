"""Anti-passback: a person who went in must come out before going in again. Soft lets them through with an alarm,
hard refuses them; a movement from another gate counts; a guard's reset clears the person; other gates' records are
checked before they count, and a record from the future is refused."""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml

from edge.app import Runtime
from edge.config import parse_config
from edge.passback import Passback, parse_movement, person_key
from edge.store import Movement, Store
from edge.untrusted import UntrustedInput
from tests.conftest import SCENARIOS

NOW = 1_800_000_000.0


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> float:
        return self.now


def _ledger(tmp_path, *, direction: str = "entry", mode: str = "hard", forget_after_h: float = 12.0):
    store = Store(tmp_path / "state")
    config = parse_config({"site": {"gate_id": "gate-1", "direction": direction},
                           "checks": {"antipassback": {"mode": mode, "forget_after_h": forget_after_h}}})
    resident = store.add_resident("Chen", "3-502", [np.ones(4, np.float32) / 2], [1.0], ["photo"])
    clock = Clock()
    return Passback(store, lambda: config, clock=clock), ("resident", resident), clock


def test_an_entry_holds_back_a_second_entry_until_an_exit_or_a_reset(tmp_path):
    ledger, chen, clock = _ledger(tmp_path)
    assert ledger.conflict(chen) is None
    ledger.passed(chen)
    held = ledger.conflict(chen)
    assert held is not None and held.direction == "in" and held.gate == "gate-1"
    person = ledger.person(chen)
    clock.now += 60
    ledger.store.note_movement(Movement(person, "gate-9", "out", clock.now))  # went out at another gate
    assert ledger.conflict(chen) is None
    clock.now += 60
    ledger.passed(chen)
    assert ledger.conflict(chen) is not None
    clock.now += 1
    ledger.reset(person)
    assert ledger.conflict(chen) is None
    assert ledger.conflict(("pass", "visit-1")) is None and ledger.conflict(None) is None


def test_an_old_movement_is_forgotten_and_an_older_record_never_replaces_a_newer_one(tmp_path):
    ledger, chen, clock = _ledger(tmp_path, forget_after_h=1.0)
    ledger.passed(chen)
    clock.now += 3599
    assert ledger.conflict(chen) is not None
    clock.now += 2
    assert ledger.conflict(chen) is None
    person = ledger.person(chen)
    assert not ledger.store.note_movement(Movement(person, "gate-1", "out", NOW - 10))  # late: changes nothing
    assert ledger.store.last_movement(person).direction == "in"
    ledger.passed(("pass", "visit-1"))  # a later grant prunes what holds nobody back any more
    assert ledger.store.last_movement(person) is None and ledger.conflict(("pass", "visit-1")) is not None


@pytest.mark.parametrize("direction, mode", [("both", "hard"), ("entry", "off")])
def test_a_gate_of_both_ways_or_with_the_rule_off_holds_nobody_back(tmp_path, direction, mode):
    ledger, chen, _ = _ledger(tmp_path, direction=direction, mode=mode)
    ledger.passed(chen)
    assert ledger.conflict(chen) is None


@pytest.mark.parametrize("payload, field", [
    (b"[]", "JSON object"),
    (b'{"person": "resident:x", "direction": "in", "time": 1}', "'person'"),  # not the topic's person
    (b'{"person": "resident:abc", "direction": "sideways", "time": 1}', "'direction'"),
    (b'{"person": "resident:abc", "direction": "in", "time": true}', "'time'"),
    (b'{"person": "resident:abc", "direction": "in", "time": 1e400}', "out of range"),
    (b'{"person": "resident:abc", "direction": "in", "time": 99999999999}', "future"),
    (b'{"person": "resident:abc", "direction": "in", "time": "NaN"}', "'time'"),
    (b"\xff\xfe", "movement"),
    (b"{" * 5000, "movement"),
])
def test_another_gate_s_record_is_refused_naming_the_field(payload, field):
    with pytest.raises(UntrustedInput, match=field):
        parse_movement("gate-2", person_key("resident:abc"), payload, now=NOW)


def test_another_gate_s_record_is_applied_on_the_loop_and_hostile_ones_are_counted(tmp_path):
    ledger, chen, clock = _ledger(tmp_path)
    person = ledger.person(chen)
    good = json.dumps({"person": person, "direction": "in", "time": NOW - 5}).encode()
    ledger.submit("gate-2", person_key(person), good)
    ledger.submit("gate-2", person_key(person), b'{"person": 1}')
    ledger.submit("gate-1", person_key(person), good)  # our own retained record, heard back: ignored
    assert ledger.conflict(chen) is None  # not yet applied: the loop applies it
    ledger.poll()
    held = ledger.conflict(chen)
    assert held is not None and held.gate == "gate-2" and ledger.refused == 1


def _visits(tmp_path, mode: str, *, direction: str = "entry"):
    from drivers.sim.scenario import load_scenario

    scenario = tmp_path / "twice.yaml"
    scenario.write_text(yaml.safe_dump({
        "faces_dir": str(SCENARIOS / "faces"),
        "residents": [{"name": "Chen", "photos": ["resident_c/01.jpg"]}],
        "visitors": [{"at": 0.0, "photo": "resident_c/02.jpg", "identity": "Chen", "expect": "granted"},
                     {"at": 12.0, "photo": "resident_c/02.jpg", "identity": "Chen",
                      "expect": "granted" if mode == "soft" else "denied"}]}))
    config = parse_config({"mqtt": {"enabled": False}, "ui": {"enabled": False},
                           "site": {"direction": direction}, "checks": {"antipassback": {"mode": mode}}})
    runtime = Runtime(config, state_dir=tmp_path / "state", scenario=load_scenario(scenario), realtime=False,
                      loop=False, control=False, ui=False)
    decisions, alarms = [], []
    runtime.gate.on_decision = lambda decision, pulsed: decisions.append(decision)
    runtime.gate.listeners.append(lambda event: alarms.append(event.body) if event.kind.value == "alarm" else None)
    try:
        runtime.run(lambda: False)
    finally:
        runtime.close()
    return decisions, [a for a in alarms if a["alarm"] == "passback"]


def test_hard_anti_passback_refuses_a_second_entry_with_its_reason_and_one_alarm(tmp_path):
    decisions, alarms = _visits(tmp_path, "hard")
    assert [d.granted for d in decisions] == [True, False]
    assert decisions[1].reason_codes == ["passback"] and decisions[1].resident_name == "Chen"
    assert decisions[1].checks["antipassback"]["params"]["direction"] == "in"
    assert len(alarms) == 1 and alarms[0]["granted"] is False and alarms[0]["name"] == "Chen"


def test_soft_anti_passback_lets_them_in_and_alarms(tmp_path):
    decisions, alarms = _visits(tmp_path, "soft")
    assert [d.granted for d in decisions] == [True, True]
    assert decisions[1].checks["antipassback"]["status"] == "fail" and decisions[1].checks["antipassback"]["mode"] == \
        "advisory"
    assert len(alarms) == 1 and alarms[0]["granted"] is True


def test_a_gate_of_both_ways_lets_the_same_person_through_twice(tmp_path):
    decisions, alarms = _visits(tmp_path, "soft", direction="both")
    assert [d.granted for d in decisions] == [True, True] and alarms == []
    assert decisions[1].checks["antipassback"]["status"] == "pass"


def test_a_gate_of_both_ways_notes_the_way_its_sensor_tells_and_alarms_the_same_way_twice(tmp_path):
    ledger, chen, clock = _ledger(tmp_path, direction="both", mode="hard")
    alarms = []
    ledger.alarm = alarms.append
    ledger.went(chen, "in")
    assert ledger.conflict(chen) is None  # the way is known only after the passage: never refused before it
    clock.now += 60
    ledger.went(chen, "out")
    clock.now += 60
    ledger.went(chen, "out")  # out twice: let through (it happened), and the guard hears of it
    assert [(a["alarm"], a["way"], a["resident_id"]) for a in alarms] == [("passback", "out", chen[1])]
    assert ledger.store.last_movement(ledger.person(chen)).direction == "out"
    ledger.went(("pass", "visit-1"), "sideways")  # not a way: nothing noted
    assert ledger.store.last_movement("pass:visit-1") is None
