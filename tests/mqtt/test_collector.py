"""`gatepost simulate` events arrive in the collector, and its queries answer from them."""

import json
import subprocess
import sys

import yaml

from tests.conftest import ROOT, SCENARIOS
from tests.emulators import wait_for
from tests.mqtt.helpers import CollectorSide, refuse_quarantine


def gatepost(*args):
    return subprocess.run([sys.executable, "-m", "edge.cli", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)


def test_simulated_events_reach_the_collector_and_stats_add_up(broker, tmp_path):
    db_url = f"sqlite:///{tmp_path}/collector.db"
    collector = CollectorSide(broker, db_url).start()
    config = tmp_path / "gate.yaml"
    config.write_text(yaml.safe_dump({"mqtt": {"port": broker.port, "telemetry_interval_s": 0.5}}))
    report_path = tmp_path / "report.json"
    result = gatepost("-c", str(config), "simulate", "--mqtt", "--scenario", str(SCENARIOS / "morning.yaml"),
                      "--report", str(report_path))
    assert result.returncode == 0, result.stderr
    report = json.loads(report_path.read_text())
    assert report["events_delivered_to_broker"] is True
    assert wait_for(lambda: collector.db.count() >= report["events_recorded"], timeout=30)
    assert collector.db.count() == report["events_recorded"]
    collector.close()

    stats = gatepost("collector", "stats", "--db", db_url, "--json")
    assert stats.returncode == 0, stats.stderr
    rows = json.loads(stats.stdout)
    granted = sum(1 for v in report["visits"] if v["decision"] == "granted")
    assert sum(r["entries"] for r in rows) == granted
    denials = {}
    for row in rows:
        for code, n in row["denials"].items():
            denials[code] = denials.get(code, 0) + n
    assert denials == {"unknown_face": 1, "fever": 1, "spoof": 1}
    assert sum(r["fevers"] for r in rows) == 1
    assert all(r["p95_decision_ms"] is not None for r in rows if r["entries"])
    # the gate's own per-stage timings, from its telemetry
    timed = [r for r in rows if r["stage_ms"]]
    assert timed and set(timed[0]["stage_ms"]) >= {"face", "thermal", "qr"}
    face = timed[0]["stage_ms"]["face"]
    assert 0 < face["p50"] <= face["p95"] < 5000

    table = gatepost("collector", "stats", "--db", db_url)
    # a simulation is a gate of its own: never filed as the gate whose config it borrowed
    assert {row["gate"] for row in rows} == {"gate-1-sim"}
    assert "demo-site/gate-1-sim" in table.stdout and "fever 1" in table.stdout and "face " in table.stdout
    events = gatepost("collector", "events", "--db", db_url, "--kind", "alarm", "--limit", "50",
                      "--since", "2026-01-01")
    alarms = [json.loads(line) for line in events.stdout.splitlines()]
    assert {a["alarm"] for a in alarms} >= {"fever", "spoof", "tailgate"}


def test_malformed_telemetry_is_refused_and_the_rest_kept(broker, fake_gate, tmp_path):
    collector = CollectorSide(broker, f"sqlite:///{tmp_path}/collector.db").start()
    topic = "gatepost/site-a/gate-9/telemetry"
    for payload in (b"{not json", json.dumps({"stage_ms": {"face": {"p50": "fast"}}}),
                    json.dumps({"stage_ms": {"face": {"p50": 10.0, "p95": 20.0}}}),
                    json.dumps({"stage_ms": {"face": {"p50": 14.0, "p95": 30.0}},
                                "decision_ms": {"p50": 40.0, "p95": 90.0}})):
        fake_gate.publish(topic, payload, qos=1).wait_for_publish(5)
    assert wait_for(lambda: len(collector.db.stage_timings()) == 2 and collector.collector.rejected == 2, timeout=10)
    rows = {stage: (p50, p95) for site, gate, _, stage, p50, p95 in collector.db.stage_timings(site="site-a")}
    assert rows == {"face": (12.0, 30.0), "decision": (40.0, 90.0)}
    collector.close()


def test_poison_messages_are_quarantined_and_the_writer_lives_on(broker, fake_gate, tmp_path):
    """Regressions: `"site": "#"` killed the writer thread for good, deep JSON did the same, and
    `"time": 1e999` was stored as Infinity and broke `collector stats` for the whole database."""
    db_url = f"sqlite:///{tmp_path}/collector.db"
    collector = CollectorSide(broker, db_url).start()
    topic = "gatepost/site-a/gate-9/event"
    poison = [json.dumps({"event_id": "p1", "site": "#", "gate": "gate-9", "kind": "decision", "time": 1.0}),
              b"[" * 100_000,
              b'{"event_id": "p3", "kind": "decision", "time": 1e999}',
              json.dumps({"event_id": "p4", "site": "site-a", "gate": "gate-1", "kind": "decision", "time": 1.0})]
    acks = []
    fake_gate.on_message = lambda c, u, m: acks.append((json.loads(m.payload), m.qos))
    fake_gate.subscribe("gatepost/site-a/+/ack", qos=1)
    for payload in poison:
        fake_gate.publish(topic, payload, qos=1).wait_for_publish(5)
    good = {"event_id": "g1", "site": "site-a", "gate": "gate-9", "kind": "decision", "time": 3600.0,
            "granted": True}
    fake_gate.publish(topic, json.dumps(good), qos=1).wait_for_publish(5)
    assert wait_for(lambda: collector.db.count() == 1 and len(collector.db.quarantined()) == 4, timeout=15)
    reasons = sorted(reason.split(":")[0] for _, _, _, reason in collector.db.quarantined())
    assert reasons == ["event", "event", "gate", "site"]  # deep and non-finite JSON: "event: ..."
    assert collector.collector._reader.is_alive() and collector.collector._writer.is_alive()
    assert wait_for(lambda: ({"ids": ["g1"]}, 0) in acks, timeout=10)  # to the topic's gate, at QoS 0
    collector.close()
    stats = gatepost("collector", "stats", "--db", db_url, "--json")
    assert stats.returncode == 0, stats.stderr
    assert [r["entries"] for r in json.loads(stats.stdout)] == [1]


def test_a_grant_sharing_an_earlier_opening_is_not_a_second_entry():
    from collector.stats import hourly

    base = {"kind": "decision", "site": "s", "gate": "g", "time": 7200.0, "source": "pipeline"}
    rows = hourly([{**base, "event_id": "a", "granted": True, "same_opening_as": None},
                   {**base, "event_id": "b", "granted": True, "same_opening_as": "a"},
                   {**base, "event_id": "c", "granted": False, "reason_codes": ["unknown_face"]}])
    assert [(row.entries, dict(row.denials)) for row in rows] == [(1, {"unknown_face": 1})]


def test_a_message_whose_quarantine_fails_is_not_acknowledged_and_is_kept_until_it_is_written(broker, fake_gate, tmp_path):
    """A collector that swallowed a failed quarantine write acknowledged the message: it was gone, unrecorded."""
    db_url = f"sqlite:///{tmp_path}/collector.db"
    collector = CollectorSide(broker, db_url).start()
    other = refuse_quarantine(tmp_path / "collector.db")
    fake_gate.publish("gatepost/site-a/gate-9/event", b'{"event_id": "p1", "kind": "decision", "time": 1e999}',
                   qos=1).wait_for_publish(5)
    assert not wait_for(lambda: len(collector.db.quarantined()) > 0, timeout=2.0)
    other.execute("DROP TRIGGER refuse")
    other.commit()
    assert wait_for(lambda: len(collector.db.quarantined()) == 1, timeout=20)
    other.close()
    collector.close()


def test_events_alarms_statuses_and_snapshots_come_at_qos_1_and_telemetry_at_qos_0(broker, fake_gate, tmp_path):
    """What the collector asks of the broker: at least once for what it stores, at most once for telemetry
    (a report lost is sent again shortly; one queued while the collector is away would only be stale)."""
    collector = CollectorSide(broker, f"sqlite:///{tmp_path}/collector.db").start()
    assert collector.collector.client.keepalive == collector.collector.config.keepalive_s != 60  # not paho's
    delivered: dict[str, int] = {}
    collector.collector.client.on_message = lambda c, u, m: delivered.setdefault(m.topic.rsplit("/", 1)[1], m.qos)
    for kind in ("event", "alarm", "telemetry", "status", "snapshot"):  # each at QoS 2: the subscription's QoS caps it
        fake_gate.publish(f"gatepost/site-a/gate-9/{kind}", b"{}", qos=2).wait_for_publish(5)
    assert wait_for(lambda: len(delivered) == 5, timeout=10)
    assert delivered == {"event": 1, "alarm": 1, "telemetry": 0, "status": 1, "snapshot": 1}
    collector.close()


def test_a_stored_event_is_acknowledged_so_the_broker_does_not_send_it_again(broker, fake_gate, tmp_path):
    """Each message is acknowledged by hand once stored; one left unacknowledged comes again to the same
    session when the collector reconnects, ahead of anything new."""
    url = f"sqlite:///{tmp_path}/collector.db"

    def send(event_id: str) -> None:
        body = {"event_id": event_id, "site": "site-a", "gate": "gate-9", "kind": "decision", "time": 3600.0}
        fake_gate.publish("gatepost/site-a/gate-9/event", json.dumps(body), qos=1).wait_for_publish(5)

    first = CollectorSide(broker, url).start()
    send("e1")
    assert wait_for(lambda: first.collector.events_received == 1, timeout=10)
    first.close()  # a clean stop: the session stays with the broker, with anything unacknowledged
    second = CollectorSide(broker, url).start()  # the same client id: the same session
    send("e2")
    assert wait_for(lambda: second.db.count() == 2 and second.collector.events_received >= 1, timeout=10)
    assert second.collector.events_received == 1  # e2 alone: e1 was acknowledged
    second.close()
