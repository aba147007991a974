"""Home Assistant MQTT discovery: the gate's status, last decision, temperature and an open button.

The button publishes an unsigned `open` command, which the gate refuses like any other unsigned
command: opening from Home Assistant needs a signing step (see README), never a bypass.
"""

from __future__ import annotations

import json

from edge.config import GateConfig
from edge.mqtt.topics import Topics


def discovery_records(config: GateConfig, topics: Topics) -> list[tuple[str, str]]:
    prefix = config.mqtt.home_assistant.discovery_prefix
    node = f"gatepost_{config.site.site_id}_{config.site.gate_id}".replace("-", "_")
    device = {"identifiers": [node], "name": config.site.name, "manufacturer": "gatepost", "model": "gate"}
    availability = {"availability_topic": topics.status, "payload_available": "online",
                    "payload_not_available": "offline"}
    last_decision = ("{% if value_json.kind == 'decision' %}"
                     "{{ 'granted' if value_json.granted else 'denied' }}{% else %}{{ this.state }}{% endif %}")
    temperature = ("{% if value_json.kind == 'decision' and value_json.temperature_c is not none %}"
                   "{{ value_json.temperature_c }}{% else %}{{ this.state }}{% endif %}")
    records = {
        f"{prefix}/binary_sensor/{node}/online/config": {
            "name": "Online", "unique_id": f"{node}_online", "state_topic": topics.status,
            "payload_on": "online", "payload_off": "offline", "device_class": "connectivity", "device": device},
        f"{prefix}/sensor/{node}/last_decision/config": {
            "name": "Last decision", "unique_id": f"{node}_last_decision", "state_topic": topics.event,
            "value_template": last_decision, "device": device, **availability},
        f"{prefix}/sensor/{node}/temperature/config": {
            "name": "Last temperature", "unique_id": f"{node}_temperature", "state_topic": topics.event,
            "value_template": temperature, "unit_of_measurement": "°C", "device_class": "temperature",
            "device": device, **availability},
        f"{prefix}/button/{node}/open/config": {
            "name": "Open gate", "unique_id": f"{node}_open", "command_topic": topics.command("open"),
            "payload_press": json.dumps({"cmd": "open", "args": {"reason": "Home Assistant"}}),
            "device": device, **availability},
    }
    return [(topic, json.dumps(body, sort_keys=True)) for topic, body in records.items()]
