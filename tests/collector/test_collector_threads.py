"""The collector's reader and writer, driven without a broker: what is read at stop, the batch bound,
a batch that cannot be read, the writer's retries, retention, and the broker's answers to a connection
and a subscription."""

import json
import sqlite3
import threading
import time
from types import SimpleNamespace

import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.reasoncodes import ReasonCode

from collector.db import CollectorDB
from collector.service import BATCH, RETENTION_EVERY_S, Collector
from edge.config import MqttConfig
from tests.emulators import wait_for
from tests.mqtt.helpers import refuse_quarantine

DAY_S = 86400.0


def message(event_id: str = "e1", *, mid: int = 1, topic: object = "gatepost/s1/g1/event", when: float | None = None):
    body = {"event_id": event_id, "site": "s1", "gate": "g1", "kind": "decision",
            "time": time.time() if when is None else when}
    return SimpleNamespace(topic=topic, payload=json.dumps(body).encode(), qos=1, mid=mid)


@pytest.fixture()
def collectors(tmp_path):
    """Collectors on one database, never connected: their threads are run by the test. Made in the test's
    body, not here, so that mutation testing sees which tests reach the collector's constructor."""
    db = CollectorDB(f"sqlite:///{tmp_path}/c.db")
    made: list[Collector] = []

    def make(config: MqttConfig | None = None, keep_days: float | None = 2) -> Collector:
        made.append(Collector(config or MqttConfig(), db, keep_days=keep_days))
        return made[-1]

    yield make
    for collector in made:
        collector._stop.set()  # a thread left by a failed test ends
    db.close()


def read_until_stopped(collector: Collector) -> list:
    """Run the reader to its end, taking each batch it hands the writer."""
    reader = threading.Thread(daemon=True, target=collector._read_loop)
    reader.start()
    batches = []
    while (prepared := collector._prepared.get(timeout=10)) is not None:
        batches.append(prepared)
    reader.join(10)
    assert not reader.is_alive()
    return batches


# the reader


def test_at_stop_the_reader_reads_everything_already_arrived_in_batches_of_at_most_500(collectors):
    collector = collectors()
    for n in range(2 * BATCH + 1):
        collector._incoming.put(message(f"e{n}", mid=n))
    collector._stop.set()  # set before the reader starts: what has arrived is still read
    batches = read_until_stopped(collector)
    assert [len(prepared.messages) for prepared in batches] == [BATCH, BATCH, 1]
    assert [event["event_id"] for prepared in batches for _, _, event, _ in prepared.accepted] == [
        f"e{n}" for n in range(2 * BATCH + 1)]


def test_the_reader_waits_for_messages_until_it_is_stopped(collectors):
    collector = collectors()
    reader = threading.Thread(daemon=True, target=collector._read_loop)
    reader.start()
    assert not wait_for(lambda: not reader.is_alive(), timeout=0.6)  # three empty polls: still reading
    collector._incoming.put(message())
    prepared = collector._prepared.get(timeout=10)
    assert [event["event_id"] for _, _, event, _ in prepared.accepted] == ["e1"]
    collector._stop.set()
    assert collector._prepared.get(timeout=10) is None
    reader.join(10)
    assert not reader.is_alive()


def test_a_batch_that_cannot_be_read_is_left_unacknowledged_and_the_reader_reads_on(collectors, caplog):
    collector = collectors()
    collector._incoming.put(message("broken", topic=None))  # no topic to split: the batch's reading fails
    for n in range(BATCH):
        collector._incoming.put(message(f"e{n}", mid=n + 1))
    collector._stop.set()
    [prepared] = read_until_stopped(collector)
    assert [event["event_id"] for _, _, event, _ in prepared.accepted] == [f"e{BATCH - 1}"]
    assert f"a batch of {BATCH} messages could not be read" in caplog.text


def test_the_reader_holds_one_batch_ahead_of_a_busy_writer_not_more(collectors):
    collector = collectors()
    for n in range(3 * BATCH):
        collector._incoming.put(message(f"e{n}", mid=n))
    reader = threading.Thread(daemon=True, target=collector._read_loop)
    reader.start()
    # the first batch waits for the writer; the second is read and waits to be handed over; the third is not read
    assert wait_for(lambda: collector._prepared.full() and collector._incoming.qsize() == BATCH, timeout=10)
    assert not wait_for(lambda: collector._incoming.qsize() < BATCH, timeout=1.0)
    collector._stop.set()
    batches = [collector._prepared.get(timeout=10) for _ in range(4)]
    assert [len(prepared.messages) for prepared in batches[:3]] == [BATCH] * 3 and batches[3] is None
    reader.join(10)


def test_its_threads_are_named_daemons(collectors):
    """Daemons: a process that ends without `stop()` (a crash on the way out) still ends. Named: a
    `py-spy dump` of a stuck collector says which of them is stuck."""
    collector = collectors(MqttConfig(host="127.0.0.1", port=9))  # nothing listens: it keeps trying
    collector.start()
    threads = sorted((thread.name, thread.daemon) for thread in threading.enumerate()
                     if thread.name.startswith("collector-"))
    collector.stop()
    assert threads == [("collector-reader", True), ("collector-writer", True)]


# the writer


