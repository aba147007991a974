"""The collector's rules for what it reads off the wire, each at its bounds: telemetry timings and
health, the topic's parts, an event's fields, and how a batch is sorted before it is stored."""

import base64
import json
from types import SimpleNamespace

import pytest

from collector.db import CollectorDB
from collector.service import (
    MAX_AHEAD_S,
    Collector,
    event_from,
    gate_health,
    stage_timings,
    topic_parts,
)
from edge.config import MqttConfig

NOW = 1_700_000_000.0
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 60  # what the collector checks of one: its magic bytes and size


def event(**fields) -> bytes:
    return json.dumps({"event_id": "e1", "site": "s1", "gate": "g1", "kind": "decision", "time": NOW, **fields}).encode()


# telemetry


def test_stage_timings_read_each_stage_and_the_decision():
    body = {"stage_ms": {"face": {"p50": 12, "p95": "30.5"}}, "decision_ms": {"p50": 40, "p95": 90}}
    assert stage_timings(body) == {"face": (12.0, 30.5), "decision": (40.0, 90.0)}
    assert stage_timings({}) == {}
    assert stage_timings({"decision_ms": {"p50": 1, "p95": 0}}) == {}  # no decision yet: nothing to fold
    assert stage_timings({"decision_ms": [1, 2]}) == {}


@pytest.mark.parametrize("body, expected", [
    ([], "not a JSON object"),
    ({"stage_ms": [1]}, "stage_ms is not an object"),
    ({"stage_ms": {"face": {"p50": 1}}}, "stage_ms.face needs numbers p50 and p95"),
    ({"stage_ms": {"face": {"p50": "fast", "p95": 1}}}, "stage_ms.face needs numbers p50 and p95"),
    ({"stage_ms": {"face": None}}, "stage_ms.face needs numbers p50 and p95"),
    ({"stage_ms": {"face": {"p50": -0.001, "p95": 1}}}, "stage_ms.face out of range"),
    ({"stage_ms": {"face": {"p50": 1, "p95": -0.001}}}, "stage_ms.face out of range"),
    ({"stage_ms": {"face": {"p50": 1e6, "p95": 1}}}, "stage_ms.face out of range"),
    ({"stage_ms": {"face": {"p50": 1, "p95": 1e6}}}, "stage_ms.face out of range"),
    ({"stage_ms": {"s" * 33: {"p50": 1, "p95": 1}}}, f"stage_ms.{'s' * 32} out of range"),
])
def test_stage_timings_refuse_in_one_line_naming_the_field(body, expected):
    with pytest.raises(ValueError) as refused:
        stage_timings(body)
    assert str(refused.value) == expected


def test_stage_timings_take_their_bounds():
    assert stage_timings({"stage_ms": {"s" * 32: {"p50": 0, "p95": 999_999.9}}}) == {"s" * 32: (0.0, 999_999.9)}
    assert stage_timings({"stage_ms": {"qr": {"p50": 999_999.9, "p95": 0}}}) == {"qr": (999_999.9, 0.0)}


def test_gate_health_reads_faults_outbox_and_frame_rate():
    faults, outbox, fps = gate_health({"faults": {"camera": "unplugged", "k" * 40: "v" * 300, 7: 8},
                                       "outbox": 2**31 - 1, "fps": 999.5})
    assert faults == {"camera": "unplugged", "k" * 32: "v" * 200, "7": "8"}
    assert (outbox, fps) == (2**31 - 1, 999.5)
    assert gate_health({}) == ({}, 0, 0.0)
    assert gate_health({"faults": {str(i): "x" for i in range(32)}, "fps": 5})[2] == 5.0


@pytest.mark.parametrize("body, expected", [
    ({"faults": ["camera"]}, "faults is not an object of at most 32 devices"),
    ({"faults": {str(i): "x" for i in range(33)}}, "faults is not an object of at most 32 devices"),
    ({"outbox": True}, "outbox is not a count"),
    ({"outbox": 1.5}, "outbox is not a count"),
    ({"outbox": -1}, "outbox is not a count"),
    ({"outbox": 2**31}, "outbox is not a count"),
    ({"fps": float("nan")}, "fps out of range"),
    ({"fps": -0.1}, "fps out of range"),
    ({"fps": 1000}, "fps out of range"),
])
def test_gate_health_refuses_in_one_line_naming_the_field(body, expected):
    with pytest.raises(ValueError) as refused:
        gate_health(body)
    assert str(refused.value) == expected


