"""Site access-group records at their bounds, handed straight to the gate's reader as paho would hand them (no
broker: tests/mqtt/test_site_groups.py has one): which topics are records, each field's refusal, what is kept of a
record, the queue's and the loop's bounds, and what is recorded (a real state database)."""

from __future__ import annotations

import json
import logging

import pytest

from edge.access_groups import SiteGroups
from edge.config import parse_config
from edge.config.checks import AccessGroupConfig
from edge.mqtt.auth import generate_key, sign
from edge.mqtt.link import Incoming
from edge.mqtt.site_groups import MAX_GATES, SiteGroupRecords, group_record
from edge.mqtt.topics import Topics
from edge.store import Store

SITE = "demo-site"
PRIVATE, PUBLIC = generate_key()
HOURS = {"weekly": {"mon": ["08:00-12:00"]}}


@pytest.fixture
def reader(tmp_path):
    config = parse_config({"state_dir": str(tmp_path), "site": {"site_id": SITE, "gate_id": "east"}})
    with Store(tmp_path) as store:
        recorded: list[dict] = []
        groups = SiteGroups(store, lambda: config)
        records = SiteGroupRecords(store, groups, Topics(SITE, "east"), {"admin-1": PUBLIC}, record=recorded.append)
        records.recorded = recorded  # type: ignore[attr-defined]
        yield records


def message(name: str, args: dict, *, topic_name: str | None = None, site: str = SITE) -> Incoming:
    signed = sign(PRIVATE, "admin-1", "group.record", args, SITE)
    return Incoming(f"gatepost/{site}/groups/{topic_name or name}", json.dumps(signed).encode(), None, None)


def record(name: str = "couriers", version: int = 1, **fields) -> dict:
    return {"name": name, "version": version, **HOURS, **fields}


def test_only_this_site_s_group_topics_are_records(reader):
    args = record()
    for topic in ("gatepost/demo-site/groups", "gatepost/demo-site/groups/couriers/x", "gatepost/other/groups/couriers",
                  "other/demo-site/groups/couriers", "gatepost/demo-site/passes/couriers"):
        assert not reader.submit(Incoming(topic, message("couriers", args).payload, None, None)), topic
    assert reader.submit(Incoming("gatepost/demo-site/groups/couriers", b"", None, None))  # a cleared topic
    assert reader.refused == 0 and reader._queue.empty()


@pytest.mark.parametrize("args, topic_name, refusal", [
    (record(name="cleaners"), "couriers", "malformed: args.name does not match the topic"),
    (record(name="cour iers"), "cour iers", "malformed: args.name does not match the topic"),
    (record(name="c" * 65), None, "malformed: args.name does not match the topic"),
    (record(version=0), None, "malformed: args.version must be a positive integer"),
    (record(version=True), None, "malformed: args.version must be a positive integer"),
    (record(version="2"), None, "malformed: args.version must be a positive integer"),
    (record(version=1.0), None, "malformed: args.version must be a positive integer"),
    (record(gates="east"), None, f"malformed: args.gates must list 1 to {MAX_GATES} gate ids, or '*'"),
    (record(gates=[]), None, f"malformed: args.gates must list 1 to {MAX_GATES} gate ids, or '*'"),
    (record(gates=["g"] * (MAX_GATES + 1)), None, f"malformed: args.gates must list 1 to {MAX_GATES} gate ids, or '*'"),
    (record(gates=[""]), None, f"malformed: args.gates must list 1 to {MAX_GATES} gate ids, or '*'"),
    (record(gates=["g" * 65]), None, f"malformed: args.gates must list 1 to {MAX_GATES} gate ids, or '*'"),
    (record(gates=[7]), None, f"malformed: args.gates must list 1 to {MAX_GATES} gate ids, or '*'"),
    (record(weekly={"mon": ["12:00-08:00"]}), None, "weekly: mon: '12:00-08:00' ends before it starts"),
])
def test_a_record_wrong_in_any_field_is_refused_with_its_line(reader, caplog, args, topic_name, refusal):
    name = args["name"]
    incoming = message(name, args, topic_name=topic_name)
    with caplog.at_level(logging.WARNING, logger="edge.mqtt.site_groups"):
        assert reader.submit(incoming)
    assert reader.refused == 1 and reader._queue.empty()
    assert [r.getMessage() for r in caplog.records] == [f"access groups: {incoming.topic[:200]} refused: {refusal}"]


def test_an_unsigned_record_is_refused(reader):
    unsigned = Incoming("gatepost/demo-site/groups/couriers", json.dumps({"cmd": "group.record"}).encode(), None, None)
    assert reader.submit(unsigned) and reader.refused == 1


