"""Store and forward against a real Mosquitto: nothing lost, nothing stored twice."""

import json
import os
import signal
import subprocess
import sys
import threading
import time

import paho.mqtt.client as mqtt
import pytest
import yaml

from edge.cli import build_parser
from edge.mqtt.topics import Topics
from edge.store import Store
from tests.conftest import ROOT, SCENARIOS
from tests.emulators import wait_for
from tests.mqtt.helpers import CollectorSide, GateSide, refuse_quarantine, wait_count


def test_2000_events_across_five_broker_restarts(broker, tmp_path):
    collector = CollectorSide(broker, f"sqlite:///{tmp_path}/collector.db").start()
    gate = GateSide(broker, tmp_path / "gate")
    gate.link.start()
    assert gate.link.connected.wait(10)
    sent: list[str] = []
    stop = threading.Event()

    def produce():
        for batch in range(40):
            sent.extend(gate.record(50, start=batch * 50))
            stop.wait(0.03)

    producer = threading.Thread(target=produce)
    producer.start()
    for _ in range(5):
        wait_for(lambda: len(sent) >= 200, timeout=10)
        broker.restart()
        assert gate.link.connected.wait(15) and collector.collector.connected.wait(15)
    producer.join()
    assert len(sent) == 2000
    count = wait_count(collector.db, 2000)
    assert count == 2000, (gate.store.outbox_size(), gate.link.delivered, collector.collector.received,
                           collector.collector.client.is_connected(), gate.link.connected.is_set())
    assert wait_for(lambda: gate.store.outbox_size() == 0, timeout=30)
    stored = {e["event_id"] for e in collector.db.events(limit=10_000)}
    assert stored == set(sent)
    numbers = [e["n"] for e in collector.db.events(limit=10_000)]
    assert sorted(numbers) == list(range(2000))
    gate.close()
    collector.close()


def test_outbox_holds_events_while_the_broker_is_away(broker, tmp_path):
    broker.stop()
    gate = GateSide(broker, tmp_path / "gate")
    gate.link.start()
    ids = gate.record(30)
    assert gate.store.outbox_size() == 30
    broker.start()
    collector = CollectorSide(broker, f"sqlite:///{tmp_path}/c.db").start()
    assert gate.link.connected.wait(15)
    assert wait_count(collector.db, 30) == 30
    assert {e["event_id"] for e in collector.db.events()} == set(ids)
    gate.close()
    collector.close()


@pytest.mark.parametrize("protocol", ["3.1.1", "5"])
def test_two_collectors_on_a_shared_subscription_store_each_event_once(broker, tmp_path, protocol):
    url = f"sqlite:///{tmp_path}/shared.db"
    first = CollectorSide(broker, url, client_id="c1", protocol=protocol).start()
    second = CollectorSide(broker, url, client_id="c2", protocol=protocol).start()
    gate = GateSide(broker, tmp_path / "gate")
    gate.link.start()
    gate.record(600)
    assert wait_count(first.db, 600) == 600
    assert wait_for(lambda: first.collector.received + second.collector.received >= 600, timeout=30)
    assert first.collector.received > 0 and second.collector.received > 0  # the load was split
    assert first.collector.stored + second.collector.stored == 600
    gate.close()
    first.close()
    second.close()


def test_collector_run_speaks_mqtt_3_1_1_unless_told_with_the_collectors_own_defaults():
    from collector.identity import CLIENT_ID, GROUP

    run = build_parser().parse_args(["collector", "run"])
    assert (run.protocol, run.group, run.client_id) == ("3.1.1", GROUP, CLIENT_ID)
    assert build_parser().parse_args(["collector", "run", "--protocol", "5"]).protocol == "5"


