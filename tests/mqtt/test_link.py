"""The outbox keeps what the collector has not confirmed, whatever the broker says."""

from tests.emulators import wait_for
from tests.mqtt.helpers import CollectorSide, GateSide, wait_count


def taken_by_broker(gate) -> int:
    return gate.store._query("SELECT COUNT(*) FROM outbox WHERE sent_at IS NOT NULL")[0][0]


def test_an_entry_the_broker_took_but_no_collector_confirmed_survives_a_restart_and_is_sent_again(broker, tmp_path):
    gate = GateSide(broker, tmp_path / "gate", redeliver_after_s=1.0)
    gate.link.start()
    ids = gate.record(5)
    assert wait_for(lambda: taken_by_broker(gate) == 5, timeout=15)  # PUBACKed, nobody listening
    assert gate.store.outbox_size() == 5
    broker.stop()
    broker.start()
    collector = CollectorSide(broker, f"sqlite:///{tmp_path}/c.db").start()
    assert wait_count(collector.db, 5, timeout=30) == 5
    assert {e["event_id"] for e in collector.db.events()} == set(ids)
    assert wait_for(lambda: gate.store.outbox_size() == 0, timeout=15)
    assert gate.link.delivered == 5
    gate.close()
    collector.close()


def test_with_broker_confirmation_the_puback_settles_an_entry(broker, tmp_path):
    gate = GateSide(broker, tmp_path / "gate", confirm="broker")
    gate.link.start()
    gate.record(5)
    assert wait_for(lambda: gate.store.outbox_size() == 0, timeout=15)
    assert gate.link.delivered == 5
    gate.close()
