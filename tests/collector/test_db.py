"""The collector's database on PostgreSQL and SQLite: idempotent batches, daily partitions and
retention, hourly counters from new rows only, the fleet view's queries."""

import sqlite3
import time

import pytest

from collector.db import DAY_S, CollectorDB
from collector.schema import metrics
from tests.postgres import postgres_server


@pytest.fixture(params=["sqlite", "postgres"])
def db(request, tmp_path):
    if request.param == "sqlite":
        database = CollectorDB(f"sqlite:///{tmp_path}/c.db")
        yield database
        database.close()
        return
    server = postgres_server()
    database = CollectorDB(server.url)
    try:
        yield database
    finally:
        database.close()
        server.stop()


def decision(n: int, when: float, *, granted: bool, gate: str = "g1", **extra) -> dict:
    return {"event_id": f"e{n}", "site": "s1", "gate": gate, "kind": "decision", "time": when, "granted": granted,
            **extra}


def test_a_batch_delivered_twice_is_stored_and_counted_once(db):
    hour = 1_700_000_000 // 3600 * 3600
    batch = [decision(1, hour + 10, granted=True, resident_id=7),
             decision(2, hour + 20, granted=False, reason_codes=["fever"]),
             decision(3, hour + 30, granted=True, same_opening_as="e1"),
             {"event_id": "e4", "site": "s1", "gate": "g1", "kind": "alarm", "time": hour + 40, "alarm": "fever"}]
    assert db.insert_events(batch) == 4
    assert db.insert_events(batch + [decision(5, hour + 50, granted=False)]) == 1
    assert db.count() == 5
    counts = {metric: n for _, metric, n in db.hourly_counts(site="s1")}
    assert counts == {"entries": 1, "denials": 2, "denial:fever": 1, "denial:unspecified": 1, "alarm:fever": 1}
    assert [e["event_id"] for e in db.search(resident="7")] == ["e1"]
    assert [e["event_id"] for e in db.search(kind="alarm")] == ["e4"]
    assert all(e["stored"] >= e["time"] for e in db.search())


def test_retention_drops_whole_old_days_and_keeps_the_counters(db):
    today = time.time() // DAY_S * DAY_S
    db.insert_events([decision(n, today - (10 - n) * DAY_S + 60, granted=True) for n in range(10)])
    dropped = db.drop_before(today - 3 * DAY_S)
    assert dropped == 7  # seven days: partitions on PostgreSQL, rows on SQLite
    assert db.count() == 3
    assert sum(n for _, metric, n in db.hourly_counts() if metric == "entries") == 10


def test_the_fleet_view_sees_every_gate_its_health_and_its_alarms(db):
    db.set_statuses([("s1", "g1", "online")], 100.0)
    db.add_telemetry([("s1", "g1", {}, {"thermal": "thermal: frozen"}, 12, 24.5)], 160.0)
    db.add_telemetry([("s1", "g2", {}, {}, 0, 25.0)], 150.0)
    db.set_statuses([("s2", "g9", "offline")], 90.0)
    gates = {(g.site, g.gate): g for g in db.gates()}
    assert gates[("s1", "g1")].status == "online" and gates[("s1", "g1")].last_seen == 160.0
    assert gates[("s1", "g1")].faults == {"thermal": "thermal: frozen"} and gates[("s1", "g1")].outbox == 12
    assert gates[("s1", "g2")].status == "unknown" and gates[("s2", "g9")].outbox is None
    db.insert_events([{"event_id": "a1", "site": "s1", "gate": "g1", "kind": "alarm", "time": 200.0,
                       "alarm": "spoof"}])
    assert db.alarms()[0]["acknowledged_by"] is None
    assert db.acknowledge_alarm("a1", "ops", 210.0) and not db.acknowledge_alarm("a1", "ops", 211.0)
    assert not db.acknowledge_alarm("nothing", "ops", 212.0)
    assert db.alarms()[0]["acknowledged_by"] == "ops"


def test_each_batch_is_written_at_one_time_and_the_benchmark_can_tell_them_apart(db):
    began = time.time()
    db.insert_events([decision(n, began, granted=True) for n in range(3)])
    db.insert_events([decision(n, began, granted=True) for n in range(2, 6)])  # e2 again: stored once
    batches = db.batches(since=began)
    assert [rows for _, rows in batches] == [3, 3] and batches[0][0] <= batches[1][0]
    assert db.batches(since=time.time() + 60) == []


def test_an_older_sqlite_database_gains_the_new_columns(tmp_path):
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as old:
        old.execute("CREATE TABLE events (event_id TEXT PRIMARY KEY, site TEXT NOT NULL, gate TEXT NOT NULL, "
                    "kind TEXT NOT NULL, time DOUBLE PRECISION NOT NULL, payload TEXT NOT NULL)")
        old.execute("INSERT INTO events VALUES ('old', 's', 'g', 'decision', 1.0, '{\"event_id\": \"old\"}')")
    db = CollectorDB(f"sqlite:///{path}")
    assert db.insert_events([decision(1, 2.0, granted=True, pass_id="p-1")]) == 1
    assert [e["event_id"] for e in db.search(pass_id="p-1")] == ["e1"] and db.count() == 2
    db.close()


def test_what_each_event_counts_for():
    assert metrics({"kind": "decision", "granted": True}) == ["entries"]
    assert metrics({"kind": "decision", "granted": False, "reason_codes": ["stranger", "no_code"]}) == \
        ["denials", "denial:stranger", "denial:no_code"]
    assert metrics({"kind": "alarm", "alarm": "tailgate"}) == ["alarm:tailgate"]
    assert metrics({"kind": "telemetry"}) == []


def test_a_batch_of_telemetry_is_one_transaction_that_keeps_each_gate_s_latest_health(db):
    reports = [("s1", "g1", {"face": (10.0, 30.0)}, {}, 3, 25.0),
               ("s1", "g1", {"face": (20.0, 50.0)}, {"camera": "camera: no frames"}, 9, 0.0),
               ("s1", "g2", {"face": (5.0, 6.0), "decision": (100.0, 200.0)}, {}, 0, 24.0)]
    db.add_telemetry(reports, 7200.5)
    db.add_telemetry([("s1", "g1", {"face": (30.0, 40.0)}, {}, 0, 25.0)], 7300.0)
    timings = {(gate, stage): (p50, p95) for _, gate, _, stage, p50, p95 in db.stage_timings()}
    assert timings == {("g1", "face"): (20.0, 50.0), ("g2", "face"): (5.0, 6.0), ("g2", "decision"): (100.0, 200.0)}
    health = {g.gate: (g.faults, g.outbox) for g in db.gates()}
    assert health == {"g1": ({}, 0), "g2": ({}, 0)}
    db.set_statuses([("s1", "g1", "online"), ("s1", "g3", "offline")], 7400.0)
    assert {g.gate: g.status for g in db.gates()} == {"g1": "online", "g2": "unknown", "g3": "offline"}
