"""The console's commands one by one, against a gate on simulated hardware.

No broker here: the console is handed messages as the link would hand them, and its replies are
collected (the broker path is `test_console.py`)."""

import base64
import json
from types import SimpleNamespace

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat

from edge.app import Runtime
from edge.config import parse_config
from edge.events import EventKind
from edge.mqtt.auth import sign
from edge.mqtt.console import Console, RefusalLog
from edge.mqtt.templates import decode_templates, encode_template
from edge.mqtt.link import Incoming
from edge.mqtt.topics import Topics


@pytest.fixture(scope="module")
def keys():
    private = Ed25519PrivateKey.generate()
    raw = private.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    public = private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return SimpleNamespace(private=base64.b64encode(raw).decode(), public=base64.b64encode(public).decode())


@pytest.fixture()
def gate(tmp_path, keys):
    config = parse_config({"mqtt": {"enabled": False, "admin_keys": {"ops": keys.public}}, "ui": {"enabled": False}})
    runtime = Runtime(config, state_dir=tmp_path / "state", realtime=False, loop=False, control=False, ui=False,
                      mqtt=False)
    replies: list[dict] = []
    topics = Topics(config.site.site_id, config.site.gate_id)
    console = Console(runtime.service, lambda incoming, body, fallback_topic: replies.append(body), topics)
    yield SimpleNamespace(runtime=runtime, console=console, replies=replies, keys=keys)
    runtime.close()


def send(gate, name: str, args: dict, **signing) -> dict:
    console = gate.console
    body = sign(gate.keys.private, "ops", name, args, console.target, **signing)
    console.submit(Incoming(console.topics.command(name), json.dumps(body).encode(), None, None))
    console.poll(budget_s=10.0)
    return gate.replies[-1]


def test_status_answers_with_the_gate_as_it_is(gate):
    result = send(gate, "status", {})["result"]
    assert (result["site"], result["gate"]) == (gate.runtime.config.site.site_id, gate.runtime.config.site.gate_id)
    assert result["relay_open"] is False and result["mqtt_connected"] is None
    assert result["residents"] == len(gate.runtime.store.residents()) > 0
    assert result["face"]["threshold"] > 0


def test_open_is_decided_on_the_next_frame_with_the_administrator_named(gate):
    assert send(gate, "open", {"reason": "  delivery  "})["result"] == {"opened": True}
    gate.runtime.gate.step()
    decision = gate.runtime.store.events(kind=EventKind.decision.value)[-1]
    assert decision["granted"] and decision["source"] == "remote" and decision["actor"] == "ops"
    assert decision["reasons"] == ["manual open: delivery"]
    assert send(gate, "open", {"reason": " "})["error"].startswith("malformed: args.reason")


def test_a_command_runs_once_whatever_its_nonce_is_replayed(gate):
    assert send(gate, "status", {}, nonce="n" * 16)["ok"]
    assert send(gate, "status", {}, nonce="n" * 16) == {"ok": False, "cmd": "status", "nonce": "n" * 16,
                                                         "error": "replayed: nonce already used"}


def test_unknown_keys_and_values_a_start_would_refuse_change_nothing(gate):
    before = gate.runtime.config
    assert send(gate, "config.set", {"path": "checks.nothing", "value": 1})["error"] == \
        "invalid: checks.nothing: unknown key"
    refused = send(gate, "config.set", {"path": "checks.temperature.threshold_c", "value": "hot"})
    assert refused["error"].startswith("invalid: ") and "threshold_c" in refused["error"]
    assert gate.runtime.config is before


def test_a_live_change_is_applied_saved_and_recorded_with_who_made_it(gate):
    old = gate.runtime.config.checks.temperature.threshold_c
    reply = send(gate, "config.set", {"path": "checks.temperature.threshold_c", "value": 37.6})
    assert reply["result"] == {"path": "checks.temperature.threshold_c", "applied": "now", "saved": True}
    assert gate.runtime.gate.policy.checks.temperature.threshold_c == 37.6
    change = [e for e in gate.runtime.store.events(kind="action") if e.get("action") == "config_changed"][-1]
    assert (change["old"], change["new"], change["admin"], change["applied"]) == (old, 37.6, "ops", "now")
    assert send(gate, "config.get", {})["result"]["checks"]["temperature"]["threshold_c"] == 37.6


def test_residents_are_listed_added_and_removed_with_the_field_at_fault_named(gate):
    residents = send(gate, "residents.list", {})["result"]
    first = residents[0]
    assert send(gate, "residents.remove", {"id": True})["error"].startswith("malformed: args.uid")
    assert send(gate, "residents.remove", {"uid": "nobody"})["error"] == "not found: no such resident"
    assert send(gate, "residents.remove", {"uid": first["uid"]})["result"] == {"removed": first["uid"]}
    assert first["uid"] not in {r["uid"] for r in send(gate, "residents.list", {})["result"]}
    short = encode_template([1.0, 2.0, 3.0])
    assert "args.templates[0] has 3 values" in send(gate, "residents.add", {"name": "Eve", "templates": [short]})["error"]
    dimension = gate.runtime.service.template_dimension
    vector = [0.0] * dimension
    vector[7] = 1.0
    added = send(gate, "residents.add", {"name": "Eve", "unit": "2-301", "templates": [encode_template(vector)]})
    assert added["ok"] and added["result"]["uid"] in {r["uid"] for r in send(gate, "residents.list", {})["result"]}


def test_a_trust_list_that_is_not_certificates_names_the_first_bad_one(gate):
    reply = send(gate, "trustlist.update", {"certificates": [base64.b64encode(b"junk").decode()]})
    assert reply["error"] == "invalid: args.certificates[0] is not a signer certificate"
    assert not (gate.runtime.state_dir / "trustlist.json").exists()