def test_collectors_of_two_groups_each_store_every_event(broker, tmp_path):
    """A second group (an archive, a second site's cloud) takes its own copy; a group splits only among its own."""
    main = CollectorSide(broker, f"sqlite:///{tmp_path}/main.db", client_id="c1", group="main").start()
    archive = CollectorSide(broker, f"sqlite:///{tmp_path}/archive.db", client_id="c2", group="archive").start()
    gate = GateSide(broker, tmp_path / "gate")
    gate.link.start()
    ids = set(gate.record(40))
    assert wait_count(main.db, 40) == 40 and wait_count(archive.db, 40) == 40
    assert {e["event_id"] for e in main.db.events()} == ids == {e["event_id"] for e in archive.db.events()}
    gate.close()
    main.close()
    archive.close()


@pytest.mark.parametrize("protocol", ["3.1.1", "5"])
def test_what_arrives_while_the_collectors_are_stopped_waits_for_them_at_the_broker(broker, tmp_path, protocol):
    collector = CollectorSide(broker, f"sqlite:///{tmp_path}/c.db", protocol=protocol).start()
    collector.close()  # a clean stop: its session and its place in the shared group stay with the broker
    gate = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="g", protocol=mqtt.MQTTv5)
    gate.connect("127.0.0.1", broker.port)
    gate.loop_start()
    ids = [f"queued-{n}" for n in range(50)]
    for event_id in ids:  # the gate resends nothing here: what arrives was queued for the collector
        body = {"event_id": event_id, "time": time.time(), "site": "s", "gate": "g", "kind": "decision"}
        gate.publish(Topics("s", "g").event, json.dumps(body), qos=1).wait_for_publish(5)
    gate.disconnect()
    gate.loop_stop()
    collector = CollectorSide(broker, f"sqlite:///{tmp_path}/c.db", protocol=protocol).start()
    assert wait_count(collector.db, 50) == 50
    assert {e["event_id"] for e in collector.db.events()} == set(ids)
    collector.close()


def test_a_batch_left_unstored_at_stop_comes_again_to_the_next_collector(broker, fake_gate, tmp_path):
    """Acknowledged by hand, after the commit: a collector stopped (or killed) before it could store a
    message leaves it with the broker, which sends it again when the collector's session comes back."""
    url = f"sqlite:///{tmp_path}/c.db"
    first = CollectorSide(broker, url).start()
    other = refuse_quarantine(tmp_path / "c.db")
    fake_gate.publish(Topics("s", "g").event, b"{not an event", qos=1).wait_for_publish(5)
    assert wait_for(lambda: first.collector.retries >= 1, timeout=10)
    first.close()
    other.execute("DROP TRIGGER refuse")
    other.commit()
    other.close()
    second = CollectorSide(broker, url).start()
    assert wait_for(lambda: len(second.db.quarantined()) == 1, timeout=10)
    assert second.collector.received == 1
    second.close()


def test_sigkilled_daemon_loses_nothing_and_duplicates_are_absorbed(broker, tmp_path):
    collector = CollectorSide(broker, f"sqlite:///{tmp_path}/c.db").start()
    state = tmp_path / "state"
    config = tmp_path / "gate.yaml"
    config.write_text(yaml.safe_dump({
        "state_dir": str(state), "mqtt": {"port": broker.port, "telemetry_interval_s": 0.5, "redeliver_after_s": 3},
        "simulation": {"scenario": str(SCENARIOS / "residents_only.yaml"), "realtime": False, "loop": True},
        "ui": {"enabled": False}}))
    command = [sys.executable, "-m", "edge.cli", "-c", str(config), "run"]
    daemon = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    assert wait_for(lambda: collector.db.count() >= 5, timeout=120)
    os.kill(daemon.pid, signal.SIGKILL)
    daemon.wait()
    daemon = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    before = collector.db.count()
    assert wait_for(lambda: collector.db.count() >= before + 5, timeout=120)
    daemon.send_signal(signal.SIGTERM)
    assert daemon.wait(timeout=60) == 0
    with Store(state) as store:
        recorded = {e["event_id"] for e in store.events(limit=1_000_000)}
        assert store.outbox_size() == 0
    assert wait_for(lambda: collector.db.count() >= len(recorded), timeout=30)
    stored = {e["event_id"] for e in collector.db.events(limit=1_000_000)}
    assert stored == recorded
    assert collector.collector.received >= len(recorded)  # some arrived twice; stored once
    collector.close()