# topics and events


@pytest.mark.parametrize("topic, expected", [
    ("gatepost/s1/g1/event", ("event", "s1", "g1")),
    ("gatepost/s1/g1", ("unknown", "", "")),
    ("gatepost/s1/g1/event/x", ("unknown", "", "")),
    ("other/s1/g1/event", ("unknown", "", "")),
])
def test_topic_parts(topic, expected):
    assert topic_parts(topic) == expected


def test_an_event_naming_its_own_site_and_gate_is_stored_as_received():
    stored, as_received = event_from(event(), "s1", "g1", now=NOW)
    assert as_received and stored == json.loads(event())


def test_an_event_naming_only_its_site_takes_the_topics_gate():
    stored, as_received = event_from(json.dumps({"event_id": "e1", "kind": "decision", "site": "s1"}).encode(), "s1",
                                     "g1", now=NOW)
    assert not as_received and stored == {"event_id": "e1", "kind": "decision", "site": "s1", "gate": "g1"}


def test_an_event_without_site_or_gate_takes_the_topics():
    stored, as_received = event_from(json.dumps({"event_id": "e1", "kind": "decision"}).encode(), "s1", "g1", now=NOW)
    assert not as_received
    assert stored == {"event_id": "e1", "kind": "decision", "site": "s1", "gate": "g1"}  # time 0 is the default


@pytest.mark.parametrize("payload, expected", [
    (b"[1]", "event: not a JSON object"),
    (event(event_id=""), "event_id: missing or not a string of 1 to 64 characters"),
    (event(event_id="e" * 65), "event_id: missing or not a string of 1 to 64 characters"),
    (event(event_id=7), "event_id: missing or not a string of 1 to 64 characters"),
    (event(site="s2"), "site: 's2' differs from the topic's 's1'"),
    (event(gate="g" * 70), f"gate: {'g' * 64!r} differs from the topic's 'g1'"),
    (event(time=-1), "time: not a finite number of seconds since 1970"),
    (event(time=1e11), "time: not a finite number of seconds since 1970"),
    (event(time="now"), "time: not a finite number of seconds since 1970"),
    (event(time=NOW + MAX_AHEAD_S + 1), "time: 3601 s ahead of this collector's clock (a gate's clock is wrong, "
                                        "or the event is forged)"),
    (event(kind="k" * 40), f"kind: {'k' * 32!r} is not an event kind"),
    (event(kind=["alarm"]), "kind: \"['alarm']\" is not an event kind"),
    (json.dumps({"event_id": "e1", "time": NOW}).encode(), "kind: '' is not an event kind"),
])
def test_an_event_is_refused_in_one_line_naming_the_field(payload, expected):
    with pytest.raises(ValueError) as refused:
        event_from(payload, "s1", "g1", now=NOW)
    assert str(refused.value) == expected


def test_an_event_takes_its_bounds():
    assert event_from(event(event_id="e" * 64, time=NOW + MAX_AHEAD_S), "s1", "g1", now=NOW)[1]
    assert event_from(event(time=0), "s1", "g1", now=NOW)[1]
    assert event_from(event(event_id="e"), "s1", "g1", now=NOW)[0]["event_id"] == "e"


@pytest.mark.parametrize("alarm", ["constructor", 7, None, "a" * 100])
def test_an_alarm_with_a_code_outside_the_catalogue_is_kept_under_unknown(alarm):
    stored, as_received = event_from(event(kind="alarm", alarm=alarm), "s1", "g1", now=NOW)
    assert not as_received
    assert stored == {**json.loads(event(kind="alarm")), "alarm": "unknown", "alarm_as_sent": str(alarm)[:64]}
    unnamed = json.dumps({"event_id": "e2", "kind": "alarm", "alarm": alarm}).encode()  # the topic names them
    assert event_from(unnamed, "s1", "g1", now=NOW)[0] == {"event_id": "e2", "kind": "alarm", "site": "s1",
                                                           "gate": "g1", "alarm": "unknown",
                                                           "alarm_as_sent": str(alarm)[:64]}


def test_an_alarm_with_a_catalogue_code_is_stored_as_received():
    stored, as_received = event_from(event(kind="alarm", alarm="fever"), "s1", "g1", now=NOW)
    assert as_received and stored["alarm"] == "fever" and "alarm_as_sent" not in stored


