"""`gatepost collector run`: a shared subscription, acknowledged only after the rows are committed.

Several instances with the same group split the gates' messages between them (`$share/...`).
Messages are acknowledged by hand, after the batch they are in has been committed, so a
collector that dies loses nothing: the broker redelivers, and the insert ignores duplicates.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time

import paho.mqtt.client as mqtt

from collector.db import CollectorDB
from edge.config import MqttConfig
from edge.mqtt.link import connect_properties, make_client
from edge.mqtt.topics import ROOT
from edge.untrusted import finite, load_json

log = logging.getLogger(__name__)

BATCH = 500
MAX_MESSAGE = 256 * 1024
BATCH_WAIT_S = 0.05


def stage_timings(body: object) -> dict[str, tuple[float, float]]:
    """{stage: (p50, p95)} from a telemetry report, the decision itself as stage "decision"; ValueError names the field."""
    if not isinstance(body, dict):
        raise ValueError("not a JSON object")
    stages = body.get("stage_ms", {})
    if not isinstance(stages, dict):
        raise ValueError("stage_ms is not an object")
    timings = dict(stages)
    if isinstance(body.get("decision_ms"), dict) and body["decision_ms"].get("p95"):
        timings["decision"] = body["decision_ms"]
    result = {}
    for stage, values in timings.items():
        try:
            p50, p95 = float(values["p50"]), float(values["p95"])
        except (TypeError, KeyError, ValueError):
            raise ValueError(f"stage_ms.{stage} needs numbers p50 and p95") from None
        if not (0 <= p50 < 1e6 and 0 <= p95 < 1e6) or len(str(stage)) > 32:
            raise ValueError(f"stage_ms.{str(stage)[:32]} out of range")
        result[str(stage)] = (p50, p95)
    return result


class Collector:
    def __init__(self, config: MqttConfig, db: CollectorDB, *, group: str = "collectors",
                 client_id: str = "gatepost-collector-1") -> None:
        self.config = config
        self.db = db
        self.group = group
        self.client = make_client(config, client_id, manual_ack=True)
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = self._on_message
        self.connected = threading.Event()  # connected and subscribed
        self._incoming: queue.Queue = queue.Queue()
        self._stop = threading.Event()
        self._writer = threading.Thread(target=self._write_loop, name="collector-writer", daemon=True)
        self.stored = 0
        self.received = 0
        self.events_received = 0  # event and alarm messages (redeliveries included), not telemetry or status
        self.rejected = 0

    def start(self) -> None:
        self._writer.start()
        self.client.connect_async(self.config.host, self.config.port, keepalive=self.config.keepalive_s,
                                  clean_start=False if self.config.protocol == "5" else mqtt.MQTT_CLEAN_START_FIRST_ONLY,
                                  properties=connect_properties(self.config))
        self.client.loop_start()

    def stop(self) -> None:
        self._stop.set()
        self._writer.join(timeout=10)
        self.client.disconnect()
        self.client.loop_stop()

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        try:
            if reason_code.is_failure:
                log.error("collector: broker refused the connection: %s", reason_code)
                return
            shared = f"$share/{self.group}/{ROOT}"
            client.subscribe([(f"{shared}/+/+/event", 1), (f"{shared}/+/+/alarm", 1),
                              (f"{shared}/+/+/telemetry", 0), (f"{ROOT}/+/+/status", 1)])
        except Exception:
            log.exception("collector on_connect failed")

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties) -> None:
        failed = [code for code in reason_codes if code.is_failure]
        if failed:
            log.error("collector: subscription refused: %s", failed)
        else:
            self.connected.set()

    def _on_message(self, client, userdata, message) -> None:
        try:
            self._incoming.put(message)
        except Exception:
            log.exception("collector on_message failed")

    def _confirm(self, accepted: list[tuple[str, str, dict]]) -> None:
        """Tell each gate which of its events are stored (duplicates too), so they leave its outbox.

        The gate is the one named by the topic the event came on: the broker's ACL vouches for
        that, not for what a payload says.
        """
        by_gate: dict[tuple[str, str], list[str]] = {}
        for site, gate, event in accepted:
            by_gate.setdefault((site, gate), []).append(event["event_id"])
        for (site, gate), ids in by_gate.items():
            self.client.publish(f"{ROOT}/{site}/{gate}/ack", json.dumps({"ids": ids}), qos=1)

    def _store_telemetry(self, site: str, gate: str, payload: bytes) -> None:
        """Keep the per-stage p50/p95 a gate reports, per hour; the rest of telemetry is live data."""
        try:
            timings = stage_timings(load_json(payload, max_bytes=MAX_MESSAGE, what="telemetry"))
        except ValueError as error:
            self.rejected += 1
            log.warning("collector: telemetry from %s/%s refused: %s", site, gate, error)
            return
        try:
            self.db.add_stage_timings(site, gate, time.time(), timings)
        except Exception:  # telemetry is QoS 0 and comes again shortly: losing one report is harmless
            log.exception("collector: telemetry from %s/%s not stored", site, gate)

    def _write_loop(self) -> None:
        while not self._stop.is_set() or not self._incoming.empty():
            try:
                first = self._incoming.get(timeout=0.2)
            except queue.Empty:
                continue
            batch = [first]
            deadline = time.monotonic() + BATCH_WAIT_S
            while len(batch) < BATCH:
                try:
                    batch.append(self._incoming.get(timeout=max(0.0, deadline - time.monotonic())))
                except queue.Empty:
                    break
            try:
                self._store(batch)
            except Exception:  # the writer must outlive every message; unacknowledged ones come again
                log.exception("collector: a batch of %d messages failed; left for redelivery", len(batch))

    def _store(self, batch: list) -> None:
        accepted: list[tuple[str, str, dict]] = []
        refused: list[tuple[str, bytes, str]] = []
        for message in batch:
            self.received += 1
            kind, site, gate = topic_parts(message.topic)
            if kind == "status":
                self.db.set_status(site, gate, message.payload.decode(errors="replace")[:32], time.time())
            elif kind == "telemetry":
                self._store_telemetry(site, gate, message.payload)
            else:
                self.events_received += 1
                try:
                    accepted.append((site, gate, event_from(message.payload, site, gate)))
                except ValueError as error:
                    refused.append((message.topic, bytes(message.payload), str(error)))
        if not self._insert(accepted, refused):
            return  # the database is away: nothing is acknowledged, the broker delivers it all again
        self._confirm(accepted)
        for message in batch:
            if message.qos > 0:
                self.client.ack(message.mid, message.qos)

    def _insert(self, accepted: list[tuple[str, str, dict]], refused: list[tuple[str, bytes, str]]) -> bool:
        """Store the batch; a row the database refuses is quarantined with its reason. False if the database is away."""
        events = [event for _, _, event in accepted]
        try:
            if events:
                self.stored += self.db.insert_events(events)
        except Exception as error:
            log.warning("collector: batch insert failed (%s); trying its events one by one", error)
            kept = []
            for site, gate, event in accepted:
                try:
                    self.stored += self.db.insert_events([event])
                    kept.append((site, gate, event))
                except Exception as row_error:
                    refused.append((f"{ROOT}/{site}/{gate}/event", json.dumps(event).encode(),
                                    f"database refused it: {str(row_error).splitlines()[0][:200]}"))
            accepted[:] = kept
        for topic, payload, reason in refused:
            self.rejected += 1
            log.warning("collector: message on %s quarantined: %s", topic[:200], reason)
            try:
                self.db.quarantine(topic, payload, reason, time.time())
            except Exception:
                log.exception("collector: quarantine failed; the batch is left for redelivery")
                return False
        return True


def topic_parts(topic: str) -> tuple[str, str, str]:
    """(kind, site, gate) of gatepost/<site>/<gate>/<kind>; the subscriptions admit nothing else."""
    parts = topic.split("/")
    if len(parts) != 4 or parts[0] != ROOT:
        return "unknown", "", ""
    return parts[3], parts[1], parts[2]


def event_from(payload: bytes, site: str, gate: str) -> dict:
    """An event as stored: parsed with bounds, its site and gate those of the topic; ValueError names the field."""
    body = load_json(payload, max_bytes=MAX_MESSAGE, what="event")
    if not isinstance(body, dict):
        raise ValueError("event: not a JSON object")
    event_id = body.get("event_id")
    if not isinstance(event_id, str) or not 1 <= len(event_id) <= 64:
        raise ValueError("event_id: missing or not a string of 1 to 64 characters")
    for field, expected in (("site", site), ("gate", gate)):
        if body.get(field, expected) != expected:
            raise ValueError(f"{field}: {str(body.get(field))[:64]!r} differs from the topic's {expected!r}")
    when = body.get("time", 0)
    if not finite(when) or not 0 <= when < 1e11:
        raise ValueError("time: not a finite number of seconds since 1970")
    if not isinstance(body.get("kind", ""), str):
        raise ValueError("kind: not a string")
    return {**body, "site": site, "gate": gate}
