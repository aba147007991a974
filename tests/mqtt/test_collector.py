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
    config.write_text(yaml.safe_dump({"mqtt": {"port": broker.port}}))
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

    table = gatepost("collector", "stats", "--db", db_url)
    assert "demo-site/gate-1" in table.stdout and "fever 1" in table.stdout
    events = gatepost("collector", "events", "--db", db_url, "--kind", "alarm", "--limit", "50")
    alarms = [json.loads(line) for line in events.stdout.splitlines()]
    assert {a["alarm"] for a in alarms} >= {"fever", "spoof", "tailgate"}