# a batch as the reader sorts it


def message(topic: str, payload: bytes, *, qos: int = 1, mid: int = 1):
    return SimpleNamespace(topic=topic, payload=payload, qos=qos, mid=mid)


@pytest.fixture()
def collector(tmp_path):
    db = CollectorDB(f"sqlite:///{tmp_path}/c.db")
    yield Collector(MqttConfig(), db)  # never started: only its reading and storing are used
    db.close()


def test_a_batch_is_sorted_by_topic(collector, caplog):
    batch = [message("gatepost/s1/g1/status", b"online"),
             message("gatepost/s1/g2/status", b"constructor"),
             message("gatepost/s1/g3/status", b"online" + b" " * 40),
             message("gatepost/s1/g1/telemetry", json.dumps({"fps": 5}).encode(), qos=0),
             message("gatepost/s1/g1/telemetry", b'{"fps": -1}', qos=0),
             message("gatepost/s1/g1/telemetry", b'{"fps":', qos=0),
             message("gatepost/s1/g1/snapshot", b"x" * 2000),
             message("gatepost/s1/g1/event", event()),
             message("gatepost/s1/g1/alarm", event(event_id="e2", kind="alarm", alarm="fever")),
             message("gatepost/s1/g1/event", event(event_id="e3", site="s9", gate="g9"))]
    prepared = collector._prepare(batch)
    assert prepared.statuses == {("s1", "g1"): "online", ("s1", "g2"): "unknown", ("s1", "g3"): "unknown"}
    assert prepared.reports == [("s1", "g1", {}, {}, 0, 5.0)] and collector.rejected == 2
    assert "telemetry from s1/g1 refused: fps out of range" in caplog.text
    assert "telemetry from s1/g1 refused: telemetry: not JSON" in caplog.text
    assert [(site, gate, e["event_id"], text) for site, gate, e, text in prepared.accepted] == [
        ("s1", "g1", "e1", event().decode()),
        ("s1", "g1", "e2", event(event_id="e2", kind="alarm", alarm="fever").decode())]
    assert prepared.events == 3
    snapshot, refused_event = prepared.refused
    assert snapshot[0] == "gatepost/s1/g1/snapshot" and snapshot[1] == b"x" * 1024
    assert snapshot[2].startswith("snapshot: not JSON")
    assert refused_event == ("gatepost/s1/g1/event", event(event_id="e3", site="s9", gate="g9"),
                             "site: 's9' differs from the topic's 's1'")


def test_an_event_stored_under_the_topics_gate_keeps_no_text(collector):
    payload = json.dumps({"event_id": "e1", "kind": "decision", "time": NOW}).encode()
    prepared = collector._prepare([message("gatepost/s1/g1/event", payload)])
    assert prepared.accepted == [("s1", "g1", {"event_id": "e1", "kind": "decision", "time": NOW,
                                                "site": "s1", "gate": "g1"}, None)]


def test_a_stored_batch_counts_what_it_stored_received_and_quarantined(collector):
    batch = [message("gatepost/s1/g1/event", event()),
             message("gatepost/s1/g1/event", event(event_id="e2")),
             message("gatepost/s1/g1/event", event()),  # a redelivery
             message("gatepost/s1/g1/event", b"{"),
             message("gatepost/s1/g1/alarm", b"[]"),
             message("gatepost/s1/g1/status", b"online"),
             message("gatepost/s1/g1/telemetry", json.dumps({"fps": 5}).encode(), qos=0),
             message("gatepost/s1/g1/snapshot", json.dumps({"event_id": "e1", "time": NOW,
                                                             "jpeg": base64.b64encode(JPEG).decode()}).encode())]
    assert collector._store(collector._prepare(batch))
    assert collector.db.snapshot("e1") == JPEG
    assert (collector.stored, collector.received, collector.events_received, collector.rejected) == (2, 8, 5, 2)
    assert collector.db.count() == 2
    assert sorted(row[1] for row in collector.db.quarantined()) == ["gatepost/s1/g1/alarm", "gatepost/s1/g1/event"]
    assert [(gate.gate, gate.status) for gate in collector.db.gates()] == [("g1", "online")]


