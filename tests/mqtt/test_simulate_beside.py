"""`gatepost simulate` with a live gate's config, beside that gate: the live gate keeps its connection, nothing is
published as it, and the simulation takes none of the live gate's run-time overrides."""

import subprocess
import sys

import paho.mqtt.client as mqtt
import yaml

from edge.app import Runtime
from edge.overrides import load, overrides_path
from tests.conftest import ROOT, SCENARIOS
from tests.emulators import wait_for


def test_a_simulation_beside_a_live_gate_leaves_it_alone(broker, tmp_path):
    live_state = tmp_path / "live"
    config_path = tmp_path / "gate.yaml"
    config_path.write_text(yaml.safe_dump({"state_dir": str(live_state), "ui": {"enabled": False},
                                           "mqtt": {"port": broker.port, "client_id": "gatepost-live"}}))
    live_state.mkdir()
    # a run-time change made on the live gate (so it runs as "elsewhere"); a simulation that took it would publish
    # as "elsewhere-sim"
    overrides_path(live_state).write_text(yaml.safe_dump({"site.gate_id": "elsewhere"}))
    live = Runtime(load(config_path), config_path=config_path, control=False, ui=False)
    seen: list[str] = []
    watcher = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="watcher")
    watcher.on_message = lambda _c, _u, message: seen.append(message.topic)
    watcher.connect("127.0.0.1", broker.port)
    watcher.subscribe("gatepost/#", qos=1)
    watcher.loop_start()
    try:
        assert live.link is not None and live.link.connected.wait(10)
        drops: list = []
        live.link.client.on_disconnect = lambda *args: drops.append(args)
        report = tmp_path / "report.json"
        result = subprocess.run([sys.executable, "-m", "edge.cli", "-c", str(config_path), "simulate", "--mqtt",
                                 "--scenario", str(SCENARIOS / "morning.yaml"), "--report", str(report)],
                                cwd=ROOT, capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stderr
        assert "no run-time overrides" in result.stderr and "as gate elsewhere-sim" not in result.stderr
        assert wait_for(lambda: any(topic.startswith("gatepost/demo-site/gate-1-sim/event") for topic in seen),
                        timeout=10)
        assert not drops and live.link.connected.is_set()
        assert not [t for t in seen if t.startswith("gatepost/demo-site/elsewhere/event") or "elsewhere-sim" in t]
    finally:
        watcher.loop_stop()
        watcher.disconnect()
        live.close()


def test_simulate_keeps_mqtt_off_unless_asked(tmp_path):
    from edge.simulate import simulation_config

    path = tmp_path / "gate.yaml"
    path.write_text(yaml.safe_dump({"mqtt": {"client_id": "gatepost-live"}, "site": {"gate_id": "g7"}}))
    assert not simulation_config(path).mqtt.enabled
    asked = simulation_config(path, mqtt=True)
    assert asked.site.gate_id == "g7-sim" and asked.mqtt.client_id.startswith("gatepost-demo-site-g7-sim-")
