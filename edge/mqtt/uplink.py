"""The gate's side of MQTT: the link and what rides on it (the console, site-wide passes, telemetry), polled
between frames, and the broker's absence shown as a device fault once it lasts."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable

from edge.config import GateConfig
from edge.events import AlarmKind, EventKind
from edge.gate import Gate
from edge.mqtt.console import Console
from edge.mqtt.homeassistant import discovery_records
from edge.mqtt.link import MqttLink
from edge.mqtt.site_groups import SiteGroupRecords
from edge.mqtt.site_passes import SitePasses
from edge.mqtt.telemetry import Telemetry
from edge.mqtt.topics import ROOT, Topics
from edge.service import GateService
from edge.store import Store

LINK_FAULT_AFTER_S = 2.0


class Uplink:
    def __init__(self, config: GateConfig, gate: Gate, store: Store, service: GateService, *,
                 face_status: Callable[[], dict | None], thermal_status: Callable[[], dict | None],
                 clock_status: Callable[[], dict]) -> None:
        self.config = config
        self.gate = gate
        self.store = store
        topics = self.topics = Topics(config.site.site_id, config.site.gate_id)
        home_assistant = config.mqtt.home_assistant

        def announcements() -> list[tuple[str, str]]:
            # at every connect (paho's thread): Home Assistant's discovery, this gate's pass counts
            records = discovery_records(config, topics) if home_assistant.enabled else []
            return records + self.site_passes.announcements() + gate.passback.announcements()

        self.link = MqttLink(config.mqtt, store, topics, on_message=self._on_message,
                             on_outbox_overflow=self._overflow, announce=announcements,
                             announce_on_birth=f"{home_assistant.discovery_prefix}/status"
                             if home_assistant.enabled else None)
        self.console = Console(service, self.link.reply, topics)
        self.site_passes = SitePasses(store, topics, config.mqtt.admin_keys, self.link.publish_retained)
        gate.on_pass_used = self.site_passes.used
        gate.passback.topic, gate.passback.publish = topics.movement, self.link.publish_retained
        self.site_groups = SiteGroupRecords(store, gate.groups, topics, config.mqtt.admin_keys,
                                            record=lambda body: gate.record(EventKind.action, body))
        self.telemetry = Telemetry(gate, store, topics.telemetry, interval_s=config.mqtt.telemetry_interval_s,
                                   face_status=face_status, thermal_status=thermal_status, clock_status=clock_status)
        gate.after_record.append(self.link.wake)
        self._down_since: float | None = None

    def start(self) -> None:
        self.link.start()

    def send_snapshot(self, event_id: str, when: float, jpeg: bytes) -> None:
        """A decision's face snapshot to the collector (storage.snapshots_to_collector): now, or not at all."""
        self.link.publish_once(self.topics.snapshot, snapshot_payload(event_id, when, jpeg))

    def _overflow(self, dropped: dict[str, int]) -> None:
        # called on the drain thread; the record goes through the store's own lock
        self.gate.record(EventKind.alarm, {"alarm": AlarmKind.device_fault.value, "device": "outbox",
                                           "detail": f"outbox full: dropped {dropped}"})

    def _on_message(self, incoming) -> None:
        if self.site_passes.submit(incoming) or self.site_groups.submit(incoming):
            return
        parts = incoming.topic.split("/")
        if len(parts) == 5 and parts[:2] == [ROOT, self.topics.site] and parts[3] == "movements":
            self.gate.passback.submit(parts[2], parts[4], incoming.payload)
            return
        self.console.submit(incoming)

    def poll(self) -> None:
        """Between frames, on the loop's thread."""
        self._watch_link()
        self.console.poll()
        self.site_passes.poll()
        self.gate.passback.poll()
        self.site_groups.poll()
        if self.telemetry.poll():
            self.link.wake()

    def _watch_link(self) -> None:
        """The broker being away is a device fault once it lasts (events wait in the outbox meanwhile)."""
        now = time.monotonic()
        if self.link.connected.is_set():
            self._down_since = None
            self.gate.faults.clear("mqtt")
            return
        self._down_since = self._down_since or now
        if now - self._down_since >= LINK_FAULT_AFTER_S and "mqtt" not in self.gate.faults:
            self.gate.faults.set("mqtt", f"mqtt: broker {self.config.mqtt.host}:{self.config.mqtt.port} "
                                         f"unreachable ({self.link.last_error or 'connecting'})")

    def flush(self, timeout: float) -> bool:
        """Wait (bounded) for the outbox to drain while the broker is reachable; True if empty."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.store.outbox_size() and self.link.connected.is_set():
            self.link.wake()
            time.sleep(0.05)
        return self.store.outbox_size() == 0

    def stop(self, flush_s: float) -> None:
        self.flush(flush_s)
        self.link.stop()


def snapshot_payload(event_id: str, when: float, jpeg: bytes) -> str:
    """schemas/snapshot.schema.json"""
    return json.dumps({"event_id": event_id, "time": round(when, 3), "jpeg": base64.b64encode(jpeg).decode()})
