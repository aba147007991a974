"""The collector on PostgreSQL: idempotent inserts and the same queries as on SQLite."""

import pytest

from collector.db import CollectorDB
from collector.stats import hourly
from tests.emulators import wait_for
from tests.mqtt.helpers import CollectorSide, GateSide
from tests.postgres import postgres_server


@pytest.fixture()
def postgres(tmp_path):
    server = postgres_server()
    try:
        yield server
    finally:
        server.stop()


def test_events_reach_postgres_once(broker, postgres, tmp_path):
    collector = CollectorSide(broker, postgres.url).start()
    gate = GateSide(broker, tmp_path / "gate")
    gate.link.start()
    ids = gate.record(200)
    assert wait_for(lambda: collector.db.count() == 200, timeout=30)
    assert wait_for(lambda: gate.store.outbox_size() == 0, timeout=30)
    db = CollectorDB(postgres.url)
    again = db.insert_events(db.events(limit=10))  # a redelivery: stored once
    assert again == 0 and db.count() == 200
    assert {e["event_id"] for e in db.events(limit=1000)} == set(ids)
    rows = hourly(db.events(limit=1000))
    assert sum(r.entries for r in rows) == 100  # every other one was granted
    db.add_telemetry([("demo-site", "gate-1", {"face": (10.0, 30.0)}, {}, 0, 25.0)], 7200.5)
    db.add_telemetry([("demo-site", "gate-1", {"face": (20.0, 25.0)}, {}, 0, 25.0)], 7300.0)
    assert db.stage_timings(gate="gate-1") == [("demo-site", "gate-1", 7200, "face", 15.0, 30.0)]
    db.close()
    gate.close()
    collector.close()


def test_nothing_is_lost_while_postgres_restarts(broker, postgres, tmp_path):
    """The collector keeps the batch the database did not take and tries again: the gate's own
    resend is set far off, so the events can only arrive through the collector's retry."""
    collector = CollectorSide(broker, postgres.url).start()
    gate = GateSide(broker, tmp_path / "gate", redeliver_after_s=600)
    gate.link.start()
    ids = gate.record(50)
    assert wait_for(lambda: collector.db.count() == 50, timeout=30)
    postgres.stop_server()
    ids += gate.record(100, start=50)
    assert wait_for(lambda: collector.collector.retries > 0, timeout=30)
    assert gate.store.outbox_size() >= 100  # nothing confirmed while the database is away
    postgres.start_server()
    assert wait_for(lambda: gate.store.outbox_size() == 0, timeout=60)
    assert {e["event_id"] for e in collector.db.events(limit=1000)} == set(ids)
    gate.close()
    collector.close()
