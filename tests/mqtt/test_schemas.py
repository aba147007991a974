"""The payloads the gate publishes match the JSON Schemas documented in schemas/."""

import json

import jsonschema
import pytest

from edge.mqtt.auth import generate_key, sign
from tests.conftest import ROOT, SCENARIOS

SCHEMAS = ROOT / "schemas"


def schema(name):
    return json.loads((SCHEMAS / f"{name}.schema.json").read_text())


@pytest.fixture(scope="module")
def simulated_events(tmp_path_factory):
    from edge.config import parse_config
    from edge.simulate import run_simulation
    from edge.store import Store

    state = tmp_path_factory.mktemp("state")
    config = parse_config({"mqtt": {"enabled": False}})
    run_simulation(config, SCENARIOS / "morning.yaml", state_dir=state)
    with Store(state) as store:
        return store.events(limit=10_000)


def test_every_simulated_event_matches_the_event_schema(simulated_events):
    kinds = {event["kind"] for event in simulated_events}
    assert {"decision", "passage", "alarm", "status"} <= kinds
    for event in simulated_events:
        jsonschema.validate(event, schema("event"))


def test_signed_command_matches_the_command_schema():
    private, _ = generate_key()
    jsonschema.validate(sign(private, "admin-1", "open", {"reason": "x"}, "s/g"), schema("command"))


def test_bad_payloads_do_not_match():
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"schema": 1, "event_id": "x", "kind": "decision", "time": 1, "site": "s", "gate": "g"},
                            schema("event"))
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"ok": False, "cmd": "open", "nonce": "n"}, schema("reply"))


def test_a_snapshot_message_matches_the_snapshot_schema_and_the_collector_reads_it_back():
    from collector.snapshots import snapshot_from
    from edge.mqtt.uplink import snapshot_payload

    payload = snapshot_payload("0123abcd", 1.8e9, b"\xff\xd8\xff\xe0 a jpeg")
    jsonschema.validate(json.loads(payload), schema("snapshot"))
    assert snapshot_from(payload.encode(), "s", "g") == ("0123abcd", "s", "g", 1.8e9, b"\xff\xd8\xff\xe0 a jpeg")