def test_the_writer_stores_each_batch_then_drops_what_is_older_than_the_days_kept(collectors):
    collector = collectors()
    old = message("old", when=time.time() - 3 * DAY_S)
    collector.db.insert_events([json.loads(old.payload)])
    writer = threading.Thread(daemon=True, target=collector._write_loop)
    writer.start()
    collector._prepared.put(collector._prepare([message("new")]))
    collector._prepared.put(None)
    writer.join(10)
    assert not writer.is_alive()
    assert [event["event_id"] for event in collector.db.events()] == ["new"]
    assert (collector.stored, collector.received, collector.retries) == (1, 1, 0)


def test_a_batch_is_tried_again_with_growing_pauses_until_it_is_stored(collectors, tmp_path):
    collector = collectors()
    other = refuse_quarantine(tmp_path / "c.db")
    prepared = collector._prepare([SimpleNamespace(topic="gatepost/s1/g1/event", payload=b"{", qos=1, mid=7)])
    storing = threading.Thread(daemon=True, target=collector._store_until_done, args=(prepared,))
    started = time.monotonic()
    storing.start()
    assert wait_for(lambda: collector.retries >= 3, timeout=10)
    assert time.monotonic() - started >= 0.2 + 0.4  # the second try waited 0.2 s, the third 0.4 s more
    assert collector.received == 0 and collector.db.quarantined() == []
    other.execute("DROP TRIGGER refuse")
    other.commit()
    other.close()
    storing.join(10)
    assert not storing.is_alive()
    assert len(collector.db.quarantined()) == 1 and collector.received == 1


def test_a_writer_stopped_with_a_batch_unstored_leaves_it_to_the_broker(collectors, tmp_path, caplog):
    collector = collectors()
    other = refuse_quarantine(tmp_path / "c.db")
    prepared = collector._prepare([SimpleNamespace(topic="gatepost/s1/g1/event", payload=b"{", qos=1, mid=7)])
    storing = threading.Thread(daemon=True, target=collector._store_until_done, args=(prepared,))
    storing.start()
    assert wait_for(lambda: collector.retries >= 1, timeout=10)
    collector._stop.set()
    storing.join(10)
    assert not storing.is_alive()
    assert "stopping with a batch of 1 unstored" in caplog.text
    assert collector.received == 0 and collector.db.quarantined() == []
    other.close()


# retention


def test_retention_drops_what_is_older_than_the_days_kept_at_most_once_an_hour(collectors):
    collector = collectors()

    def stored():
        return sorted(event["event_id"] for event in collector.db.events())

    collector.db.insert_events([json.loads(message("old", when=time.time() - 2 * DAY_S - 1.0).payload),
                                json.loads(message("young", when=time.time() - 2 * DAY_S + 60).payload)])
    collector._retention()
    assert stored() == ["young"]  # a second past the two days kept goes; a minute within them stays
    collector.db.insert_events([json.loads(message("late", when=time.time() - 3 * DAY_S).payload)])
    collector._retention()
    assert stored() == ["late", "young"]  # within the hour: not looked at again
    collector._last_retention -= RETENTION_EVERY_S
    collector._retention()
    assert stored() == ["young"]


def test_a_collector_told_no_days_keeps_everything(collectors):
    collector = collectors()
    collector.db.insert_events([json.loads(message("ancient", when=1.0).payload)])
    collectors(keep_days=None)._retention()
    assert [event["event_id"] for event in collector.db.events()] == ["ancient"]


def test_a_failed_retention_is_logged_and_tried_again_an_hour_later(collectors, tmp_path, caplog):
    collector = collectors()
    collector.db.insert_events([json.loads(message("old", when=time.time() - 3 * DAY_S).payload)])
    other = sqlite3.connect(tmp_path / "c.db")
    other.execute("CREATE TRIGGER keep BEFORE DELETE ON events BEGIN SELECT RAISE(ABORT, 'locked'); END")
    other.commit()
    collector._retention()
    assert "retention failed" in caplog.text
    other.execute("DROP TRIGGER keep")
    other.commit()
    other.close()
    collector._retention()
    assert [event["event_id"] for event in collector.db.events()] == ["old"]  # not before the hour is out
    collector._last_retention -= RETENTION_EVERY_S
    collector._retention()
    assert collector.db.events() == []


# the broker's answers


def test_a_refused_subscription_is_logged_and_the_collector_never_says_it_is_connected(collectors, caplog):
    collector = collectors()
    refused = [ReasonCode(PacketTypes.SUBACK, identifier=1), ReasonCode(PacketTypes.SUBACK, identifier=135)]
    collector._on_subscribe(collector.client, None, 1, refused, None)
    assert not collector.connected.is_set()
    assert "subscription refused: Not authorized\n" in caplog.text  # the refused ones only, in words
    collector._on_subscribe(collector.client, None, 2, [ReasonCode(PacketTypes.SUBACK, identifier=1)] * 2, None)
    assert collector.connected.is_set()


def test_a_refused_connection_is_logged_with_the_brokers_reason(collectors, caplog):
    collector = collectors()
    collector._on_connect(collector.client, None, None, ReasonCode(PacketTypes.CONNACK, identifier=135), None)
    assert "broker refused the connection: Not authorized" in caplog.text
    assert "on_connect failed" not in caplog.text
