"""The administrators' console against a real broker and a running daemon."""

import json
import signal
import subprocess
import sys
import threading
import time
import uuid

import jsonschema
import paho.mqtt.client as mqtt
import pytest
import yaml
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from edge.mqtt.auth import generate_key, sign
from tests.conftest import ROOT, SCENARIOS
from tests.emulators import LcusBoard, wait_for

SITE, GATE = "demo-site", "gate-1"
REPLY_SCHEMA = json.loads((ROOT / "schemas" / "reply.schema.json").read_text())
TELEMETRY_SCHEMA = json.loads((ROOT / "schemas" / "telemetry.schema.json").read_text())
BASE = f"gatepost/{SITE}/{GATE}"


class Console:
    """A raw MQTT v5 client: publishes whatever bytes a test wants, collects every reply."""

    def __init__(self, port: int) -> None:
        self.replies: list[dict] = []
        self.other: list[tuple[str, bytes]] = []
        self.lock = threading.Condition()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"t-{uuid.uuid4().hex[:6]}",
                                  protocol=mqtt.MQTTv5)
        self.client.on_message = self._message
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        self.client.subscribe([(f"{BASE}/reply/#", 1), ("console/replies", 1), (f"{BASE}/status", 1),
                               ("homeassistant/#", 1), (f"{BASE}/telemetry", 0)])

    def _message(self, client, userdata, message):
        with self.lock:
            if "reply" in message.topic or message.topic == "console/replies":
                self.replies.append(json.loads(message.payload))
            else:
                self.other.append((message.topic, message.payload))
            self.lock.notify_all()

    def send(self, name: str, payload: bytes | str, *, timeout: float = 15.0) -> dict:
        properties = Properties(PacketTypes.PUBLISH)
        properties.ResponseTopic = "console/replies"
        properties.CorrelationData = b"x"
        with self.lock:
            count = len(self.replies)
        self.client.publish(f"{BASE}/cmd/{name}", payload, qos=1, properties=properties)
        with self.lock:
            assert self.lock.wait_for(lambda: len(self.replies) > count, timeout), f"no reply to {name}"
            reply = self.replies[count]
        jsonschema.validate(reply, REPLY_SCHEMA)
        return reply

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture()
def daemon(broker, tmp_path):
    private, public = generate_key()
    board = LcusBoard(channels=1)
    scenario = tmp_path / "strangers.yaml"
    scenario.write_text(yaml.safe_dump({"faces_dir": str(SCENARIOS / "faces"), "visitors": [
        {"at": 0.0, "photo": "stranger_f/01.jpg", "expect": "denied"}]}))
    config = tmp_path / "gate.yaml"
    config.write_text(yaml.safe_dump({
        "state_dir": str(tmp_path / "state"),
        "hardware": {"relay": {"driver": "lcus", "port": board.port}},
        "simulation": {"scenario": str(scenario), "realtime": True, "loop": True},
        "ui": {"enabled": False},
        "mqtt": {"port": broker.port, "admin_keys": {"admin-1": public}, "redeliver_after_s": 3,
                 "telemetry_interval_s": 0.5,
                 "home_assistant": {"enabled": True}},
    }))
    process = subprocess.Popen([sys.executable, "-m", "edge.cli", "-c", str(config), "run"], cwd=ROOT,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    console = Console(broker.port)
    try:
        assert wait_for(lambda: (f"{BASE}/status", b"online") in console.other, timeout=60)
        yield {"private": private, "board": board, "console": console, "config": config}
    finally:
        console.close()
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
        board.close()


def test_signed_commands_work_and_bad_ones_are_refused_with_the_gate_closed(daemon):
    console, board, private = daemon["console"], daemon["board"], daemon["private"]
    target = f"{SITE}/{GATE}"

    status = console.send("status", json.dumps(sign(private, "admin-1", "status", {}, target)))
    assert status["ok"] and status["result"]["gate"] == GATE

    def pulses():
        return board.log.states.count((1, True))

    refusals = {
        "unsigned": {k: v for k, v in sign(private, "admin-1", "open", {"reason": "x"}, target).items() if k != "sig"},
        "forged": sign(generate_key()[0], "admin-1", "open", {"reason": "x"}, target),
        "untrusted": sign(private, "someone", "open", {"reason": "x"}, target),
        "stale": sign(private, "admin-1", "open", {"reason": "x"}, target, ts=time.time() - 60),
        "wrong target": sign(private, "admin-1", "open", {"reason": "x"}, f"{SITE}/gate-2"),
    }
    for reason, message in refusals.items():
        reply = console.send("open", json.dumps(message))
        assert not reply["ok"] and reply["error"].startswith(reason), (reason, reply)
    for payload, reason in ((b"\xff\xfe", "malformed: byte 0 is not UTF-8"), (b"{not json", "malformed: not JSON"),
                            (b"[1, 2]", "malformed: expected a JSON object")):
        reply = console.send("open", payload)
        assert not reply["ok"] and reply["error"].startswith(reason)
    missing_reason = console.send("open", json.dumps(sign(private, "admin-1", "open", {}, target)))
    assert "args.reason is required" in missing_reason["error"]
    assert pulses() == 0  # nothing above opened the gate

    good = json.dumps(sign(private, "admin-1", "open", {"reason": "delivery"}, target))
    assert console.send("open", good)["ok"]
    assert wait_for(lambda: pulses() == 1, timeout=10)
    replay = console.send("open", good)
    assert not replay["ok"] and replay["error"].startswith("replayed")
    assert pulses() == 1


def test_config_and_events_commands(daemon):
    console, private = daemon["console"], daemon["private"]
    target = f"{SITE}/{GATE}"

    def send(name, args):
        return console.send(name, json.dumps(sign(private, "admin-1", name, args, target)))

    operator = daemon["config"].read_text()
    overrides = daemon["config"].parent / "state" / "overrides.yaml"
    bad = send("config.set", {"path": "checks.temperature.threshold_c", "value": 55})
    assert not bad["ok"] and bad["error"].startswith("invalid: checks.temperature.threshold_c")
    unloadable = send("config.set", {"path": "qr.passes.public_keys", "value": {"site": "c2hvcnQ="}})
    assert not unloadable["ok"] and "32 bytes" in unloadable["error"]  # would stop the next start
    good = send("config.set", {"path": "checks.temperature.threshold_c", "value": 37.6})
    assert good["ok"] and good["result"]["applied"] == "now"
    window = send("config.set", {"path": "pipeline.decision_window_s", "value": 4.0})
    assert window["ok"] and window["result"]["applied"] == "now"
    assert send("config.get", {})["result"]["checks"]["temperature"]["threshold_c"] == 37.6
    assert daemon["config"].read_text() == operator  # the operator's file is never rewritten
    assert yaml.safe_load(overrides.read_text()) == {"checks.temperature.threshold_c": 37.6,
                                                     "pipeline.decision_window_s": 4.0}  # the second kept the first
    events = send("events.query", {"kind": "action", "limit": 20})["result"]
    changes = [(e["path"], e["old"], e["new"], e["admin"]) for e in events if e["action"] == "config_changed"]
    assert changes == [("checks.temperature.threshold_c", 37.3, 37.6, "admin-1"),
                       ("pipeline.decision_window_s", 3.0, 4.0, "admin-1")]
    assert any(e["action"] == "command" for e in events)
    unknown = send("self.destruct", {})
    assert not unknown["ok"] and unknown["error"].startswith("unknown command")


def test_home_assistant_discovery_is_read_only_and_comes_back_after_home_assistant_restarts(daemon):
    console = daemon["console"]
    node = "gatepost_demo_site_gate_1"

    def records():
        return [(t, p) for t, p in console.other if t.startswith("homeassistant/") and t.endswith("/config")]

    assert wait_for(lambda: any(t.endswith("/temperature/config") for t, _ in records()), timeout=10)
    temperature = next(json.loads(p) for t, p in records() if t.endswith("/temperature/config"))
    assert temperature["default_entity_id"] == f"sensor.{node}_temperature"
    assert temperature["state_class"] == "measurement" and temperature["origin"]["name"] == "gatepost"
    console.client.publish("homeassistant/status", b"online", qos=1)  # Home Assistant's birth message

    def temperature_records() -> int:
        return sum(1 for t, _ in records() if t.endswith("/temperature/config"))

    # everything again after the birth message (the first round may have come as retained records only)
    assert wait_for(lambda: temperature_records() >= 2, timeout=10)
    # the unsigned button could never work: its record is withdrawn (an empty payload is not kept as
    # retained, so it is seen live, after the birth message), not offered
    assert wait_for(lambda: (f"homeassistant/button/{node}/open/config", b"") in records(), timeout=10)
    reply = console.send("open", json.dumps({"cmd": "open", "args": {"reason": "Home Assistant"}}))
    assert not reply["ok"] and reply["error"].startswith("unsigned")
    assert daemon["board"].log.states.count((1, True)) == 0


@pytest.mark.parametrize("protocol", ["5", "3.1.1"])
def test_admin_command_line_over_v5_and_v311(daemon, broker, tmp_path, protocol):
    import base64

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    private = daemon["private"]
    public = base64.b64encode(Ed25519PrivateKey.from_private_bytes(base64.b64decode(private)).public_key()
                              .public_bytes(Encoding.Raw, PublicFormat.Raw)).decode()
    key = tmp_path / "admin.key"
    key.write_text(json.dumps({"id": "admin-1", "private": private, "public": public}))
    result = subprocess.run([sys.executable, "-m", "edge.cli", "admin", "send", "residents.list", "--key", str(key),
                             "--site", SITE, "--gate", GATE, "--port", str(broker.port), "--protocol", protocol],
                            cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    reply = json.loads(result.stdout)
    assert reply["ok"] and reply["result"] == []


def test_telemetry_matches_its_schema(daemon):
    console = daemon["console"]
    assert wait_for(lambda: any(t.endswith("/telemetry") for t, _ in console.other), timeout=20)
    telemetry = next(json.loads(p) for t, p in console.other if t.endswith("/telemetry"))
    jsonschema.validate(telemetry, TELEMETRY_SCHEMA)
    assert telemetry["fps"] > 0 and "face" in telemetry["stage_ms"]


def test_hostile_messages_are_answered_and_the_gate_goes_on(daemon, broker):
    """Regressions: deep JSON on a command topic and retained on a record topic stopped the daemon;
    a thousand unsigned commands cost a thousand fsync'd events."""
    console, private = daemon["console"], daemon["private"]
    target = f"{SITE}/{GATE}"
    deep = console.send("status", b"[" * 100_000)
    assert not deep["ok"] and deep["error"].startswith("malformed: nested deeper than 32 levels")
    console.client.publish(f"gatepost/{SITE}/residents/uid-x", b"[" * 100_000, qos=1, retain=True)
    future = console.send("open", json.dumps(sign(private, "admin-1", "open", {"reason": "x"}, target,
                                                   ts=time.time() + 3600)))
    assert not future["ok"] and future["error"].startswith("stale")
    for _ in range(1000):
        console.client.publish(f"{BASE}/cmd/open", b'{"v": 1}', qos=0)

    def answer(name, args):
        """The reply to one signed command, among the refusals of the flood still coming back."""
        message = sign(private, "admin-1", name, args, target)
        console.client.publish(f"{BASE}/cmd/{name}", json.dumps(message), qos=1)
        with console.lock:
            assert console.lock.wait_for(lambda: any(r["nonce"] == message["nonce"] for r in console.replies), 60)
            return next(r for r in console.replies if r["nonce"] == message["nonce"])

    status = answer("status", {})
    assert status["ok"] and status["result"]["face"]["threshold"] > 0
    events = answer("events.query", {"kind": "action", "limit": 1000})["result"]
    refused = [e for e in events if e["action"] in ("command_refused", "record_refused")]
    assert len(refused) <= 12  # ten a minute, then counted in one summary
    assert daemon["board"].log.states.count((1, True)) == 0
    console.client.publish(f"gatepost/{SITE}/residents/uid-x", b"", qos=1, retain=True)
