"""Snapshots sent to the collector only where configured: a gate on a real broker sends each decision's face once;
the collector keeps it beside the event and the fleet view shows it to an operator logged in (audited); a message
that is not a JPEG is quarantined with its reason."""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request

import paho.mqtt.client as mqtt
import yaml

from edge.passwords import hash_secret
from collector.web.server import FleetServer
from edge.app import Runtime
from edge.config import parse_config
from tests.conftest import SCENARIOS
from tests.emulators import wait_for
from tests.mqtt.helpers import CollectorSide


def _gate(tmp_path, broker, storage: dict) -> Runtime:
    tmp_path.mkdir(parents=True, exist_ok=True)
    scenario = tmp_path / "one.yaml"
    scenario.write_text(yaml.safe_dump({
        "faces_dir": str(SCENARIOS / "faces"), "residents": [{"name": "Chen", "photos": ["resident_c/01.jpg"]}],
        "visitors": [{"at": 0.0, "photo": "resident_c/04.jpg", "identity": "Chen", "expect": "granted"}]}))
    from drivers.sim.scenario import load_scenario

    config = parse_config({"mqtt": {"port": broker.port}, "ui": {"enabled": False}, "storage": storage})
    runtime = Runtime(config, state_dir=tmp_path / "state", scenario=load_scenario(scenario), realtime=False,
                      loop=False, control=False, ui=False)
    assert runtime.uplink is not None and runtime.uplink.link.connected.wait(15)
    return runtime


def test_a_gate_configured_so_sends_each_decisions_face_and_the_fleet_view_shows_it(broker, tmp_path):
    collector = CollectorSide(broker, f"sqlite:///{tmp_path}/collector.db").start()
    runtime = _gate(tmp_path / "gate", broker, {"snapshots": "face", "snapshots_to_collector": True})
    server = None
    try:
        runtime.run(lambda: False)
        [decision] = [e for e in runtime.store.latest_events(20) if e["kind"] == "decision"]
        event_id = decision["event_id"]
        assert wait_for(lambda: collector.db.snapshot(event_id) is not None, timeout=30)
        assert collector.db.snapshot(event_id) == runtime.service.snapshot(event_id)
        collector.db.set_operator("ops", *hash_secret("correct horse battery"))
        server = FleetServer(collector.db, port=0, language="zh")
        server.start()
        url = f"http://127.0.0.1:{server.port}"
        assert _status(url + f"/api/snapshots/{event_id}.jpg") == 401
        cookie = _login(url)
        assert wait_for(lambda: collector.db.count() >= 1, timeout=30)
        found = _get_json(url + "/api/events?kind=decision", cookie)["events"]
        assert [e.get("snapshot") for e in found if e["event_id"] == event_id] == [True]
        request = urllib.request.Request(url + f"/api/snapshots/{event_id}.jpg", headers={"Cookie": cookie})
        with urllib.request.urlopen(request, timeout=5) as response:
            assert response.headers["Content-Type"] == "image/jpeg" and response.read()[:3] == b"\xff\xd8\xff"
        assert "view_snapshot" in [action for _, _, action, _ in collector.db.audit_log(10)]
    finally:
        if server is not None:
            server.stop()
        runtime.close()
        collector.close()


def test_without_the_option_no_snapshot_leaves_the_gate_and_a_forged_one_is_quarantined(broker, tmp_path):
    collector = CollectorSide(broker, f"sqlite:///{tmp_path}/collector.db").start()
    runtime = _gate(tmp_path / "gate", broker, {"snapshots": "face"})
    try:
        runtime.run(lambda: False)
        [decision] = [e for e in runtime.store.latest_events(20) if e["kind"] == "decision"]
        assert runtime.service.snapshot(decision["event_id"]) is not None  # kept on the gate
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="forger")
        client.connect("127.0.0.1", broker.port)
        client.loop_start()
        forged = json.dumps({"event_id": "e1", "time": 1.0, "jpeg": base64.b64encode(b"<svg/>").decode()})
        client.publish("gatepost/demo-site/gate-1/snapshot", forged, qos=1).wait_for_publish(5)
        assert wait_for(lambda: collector.db.quarantined(), timeout=30)
        assert "jpeg: not a JPEG" in collector.db.quarantined()[0][3]
        client.loop_stop()
        client.disconnect()
        assert wait_for(lambda: collector.db.count() >= 1, timeout=30)
        assert collector.db.snapshot(decision["event_id"]) is None
    finally:
        runtime.close()
        collector.close()


def _status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def _login(url: str) -> str:
    request = urllib.request.Request(url + "/api/login", method="POST",
                                     data=json.dumps({"name": "ops", "password": "correct horse battery"}).encode(),
                                     headers={"Content-Type": "application/json", "Origin": url})
    with urllib.request.urlopen(request, timeout=5) as response:
        return response.headers["Set-Cookie"].split(";")[0]


def _get_json(url: str, cookie: str) -> dict:
    with urllib.request.urlopen(urllib.request.Request(url, headers={"Cookie": cookie}), timeout=5) as response:
        return json.loads(response.read())
