"""`gatepost simulate` events arrive in the collector, and its queries answer from them."""

import json
import subprocess
import sys

import yaml

from tests.conftest import ROOT, SCENARIOS
from tests.emulators import wait_for
from tests.mqtt.helpers import CollectorSide


def gatepost(*args):
    return subprocess.run([sys.executable, "-m", "edge.cli", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)


def test_simulated_events_reach_the_collector_and_stats_add_up(broker, tmp_path):
    db_url = f"sqlite:///{tmp_path}/collector.db"
    collector = CollectorSide(broker, db_url).start()
    config = tmp_path / "gate.yaml"
    config.write_text(yaml.safe_dump({"mqtt": {"port": broker.port, "telemetry_interval_s": 0.5}}))
    report_path = tmp_path / "report.json"
    result = gatepost("-c", str(config), "simulate", "--scenario", str(SCENARIOS / "morning.yaml"),
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
    assert "demo-site/gate-1" in table.stdout and "fever 1" in table.stdout and "face " in table.stdout
    events = gatepost("collector", "events", "--db", db_url, "--kind", "alarm", "--limit", "50")
    alarms = [json.loads(line) for line in events.stdout.splitlines()]
    assert {a["alarm"] for a in alarms} >= {"fever", "spoof", "tailgate"}


def test_malformed_telemetry_is_refused_and_the_rest_kept(broker, tmp_path):
    import paho.mqtt.client as mqtt

    collector = CollectorSide(broker, f"sqlite:///{tmp_path}/collector.db").start()
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="fake-gate", protocol=mqtt.MQTTv5)
    client.connect("127.0.0.1", broker.port)
    client.loop_start()
    topic = "gatepost/site-a/gate-9/telemetry"
    for payload in (b"{not json", json.dumps({"stage_ms": {"face": {"p50": "fast"}}}),
                    json.dumps({"stage_ms": {"face": {"p50": 10.0, "p95": 20.0}}}),
                    json.dumps({"stage_ms": {"face": {"p50": 14.0, "p95": 30.0}},
                                "decision_ms": {"p50": 40.0, "p95": 90.0}})):
        client.publish(topic, payload, qos=1).wait_for_publish(5)
    assert wait_for(lambda: len(collector.db.stage_timings()) == 2 and collector.collector.rejected == 2, timeout=10)
    rows = {stage: (p50, p95) for site, gate, _, stage, p50, p95 in collector.db.stage_timings(site="site-a")}
    assert rows == {"face": (12.0, 30.0), "decision": (40.0, 90.0)}
    client.loop_stop()
    client.disconnect()
    collector.close()
