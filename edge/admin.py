"""`gatepost admin ...`: the administrators' console from any machine that reaches the broker."""

from __future__ import annotations

import json
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from edge.config import MqttConfig
from edge.errors import GatepostError
from edge.keys import read_key, write_key  # noqa: F401 - the tools' and tests' names for them
from edge.mqtt.auth import sign
from edge.mqtt.console import RECORD_COMMAND
from edge.mqtt.templates import encode_template
from edge.mqtt.link import make_client
from edge.mqtt.site_passes import PASS_RECORD_COMMAND, pass_key, pass_record
from edge.mqtt.topics import Topics


class AdminClient:
    def __init__(self, config: MqttConfig, key_file: Path, *, site: str, gate: str | None = None) -> None:
        self.config = config
        self.key_id, self.private = read_key(key_file)
        self.topics = Topics(site, gate or "")
        self.client = make_client(config, f"gatepost-admin-{uuid.uuid4().hex[:8]}", persistent=False)
        self._replies: dict[str, dict] = {}
        self._arrived = threading.Condition()
        self.client.on_message = self._on_message
        self._subacks: set[int] = set()
        self.client.on_subscribe = self._on_subscribe
        self._connected = threading.Event()
        self.client.on_connect = lambda c, u, f, rc, p: self._connected.set() if not rc.is_failure else None

    def __enter__(self) -> "AdminClient":
        self.client.connect(self.config.host, self.config.port, keepalive=self.config.keepalive_s)
        self.client.loop_start()
        if not self._connected.wait(10):
            raise GatepostError(f"cannot connect to the broker at {self.config.host}:{self.config.port}")
        return self

    def __exit__(self, *exc: object) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties) -> None:
        with self._arrived:
            self._subacks.add(mid)
            self._arrived.notify_all()

    def _on_message(self, client, userdata, message) -> None:
        try:
            body = json.loads(message.payload)
        except ValueError:
            return
        correlation = getattr(message.properties, "CorrelationData", None) if message.properties else None
        key = correlation.decode() if correlation else str(body.get("nonce", ""))
        with self._arrived:
            self._replies[key] = body
            self._arrived.notify_all()

    def signed(self, command: str, args: dict[str, Any]) -> dict[str, Any]:
        return sign(self.private, self.key_id, command, args, f"{self.topics.site}/{self.topics.gate}")

    def send(self, command: str, args: dict[str, Any], *, timeout: float = 10.0) -> dict[str, Any]:
        message = self.signed(command, args)
        nonce = message["nonce"]
        v5 = self.config.protocol == "5"
        if v5:
            reply_topic = f"{self.topics.base}/reply/admin-{uuid.uuid4().hex[:12]}"
            properties = Properties(PacketTypes.PUBLISH)
            properties.ResponseTopic = reply_topic
            properties.CorrelationData = nonce.encode()
        else:
            reply_topic, properties = self.topics.reply(nonce), None
        self._subscribe(reply_topic, timeout)
        self.client.publish(self.topics.command(command), json.dumps(message), qos=1, properties=properties)
        with self._arrived:
            if not self._arrived.wait_for(lambda: nonce in self._replies, timeout):
                raise GatepostError(f"no reply from {self.topics.base} within {timeout:.0f} s (gate offline?)")
            return self._replies.pop(nonce)

    def _subscribe(self, topic: str, timeout: float) -> None:
        """Subscribe and wait for the broker's SUBACK, so the reply cannot arrive before we listen."""
        _, mid = self.client.subscribe(topic, qos=1)
        with self._arrived:
            if not self._arrived.wait_for(lambda: mid in self._subacks, timeout):
                raise GatepostError(f"the broker did not confirm the subscription to {topic}")

    def publish_record(self, args: dict[str, Any]) -> None:
        """A site-wide resident record, retained so gates that are offline catch up on reconnect."""
        self._publish_signed(self.topics.resident(args["uid"]), RECORD_COMMAND, args, "resident record")

    def revoke_pass(self, pass_id: str) -> None:
        """A site-wide revocation of a visitor pass, retained like resident records."""
        self._publish_signed(self.topics.site_pass(pass_key(pass_id)), PASS_RECORD_COMMAND,
                             pass_record(pass_id, version=record_version()), "pass revocation")

    def publish_group(self, args: dict[str, Any]) -> None:
        """An access group's record (site.group_record made it), retained for every gate of the site."""
        from edge.mqtt.site_groups import GROUP_RECORD_COMMAND

        self._publish_signed(self.topics.site_group(args["name"]), GROUP_RECORD_COMMAND, args, "group record")

    def _publish_signed(self, topic: str, command: str, args: dict[str, Any], what: str) -> None:
        message = sign(self.private, self.key_id, command, args, self.topics.site)
        info = self.client.publish(topic, json.dumps(message), qos=1, retain=True)
        info.wait_for_publish(timeout=10)
        if not info.is_published():
            raise GatepostError(f"the broker did not acknowledge the {what}")


def record_version() -> int:
    """Milliseconds since the epoch: later records win at every gate."""
    return int(time.time() * 1000)


def resident_record(uid: str, name: str, unit: str, templates, pack: str) -> dict[str, Any]:
    return {"uid": uid, "version": record_version(), "name": name, "unit": unit, "pack": pack,
            "templates": [encode_template(t) for t in templates]}


def removal_record(uid: str) -> dict[str, Any]:
    return {"uid": uid, "version": record_version(), "removed": True}

