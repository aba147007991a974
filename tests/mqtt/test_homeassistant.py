"""Home Assistant discovery records: read-only entities named after the gate."""

import json

from edge.config import parse_config
from edge.mqtt.homeassistant import discovery_records
from edge.mqtt.topics import Topics


def test_two_gates_with_the_default_name_never_share_an_entity():
    records = {}
    for gate in ("gate-1", "gate-2"):
        config = parse_config({"site": {"site_id": "demo-site", "gate_id": gate}})
        records[gate] = dict(discovery_records(config, Topics("demo-site", gate)))
    ids = [json.loads(p)["default_entity_id"] for r in records.values() for p in r.values() if p]
    assert len(ids) == len(set(ids)) == 6
    assert all(entity.islower() for entity in ids)


def test_records_carry_origin_state_class_and_no_command():
    config = parse_config({"site": {"site_id": "demo-site", "gate_id": "gate-1"}})
    records = dict(discovery_records(config, Topics("demo-site", "gate-1")))
    bodies = {topic: json.loads(payload) for topic, payload in records.items() if payload}
    assert all(body["origin"]["name"] == "gatepost" for body in bodies.values())
    assert not any("command_topic" in body for body in bodies.values())
    temperature = next(body for topic, body in bodies.items() if topic.endswith("/temperature/config"))
    assert temperature["state_class"] == "measurement" and temperature["unit_of_measurement"] == "°C"
    assert records["homeassistant/button/gatepost_demo_site_gate_1/open/config"] == ""  # withdrawn
