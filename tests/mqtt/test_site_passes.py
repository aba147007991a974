"""Visitor passes across a site: a single-use pass used at one gate is used up at every gate, a revocation reaches
every gate (one offline at the time included), and what another gate says about a pass can only refuse, never
admit."""

import json
import time

import paho.mqtt.client as mqtt
import yaml

from drivers.sim.scenario import load_scenario
from edge.admin import AdminClient, write_key
from edge.app import Runtime
from edge.config import parse_config
from edge.mqtt.auth import generate_key
from edge.mqtt.site_passes import pass_key
from edge.qr.passes import issue_pass
from tests.conftest import SCENARIOS
from tests.emulators import wait_for

SITE = "demo-site"


def gate_settings(broker, gate_id, pass_public, admin_public) -> dict:
    return {"site": {"site_id": SITE, "gate_id": gate_id},
            "mqtt": {"port": broker.port, "admin_keys": {"admin-1": admin_public}},
            "qr": {"passes": {"public_keys": {"site-key": pass_public}}}, "ui": {"enabled": False}}


def idle_gate(broker, tmp_path, gate_id, pass_public, admin_public) -> Runtime:
    settings = gate_settings(broker, gate_id, pass_public, admin_public)
    settings["simulation"] = {"scenario": str(SCENARIOS / "residents_only.yaml"), "realtime": False, "loop": False}
    runtime = Runtime(parse_config(settings), state_dir=tmp_path / gate_id, control=False)
    assert runtime.link.connected.wait(10)
    return runtime


def pass_check(runtime: Runtime, token: str) -> str:
    """What this gate's code check says of the pass now (after applying what the site told it)."""
    runtime._between_frames()
    return runtime.code_registries()[0].verify(token, "scanner").reason


def uses(runtime: Runtime, pid: str) -> int:
    runtime._between_frames()
    state = runtime.store.pass_state(pid)
    return state.uses if state is not None else 0


def a_pass(uses: int = 1, pid: str | None = None):
    private, public = generate_key()
    now = time.time()
    token, claims = issue_pass(private, "site-key", site=SITE, gates=["*"], holder="plumber", valid_from=now - 60,
                               valid_until=now + 3600, uses=uses, kind="visitor", pid=pid)
    return token, claims.pid, public


def test_a_single_use_pass_used_at_one_gate_is_used_up_at_every_gate(broker, tmp_path):
    token, pid, pass_public = a_pass(pid="visit/7+1")  # an id no topic level could hold as it is
    _, admin_public = generate_key()
    other = idle_gate(broker, tmp_path, "gate-2", pass_public, admin_public)
    try:
        scenario = tmp_path / "pass.yaml"
        scenario.write_text(yaml.safe_dump({
            "faces_dir": str(SCENARIOS / "faces"), "tail_s": 1.0,
            "residents": [{"name": "Alice", "photos": ["resident_a/01.jpg"]}],
            "visitors": [{"at": 0.5, "photo": "stranger_e/01.jpg", "qr": {"payload": token, "via": "scanner"},
                          "dwell_s": 4.0, "expect": "granted"}]}))
        settings = gate_settings(broker, "gate-1", pass_public, admin_public)
        first = Runtime(parse_config(settings), state_dir=tmp_path / "gate-1", scenario=load_scenario(scenario),
                        realtime=False, loop=False, control=False, ui=False)
        try:
            assert pass_check(other, token) == "pass_visitor"  # unused so far
            assert first.link.connected.wait(10)
            first.run(lambda: False)
            assert first.gate.turnstile.pulses == 1
            assert wait_for(lambda: pass_check(other, token) == "pass_used_up", timeout=10)
        finally:
            first.close()
        late = idle_gate(broker, tmp_path, "gate-3", pass_public, admin_public)  # joined after the use
        try:
            assert wait_for(lambda: pass_check(late, token) == "pass_used_up", timeout=10)
        finally:
            late.close()
    finally:
        other.close()


def test_a_revocation_reaches_every_gate_of_the_site(broker, tmp_path):
    token, pid, pass_public = a_pass(uses=5)
    write_key(tmp_path / "admin.key", "admin-1")
    admin_public = json.loads((tmp_path / "admin.key").read_text())["public"]
    online = idle_gate(broker, tmp_path, "gate-1", pass_public, admin_public)
    try:
        assert pass_check(online, token) == "pass_visitor"
        with AdminClient(online.config.mqtt, tmp_path / "admin.key", site=SITE) as admin:
            admin.revoke_pass(pid)
        assert wait_for(lambda: pass_check(online, token) == "pass_revoked", timeout=10)
        late = idle_gate(broker, tmp_path, "gate-2", pass_public, admin_public)  # was offline at the time
        try:
            assert wait_for(lambda: pass_check(late, token) == "pass_revoked", timeout=10)
        finally:
            late.close()
    finally:
        online.close()


