"""Anti-passback across a site on a real Mosquitto: an entry at one gate holds the person back at the other entry
gates (one that joins later included), an exit or an administrator's reset frees them everywhere, and what another
gate says is checked before it counts."""

import json
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import paho.mqtt.client as mqtt

from edge.admin import AdminClient, write_key
from edge.app import Runtime
from edge.config import parse_config
from edge.passback import person_key
from tests.conftest import SCENARIOS
from tests.emulators import wait_for

SITE = "demo-site"
UID = "c0ffee00c0ffee00c0ffee00c0ffee00"


def gate(broker, tmp_path, gate_id: str, direction: str, admin_public: str = "") -> Runtime:
    settings = {"site": {"site_id": SITE, "gate_id": gate_id, "direction": direction},
                "mqtt": {"port": broker.port, **({"admin_keys": {"admin-1": admin_public}} if admin_public else {})},
                "checks": {"antipassback": {"mode": "hard"}}, "ui": {"enabled": False},
                "simulation": {"scenario": str(SCENARIOS / "residents_only.yaml"), "realtime": False, "loop": False}}
    runtime = Runtime(parse_config(settings), state_dir=tmp_path / gate_id, control=False)
    runtime.store.apply_resident_record(UID, 1, name="Chen", unit="3-502", embeddings=[np.ones(4, np.float32) / 2])
    assert runtime.link.connected.wait(10)
    return runtime


def held_back(runtime: Runtime) -> bool:
    runtime._between_frames()
    chen = runtime.store.resident_by_uid(UID)
    return runtime.gate.passback.conflict(("resident", chen.id)) is not None


def answered(runtime: Runtime, admin: AdminClient, args: dict) -> dict:
    """The gate's reply to a signed passback.reset, its console polled here as its frame loop would."""
    with ThreadPoolExecutor(1) as pool:
        reply = pool.submit(admin.send, "passback.reset", args)
        assert wait_for(lambda: (runtime._between_frames(), reply.done())[1], timeout=10)
        return reply.result()


def chen(runtime: Runtime) -> tuple[str, object]:
    return ("resident", runtime.store.resident_by_uid(UID).id)


def test_an_entry_at_one_gate_holds_the_person_back_at_every_entry_until_they_exit(broker, tmp_path):
    east, west, out = (gate(broker, tmp_path, "east", "entry"), gate(broker, tmp_path, "west", "entry"),
                       gate(broker, tmp_path, "out", "exit"))
    try:
        east.gate.passback.passed(chen(east))
        assert held_back(east)
        assert wait_for(lambda: held_back(west), timeout=10)
        assert not held_back(out)  # going out is what they should do
        late = gate(broker, tmp_path, "late", "entry")  # joined after the entry: the retained record tells it
        try:
            assert wait_for(lambda: held_back(late), timeout=10)
            out.gate.passback.passed(chen(out))
            assert wait_for(lambda: not held_back(west) and not held_back(late) and not held_back(east), timeout=10)
        finally:
            late.close()
    finally:
        for runtime in (east, west, out):
            runtime.close()


def test_an_administrator_resets_a_person_at_every_gate_and_a_lie_is_refused(broker, tmp_path):
    write_key(tmp_path / "admin.key", "admin-1")
    admin_public = json.loads((tmp_path / "admin.key").read_text())["public"]
    east = gate(broker, tmp_path, "east", "entry", admin_public)
    west = gate(broker, tmp_path, "west", "entry", admin_public)
    sender = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="someone", protocol=mqtt.MQTTv5)
    sender.connect("127.0.0.1", broker.port)
    sender.loop_start()
    try:
        key = person_key(f"resident:{UID}")
        hostile = [b"\xff{", b"[" * 5000, json.dumps({"person": "resident:other", "direction": "in", "time": 1}),
                   json.dumps({"person": f"resident:{UID}", "direction": "in", "time": 4e10})]  # far in the future
        for payload in hostile:
            sender.publish(f"gatepost/{SITE}/gate-9/movements/{key}", payload, qos=1).wait_for_publish(5)
        assert wait_for(lambda: (west._between_frames(), west.gate.passback.refused)[1] >= len(hostile), timeout=10)
        assert not held_back(west)

        east.gate.passback.passed(chen(east))
        assert wait_for(lambda: held_back(west), timeout=10)
        with AdminClient(east.config.mqtt, tmp_path / "admin.key", site=SITE, gate="west") as admin:
            reply, missing, malformed = (answered(west, admin, args) for args in
                                         ({"resident_uid": UID}, {"resident_uid": "nobody"}, {"resident_uid": 7}))
        assert reply["ok"], reply
        assert not missing["ok"] and "not found" in missing["error"]
        assert not malformed["ok"] and "args.resident_uid" in malformed["error"]
        assert wait_for(lambda: not held_back(west) and not held_back(east), timeout=10)
        actions = [e for e in west.store.events(kind="action") if e.get("action") == "passback_reset"]
        assert actions and actions[0]["actor"] == "admin-1", actions
    finally:
        sender.loop_stop()
        sender.disconnect()
        east.close()
        west.close()