def test_a_row_the_database_refuses_is_quarantined_with_its_reason_and_the_rest_stored(collector, tmp_path):
    import sqlite3

    other = sqlite3.connect(tmp_path / "c.db")
    other.execute("CREATE TRIGGER refuse BEFORE INSERT ON events WHEN NEW.event_id = 'e2' "
                  f"BEGIN SELECT RAISE(ABORT, 'row refused{'!' * 300}'); END")
    other.commit()
    other.close()
    batch = [message("gatepost/s1/g1/event", event(event_id=f"e{n}"), mid=n) for n in (1, 2, 3)]
    assert collector._store(collector._prepare(batch))
    assert (collector.stored, collector.received, collector.rejected) == (2, 3, 1)
    assert [e["event_id"] for e in collector.db.events()] == ["e1", "e3"]
    [(_, topic, payload, reason)] = collector.db.quarantined()
    assert topic == "gatepost/s1/g1/event" and json.loads(payload) == json.loads(event(event_id="e2"))
    assert reason == "database refused it: row refused" + "!" * 189  # at most 200 characters of the database's word


def test_while_the_database_is_away_a_batch_is_neither_stored_nor_acknowledged():
    from tests.postgres import postgres_server

    server = postgres_server()
    db = CollectorDB(server.url)
    try:
        collector = Collector(MqttConfig(), db)
        prepared = collector._prepare([message("gatepost/s1/g1/event", event())])
        server.stop_server()
        assert not collector._store(prepared)
        assert (collector.stored, collector.received, collector.rejected) == (0, 0, 0)
        server.start_server()
        assert collector._store(prepared)
        assert (collector.stored, collector.received, db.count()) == (1, 1, 1)
    finally:
        db.close()
        server.stop()


def test_a_database_lost_while_a_batch_is_stored_row_by_row_leaves_the_whole_batch_unacknowledged():
    """PostgreSQL refuses a text holding NUL, so the batch is stored row by row; the server goes away
    before the third row. Nothing is acknowledged: the broker keeps the batch until it is stored whole."""
    from tests.postgres import postgres_server

    server = postgres_server()

    class LostBeforeTheThirdRow(CollectorDB):
        def insert_events(self, messages, texts=None):
            if [m["event_id"] for m in messages] == ["e3"] and not lost:
                lost.append(True)
                server.stop_server()
            return super().insert_events(messages, texts)

    lost: list[bool] = []
    db = LostBeforeTheThirdRow(server.url)
    try:
        collector = Collector(MqttConfig(), db)
        prepared = collector._prepare([message("gatepost/s1/g1/event", event(event_id=event_id), mid=n)
                                       for n, event_id in enumerate(("e1", "e\x002", "e3"))])
        assert not collector._store(prepared)
        assert (collector.stored, collector.received, collector.rejected) == (1, 0, 0)
        server.start_server()
        assert collector._store(prepared)
        assert (collector.stored, collector.received, db.count()) == (2, 3, 2)
        [(_, _, _, reason)] = db.quarantined()
        assert reason.startswith("database refused it:") and "NUL" in reason
    finally:
        db.close()
        server.stop()


def test_batches_add_to_the_counts_and_a_clean_batch_is_one_insert(collector):
    first = [message("gatepost/s1/g1/event", event(event_id=f"e{n}")) for n in range(3)]
    second = [message("gatepost/s1/g1/event", event(event_id="e9")), message("gatepost/s1/g1/status", b"online")]
    assert collector._store(collector._prepare(first)) and collector._store(collector._prepare(second))
    assert (collector.stored, collector.received, collector.events_received) == (4, 5, 4)
    assert [count for _, count in collector.db.batches(since=0)] == [3, 1]  # not a row at a time


def test_events_are_stored_as_their_gates_sent_them_and_odd_statuses_are_unknown(collector, tmp_path):
    import sqlite3

    sent = b'{"event_id": "e1",   "site": "s1", "gate": "g1", "kind": "decision", "time": 1700000000.0}'
    assert collector._store(collector._prepare([message("gatepost/s1/g1/event", sent),
                                                message("gatepost/s1/g2/status", b"\xffonline")])) 
    with sqlite3.connect(tmp_path / "c.db") as raw:
        assert raw.execute("SELECT payload FROM events").fetchall() == [(sent.decode(),)]
    assert [(gate.gate, gate.status) for gate in collector.db.gates()] == [("g2", "unknown")]