def test_what_other_gates_say_can_only_refuse_and_a_lie_is_refused_whole(broker, tmp_path):
    token, pid, pass_public = a_pass(uses=3)
    forger_private, forger_public = generate_key()
    _, admin_public = generate_key()
    gate = idle_gate(broker, tmp_path, "gate-1", pass_public, admin_public)
    key = pass_key(pid)
    sender = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="other-gates", protocol=mqtt.MQTTv5)
    sender.connect("127.0.0.1", broker.port)
    sender.loop_start()
    try:
        def say(topic: str, payload) -> None:
            body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
            sender.publish(topic, body, qos=1).wait_for_publish(5)

        hostile = [
            (f"gatepost/{SITE}/gate-9/pass_uses/{key}", b"\xff{"),
            (f"gatepost/{SITE}/gate-9/pass_uses/{key}", {"pass_id": "another", "uses": 9}),  # not this topic's pass
            (f"gatepost/{SITE}/gate-9/pass_uses/{key}", {"pass_id": pid, "uses": -4}),
            (f"gatepost/{SITE}/gate-9/pass_uses/{key}", {"pass_id": pid, "uses": True}),
            (f"gatepost/{SITE}/gate-9/pass_uses/{key}", {"pass_id": pid, "uses": 2**40}),
            (f"gatepost/{SITE}/gate-9/pass_uses/{key}", b"[" * 5000),
            (f"gatepost/{SITE}/passes/{key}", {"pass_id": pid, "revoked": True}),  # unsigned
        ]
        from edge.mqtt.auth import sign

        forged = sign(forger_private, "admin-1", "pass.record", {"pass_id": pid, "revoked": True, "version": 1}, SITE)
        hostile.append((f"gatepost/{SITE}/passes/{key}", forged))  # signed by a key this gate does not trust
        for topic, payload in hostile:
            say(topic, payload)
        assert wait_for(lambda: (gate._between_frames(), gate.site_passes.refused)[1] >= len(hostile), timeout=10)
        assert pass_check(gate, token) == "pass_visitor"
        say(f"gatepost/{SITE}/gate-9/pass_uses/{key}", {"pass_id": pid, "uses": 2})
        say(f"gatepost/{SITE}/gate-1/pass_uses/{key}", {"pass_id": pid, "uses": 9})  # its own topic: its own count
        assert wait_for(lambda: uses(gate, pid) == 2, timeout=10)
        say(f"gatepost/{SITE}/gate-9/pass_uses/{key}", {"pass_id": pid, "uses": 1})  # a late, lower count
        say(f"gatepost/{SITE}/gate-8/pass_uses/{key}", {"pass_id": pid, "uses": 1})
        assert wait_for(lambda: pass_check(gate, token) == "pass_used_up", timeout=10)  # 2 + 1: three uses of three
        assert gate.store.pass_state(pid).uses == 3
    finally:
        sender.loop_stop()
        sender.disconnect()
        gate.close()


def test_a_revocation_is_refused_unless_it_is_the_signed_record_of_that_pass(tmp_path, caplog):
    """Checked on paho's thread, without a broker: the signed command, the pass the topic names, `revoked`."""
    from edge.mqtt.auth import sign
    from edge.mqtt.link import Incoming
    from edge.mqtt.site_passes import SitePasses, pass_record
    from edge.mqtt.topics import Topics
    from edge.store import Store

    private, public = generate_key()
    store = Store(tmp_path)
    passes = SitePasses(store, Topics(SITE, "gate-1"), {"admin-1": public}, publish=lambda topic, payload: None)
    assert pass_record("p-1", version=7) == {"pass_id": "p-1", "revoked": True, "version": 7}  # what the admin signs

    def submit(pass_id: str, cmd: str, args: dict) -> None:
        body = json.dumps(sign(private, "admin-1", cmd, args, SITE)).encode()
        assert passes.submit(Incoming(f"gatepost/{SITE}/passes/{pass_key(pass_id)}", body, None, None))

    submit("p-1", "status", pass_record("p-1", version=1))  # signed, but another command
    submit("p-2", "pass.record", pass_record("p-1", version=1))  # the record of another pass
    submit("p-1", "pass.record", {"pass_id": 7, "revoked": True})
    submit("p-1", "pass.record", {"pass_id": "p-1", "revoked": "yes"})
    assert passes.refused == 4
    reasons = [r.getMessage().split(" refused: ", 1)[1] for r in caplog.records if " refused: " in r.getMessage()]
    assert reasons[1:] == ["malformed: args.pass_id does not match the topic"] * 2 + [
        "malformed: args.revoked must be true (a revocation cannot be undone)"]
    assert reasons[0] == "malformed: signed command 'status' sent on the topic for 'pass.record'"
    submit("p-1", "pass.record", pass_record("p-1", version=2))
    passes.poll()
    assert passes.refused == 4 and store.pass_state("p-1").revoked
    store.close()
