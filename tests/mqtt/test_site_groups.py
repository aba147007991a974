"""Access groups edited site-wide from the console on a real Mosquitto: a signed record reaches every gate it covers
(one that joins later included), overrides a gate's own file, is refused whole when it is unsigned, forged or wrong,
and a removal reaches every gate; an older record never replaces a newer one."""

import json
import subprocess
import sys

import paho.mqtt.client as mqtt
import yaml

from edge.admin import AdminClient, record_version, write_key
from edge.app import Runtime
from edge.config import parse_config
from edge.mqtt.auth import generate_key, sign
from edge.mqtt.site_groups import group_record
from tests.conftest import ROOT, SCENARIOS
from tests.emulators import wait_for

SITE = "demo-site"
WEEKDAYS = {day: ["07:00-22:00"] for day in ("mon", "tue", "wed", "thu", "fri", "sat")}


def gate(broker, tmp_path, gate_id: str, admin_public: str) -> Runtime:
    settings = {"site": {"site_id": SITE, "gate_id": gate_id},
                "mqtt": {"port": broker.port, "admin_keys": {"admin-1": admin_public}}, "ui": {"enabled": False},
                "checks": {"schedule": {"groups": {"cleaners": {"weekly": {"mon": ["08:00-12:00"]}}}}},
                "simulation": {"scenario": str(SCENARIOS / "residents_only.yaml"), "realtime": False, "loop": False}}
    runtime = Runtime(parse_config(settings), state_dir=tmp_path / gate_id, control=False)
    assert runtime.link.connected.wait(10)
    return runtime


def rules(runtime: Runtime, name: str):
    runtime._between_frames()
    return runtime.gate.policy.group_rules(name)


def test_a_group_set_from_the_console_reaches_the_gates_it_covers_and_its_removal_reaches_all(broker, tmp_path):
    write_key(tmp_path / "admin.key", "admin-1")
    admin_public = json.loads((tmp_path / "admin.key").read_text())["public"]
    east, west = gate(broker, tmp_path, "east", admin_public), gate(broker, tmp_path, "west", admin_public)
    try:
        with AdminClient(east.config.mqtt, tmp_path / "admin.key", site=SITE) as admin:
            admin.publish_group(group_record("couriers", record_version(), weekly=WEEKDAYS,
                                             verification="card_and_face"))
            admin.publish_group(group_record("cleaners", record_version(), gates=["east"],
                                             weekly={"fri": ["08:00-12:00"]}))
        assert wait_for(lambda: rules(west, "couriers") is not None and rules(east, "cleaners") is not None, 10)
        assert rules(west, "couriers").verification == "card_and_face"
        assert rules(east, "cleaners").weekly == {"fri": ["08:00-12:00"]}  # the site's record over the file's
        assert rules(west, "cleaners") is None  # not a gate the site's record covers: not admitted here
        assert list(west.gate.groups.in_force()) == ["couriers"]
        late = gate(broker, tmp_path, "late", admin_public)  # joined afterwards: the retained records tell it
        try:
            assert wait_for(lambda: rules(late, "couriers") is not None, 10)
            config = tmp_path / "gate.yaml"
            config.write_text(yaml.safe_dump({"mqtt": {"port": broker.port}}))
            done = subprocess.run([sys.executable, "-m", "edge.cli", "-c", str(config), "admin", "remove-group",
                                   "couriers", "--key", str(tmp_path / "admin.key"), "--site", SITE],
                                  cwd=ROOT, capture_output=True, text=True, timeout=60)
            assert done.returncode == 0, done.stderr
            assert wait_for(lambda: all(rules(g, "couriers") is None for g in (east, west, late)), 10)
        finally:
            late.close()
        events = [e for e in west.store.events(kind="action") if e.get("action") == "group_record"]
        assert [(e["group"], e["removed"]) for e in events] == [("couriers", False), ("cleaners", False),
                                                                ("couriers", True)]
    finally:
        east.close()
        west.close()


def test_a_group_record_that_is_unsigned_forged_or_wrong_is_refused_whole(broker, tmp_path):
    admin_private, admin_public = generate_key()
    forger_private, _ = generate_key()
    runtime = gate(broker, tmp_path, "east", admin_public)
    sender = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="someone", protocol=mqtt.MQTTv5)
    sender.connect("127.0.0.1", broker.port)
    sender.loop_start()
    try:
        good = group_record("couriers", 5, weekly=WEEKDAYS)
        overlapping = {**good, "weekly": {"mon": ["08:00-12:00", "11:00-13:00"]}}
        hostile = [
            ("couriers", b"\xff{"),
            ("couriers", json.dumps(good)),  # unsigned
            ("couriers", json.dumps(sign(forger_private, "admin-1", "group.record", good, SITE))),
            ("couriers", json.dumps(sign(admin_private, "admin-1", "resident.record", good, SITE))),  # another command
            ("couriers", json.dumps(sign(admin_private, "admin-1", "group.record", good, "other-site"))),
            ("cleaners", json.dumps(sign(admin_private, "admin-1", "group.record", good, SITE))),  # not its topic
            ("couriers", json.dumps(sign(admin_private, "admin-1", "group.record", overlapping, SITE))),
            ("couriers", json.dumps(sign(admin_private, "admin-1", "group.record", {**good, "gates": "east"}, SITE))),
            ("couriers", json.dumps(sign(admin_private, "admin-1", "group.record", {**good, "version": -1}, SITE))),
        ]
        for name, payload in hostile:
            sender.publish(f"gatepost/{SITE}/groups/{name}", payload, qos=1).wait_for_publish(5)
        assert wait_for(lambda: (runtime._between_frames(), runtime.uplink.site_groups.refused)[1] >= len(hostile),
                        timeout=10)
        assert rules(runtime, "couriers") is None
        for record in (good, {**good, "version": 4, "weekly": {}}):  # the newer first: the older changes nothing
            payload = json.dumps(sign(admin_private, "admin-1", "group.record", record, SITE))
            sender.publish(f"gatepost/{SITE}/groups/couriers", payload, qos=1).wait_for_publish(5)
        assert wait_for(lambda: rules(runtime, "couriers") is not None, timeout=10)
        runtime._between_frames()
        assert rules(runtime, "couriers").weekly == WEEKDAYS
    finally:
        sender.loop_stop()
        sender.disconnect()
        runtime.close()