def test_a_handler_that_fails_is_answered_and_the_console_goes_on(gate):
    def broken(args, admin):
        raise RuntimeError("bug")

    gate.console.handlers["passes.list"] = broken
    assert send(gate, "passes.list", {})["error"] == "internal error: RuntimeError"
    assert send(gate, "status", {})["ok"]


def test_a_stranger_s_message_is_refused_with_its_reason(gate):
    console = gate.console
    console.submit(Incoming(console.topics.command("open"), b'{"cmd": "open"}', None, None))
    console.submit(Incoming(console.topics.command("open"), b"\xff", None, None))
    console.poll(budget_s=10.0)
    assert gate.replies[-2]["error"] == "unsigned: field 'sig' missing"
    assert gate.replies[-1]["error"].startswith("malformed: ") and "byte 0" in gate.replies[-1]["error"]


def test_templates_must_be_finite_non_zero_vectors_of_the_model_s_size():
    with pytest.raises(Exception, match=r"args.templates\[1\] holds NaN"):
        decode_templates([encode_template([1.0, 0.0]), encode_template([float("nan"), 1.0])], 2)
    with pytest.raises(Exception, match=r"args.templates\[0\] is not base64"):
        decode_templates(["***"], 2)
    (unit,) = decode_templates([encode_template([3.0, 4.0])], 2)
    assert unit.tolist() == pytest.approx([0.6, 0.8])


def test_refusals_are_recorded_ten_a_minute_then_summed_up():
    recorded: list[dict] = []
    now = [0.0]
    refusals = RefusalLog(recorded.append, clock=lambda: now[0])
    for _ in range(25):
        refusals.record({"action": "command_refused"})
    assert len(recorded) == 10
    now[0] = 61.0
    refusals.record({"action": "command_refused"})
    assert recorded[10] == {"action": "refusals_suppressed", "count": 15, "seconds": 61.0}
    assert len(recorded) == 12


def test_a_new_trust_list_replaces_the_old_one_in_the_running_verifiers(gate):
    """No test sent a valid trustlist.update: a list never handed to the running verifiers, or merged into the old
    one, would keep a removed signer trusted."""
    import time

    from edge.qr.dcc_issue import encode_dcc, make_signer, vaccination

    now = time.time()
    old_key, old_der = make_signer()
    new_key, new_der = make_signer()
    registry = gate.runtime.code_registries()[0]

    def status(key, der):
        return registry.verify(encode_dcc(vaccination(), key, der, issued=now - 60, expires=now + 86400),
                               "camera").status

    first = send(gate, "trustlist.update", {"certificates": [base64.b64encode(old_der).decode()]})
    assert first["ok"] and status(old_key, old_der) == "valid" and status(new_key, new_der) == "untrusted"
    second = send(gate, "trustlist.update", {"certificates": [base64.b64encode(new_der).decode()]})
    assert second["ok"] and second["result"] == {"signers": 1}
    assert status(new_key, new_der) == "valid"
    assert status(old_key, old_der) == "untrusted"  # removed: not merged into the old list
    assert json.loads((gate.runtime.state_dir / "trustlist.json").read_text()) == [base64.b64encode(new_der).decode()]


def test_api_tokens_are_issued_listed_and_revoked_from_the_console_and_refused_when_malformed(gate):
    from edge.api_tokens import caller

    reply = send(gate, "api.tokens.add", {"name": "property platform", "scopes": ["status:read", "events:read"]})
    token = reply["result"]["token"]
    holder = caller(gate.runtime.store, token)
    assert holder is not None and holder.scopes == ("status:read", "events:read")
    [listed] = send(gate, "api.tokens.list", {})["result"]
    assert listed["id"] == holder.token_id and listed["revoked"] is None and "secret" not in json.dumps(listed)
    assert token.split("_")[-1] not in json.dumps(listed)
    assert send(gate, "api.tokens.revoke", {"id": holder.token_id})["result"] == {"revoked": holder.token_id}
    assert caller(gate.runtime.store, token) is None
    assert send(gate, "api.tokens.revoke", {"id": holder.token_id})["error"].startswith("not found")
    assert send(gate, "api.tokens.add", {"name": "x", "scopes": ["root"]})["error"].startswith("invalid: args.scope")
    assert send(gate, "api.tokens.add", {"name": "x", "scopes": "status:read"})["error"].startswith("malformed")
    commands = [e["command"] for e in gate.runtime.store.latest_events(20) if e.get("action") == "command"]
    assert commands.count("api.tokens.add") == 1 and "api.tokens.revoke" in commands


def test_cards_and_access_groups_from_the_console(gate):
    resident = gate.runtime.store.residents()[0]
    assert send(gate, "cards.add", {"resident_id": resident.id, "number": "0004242001"})["result"] == {"card": "…2001"}
    assert send(gate, "cards.add", {"resident_id": resident.id, "number": "4242001"})["error"].startswith(
        "invalid: args.number: card …2001 already belongs")
    assert send(gate, "cards.add", {"resident_id": 99999, "number": "1"})["error"].startswith("invalid: args.resident_id")
    [card] = send(gate, "cards.list", {})["result"]
    assert card["card"] == "…2001" and card["resident_id"] == resident.id and "4242001" not in json.dumps(card)
    assert send(gate, "cards.remove", {"number": "4242001"})["result"] == {"removed": True}
    assert send(gate, "cards.remove", {"number": "4242001"})["error"].startswith("not found")
    assert send(gate, "residents.group", {"id": resident.id, "group": "couriers"})["result"]["group"] == "couriers"
    assert gate.runtime.store.residents()[0].access_group == "couriers"
    assert send(gate, "residents.group", {"id": resident.id, "group": 7})["error"].startswith("malformed")