def test_a_record_at_its_bounds_is_kept_without_its_name_and_version(reader):
    name = "c" * 64
    args = record(name=name, gates=["g" * 64] * MAX_GATES, holidays={"2027-01-01": "closed"},
                  verification="card", extra="ignored")
    assert reader.submit(message(name, args))
    reader.poll()
    assert reader.store.site_group_records() == {name: {"gates": ["g" * 64] * MAX_GATES, **HOURS,
                                                        "holidays": {"2027-01-01": "closed"},
                                                        "verification": "card"}}
    assert reader.recorded == [{"action": "group_record", "group": name, "version": 1, "removed": False}]


def test_a_record_for_one_gate_of_one_character_is_taken(reader):
    assert reader.submit(message("couriers", record(gates=["*"])))
    reader.poll()
    assert reader.store.site_group_records() == {"couriers": {"gates": ["*"], **HOURS}}


def test_a_record_without_gates_covers_every_gate_and_a_removal_is_a_removal_only_when_it_says_true(reader):
    assert reader.submit(message("couriers", record()))
    reader.poll()
    assert reader.groups.get("couriers") == AccessGroupConfig(**HOURS)
    assert reader.store.site_group_records() == {"couriers": HOURS}
    assert reader.submit(message("couriers", record(version=2, removed="yes", weekly={"tue": ["08:00-09:00"]})))
    reader.poll()
    assert reader.groups.get("couriers") == AccessGroupConfig(weekly={"tue": ["08:00-09:00"]})
    assert reader.submit(message("couriers", {"name": "couriers", "version": 3, "removed": True}))
    reader.poll()
    assert reader.store.site_group_records() == {} and reader.groups.get("couriers") is None
    assert [r["removed"] for r in reader.recorded] == [False, False, True]


def test_an_older_record_changes_nothing_and_is_not_recorded(reader):
    assert reader.submit(message("couriers", record(version=5)))
    assert reader.submit(message("couriers", record(version=4, weekly={"tue": ["08:00-09:00"]})))
    reader.poll()
    assert reader.groups.get("couriers") == AccessGroupConfig(**HOURS)
    assert [r["version"] for r in reader.recorded] == [5]


def test_the_loop_applies_at_most_its_budget_a_frame_and_the_queue_holds_a_thousand(reader, caplog):
    for n in range(1001):
        assert reader.submit(message(f"g{n}", record(name=f"g{n}")))
    assert reader._queue.qsize() == 1000
    assert caplog.messages[-1] == "access groups: queue full; the record on gatepost/demo-site/groups/g1000 dropped"
    reader.poll()
    assert len(reader.store.site_group_records()) == 100
    reader.poll(budget=1)
    assert len(reader.store.site_group_records()) == 101
    assert reader.groups.get("g100") == AccessGroupConfig(**HOURS)  # read again after each poll that applied


def test_the_console_s_record_is_checked_before_it_is_signed():
    assert group_record("couriers", 3, weekly=HOURS["weekly"]) == {
        "name": "couriers", "version": 3, "gates": ["*"], **HOURS, "holidays": {}}
    assert group_record("couriers", 3, gates=["east"], verification="face")["verification"] == "face"
    assert group_record("couriers", 4, removed=True) == {"name": "couriers", "version": 4, "removed": True}
    for name in ("", "c" * 65, "a b", "ä"):
        with pytest.raises(ValueError, match="^name: letters, digits, '-' and '_', 1 to 64$"):
            group_record(name, 1)
    with pytest.raises(ValueError, match="^holidays: "):
        group_record("couriers", 1, holidays={"someday": "closed"})


def test_a_record_signed_as_another_command_is_refused_and_each_refusal_counted(reader):
    other = sign(PRIVATE, "admin-1", "resident.record", record(), SITE)
    assert reader.submit(Incoming("gatepost/demo-site/groups/couriers", json.dumps(other).encode(), None, None))
    assert reader.submit(message("couriers", record(version=0)))
    assert reader.refused == 2 and reader._queue.empty()


def test_the_groups_in_force_are_read_again_only_after_a_record_was_applied(reader, monkeypatch):
    reads = []
    reload = reader.groups.reload
    monkeypatch.setattr(reader.groups, "reload", lambda: reads.append(1) or reload())
    reader.poll()
    assert reads == []  # every frame polls: an idle one reads nothing
    assert reader.submit(message("couriers", record(version=2)))
    reader.poll()
    assert reads == [1]
    assert reader.submit(message("couriers", record(version=1)))  # older: changes nothing
    reader.poll()
    assert reads == [1]
