"""Home Assistant MQTT discovery: the gate's status, last decision and temperature, read-only.

Published retained at every connect and again on Home Assistant's birth message (after it
restarts). Opening the gate is left out on purpose: every command must be signed by an
administrator's key, which Home Assistant does not hold, so a button could never work; the
record of the button earlier versions published is withdrawn (an empty retained payload).
"""

from __future__ import annotations

import json

from edge import __version__
from edge.config import GateConfig
from edge.mqtt.topics import Topics

ORIGIN = {"name": "gatepost", "sw_version": __version__}


def discovery_records(config: GateConfig, topics: Topics) -> list[tuple[str, str]]:
    prefix = config.mqtt.home_assistant.discovery_prefix
    node = f"gatepost_{config.site.site_id}_{config.site.gate_id}".replace("-", "_")
    device = {"identifiers": [node], "name": config.site.name, "manufacturer": "gatepost", "model": "gate",
              "sw_version": __version__}
    availability = {"availability_topic": topics.status, "payload_available": "online",
                    "payload_not_available": "offline"}
    last_decision = ("{% if value_json.kind == 'decision' %}"
                     "{{ 'granted' if value_json.granted else 'denied' }}{% else %}{{ this.state }}{% endif %}")
    temperature = ("{% if value_json.kind == 'decision' and value_json.temperature_c is not none %}"
                   "{{ value_json.temperature_c }}{% else %}{{ this.state }}{% endif %}")

    def entity(component: str, key: str, body: dict) -> tuple[str, dict]:
        # the gate's id in every entity id: two gates with the default name never collide
        return (f"{prefix}/{component}/{node}/{key}/config",
                {**body, "unique_id": f"{node}_{key}", "default_entity_id": f"{component}.{node}_{key}".lower(),
                 "device": device, "origin": ORIGIN})

    records = dict([
        entity("binary_sensor", "online", {"name": "Online", "state_topic": topics.status, "payload_on": "online",
                                           "payload_off": "offline", "device_class": "connectivity"}),
        entity("sensor", "last_decision", {"name": "Last decision", "state_topic": topics.event,
                                           "value_template": last_decision, **availability}),
        entity("sensor", "temperature", {"name": "Last temperature", "state_topic": topics.event,
                                         "value_template": temperature, "unit_of_measurement": "°C",
                                         "device_class": "temperature", "state_class": "measurement",
                                         **availability}),
    ])
    withdrawn = [f"{prefix}/button/{node}/open/config"]
    return [(topic, json.dumps(body, sort_keys=True)) for topic, body in records.items()] + \
        [(topic, "") for topic in withdrawn]
