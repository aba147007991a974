"""`gatepost collector run`: a shared subscription, acknowledged only after the rows are committed.

Several instances with the same group split the gates' messages between them (`$share/...`).
Messages are acknowledged by hand, after the batch they are in has been committed, so a
collector that dies loses nothing: the broker redelivers, and the insert ignores duplicates.
A batch the database cannot take (it restarted, it is full) is kept and tried again, the
connection reopened, until it is stored; nothing is acknowledged meanwhile, and the gates keep
their outboxes. Old events are dropped after `keep_days` (whole days on PostgreSQL).
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from dataclasses import dataclass, field

import paho.mqtt.client as mqtt

from collector.db import CollectorDB
from collector.identity import CLIENT_ID, GROUP
from collector.snapshots import snapshot_from
from edge.config import MqttConfig
from edge.events import AlarmKind, EventKind
from edge.mqtt.link import connect_properties, make_client
from edge.mqtt.topics import ROOT
from edge.untrusted import finite, load_json

log = logging.getLogger(__name__)

BATCH = 500
MAX_MESSAGE = 256 * 1024
MAX_AHEAD_S = 3600.0  # an event dated further ahead of this clock is refused: 50 dated 5138 hid every real alarm
EVENT_KINDS = frozenset(kind.value for kind in EventKind)
ALARM_CODES = frozenset(kind.value for kind in AlarmKind)
GATE_STATUSES = frozenset(("online", "offline"))
BATCH_WAIT_S = 0.05
RETRY_MAX_S = 5.0
RETENTION_EVERY_S = 3600.0


@dataclass
class Prepared:
    """A batch of messages as read: events accepted (site, gate, event, its text as received or None) and
    refused (topic, payload, reason), the latest status per gate, telemetry reports."""

    messages: list
    accepted: list[tuple[str, str, dict, str | None]] = field(default_factory=list)
    refused: list[tuple[str, bytes, str]] = field(default_factory=list)
    statuses: dict[tuple[str, str], str] = field(default_factory=dict)
    reports: list[tuple] = field(default_factory=list)
    snapshots: list[tuple[str, str, str, float, bytes]] = field(default_factory=list)
    events: int = 0  # event and alarm messages, accepted or refused


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
    def __init__(self, config: MqttConfig, db: CollectorDB, *, group: str = GROUP, client_id: str = CLIENT_ID,
                 keep_days: float | None = None) -> None:
        self.config = config
        self.db = db
        self.group = group
        self.keep_days = keep_days
        self._last_retention = 0.0  # pragma: no mutate (any time long past: the first batch runs retention)
        self.client = make_client(config, client_id, manual_ack=True)
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = self._on_message
        self.connected = threading.Event()  # connected and subscribed
        self._incoming: queue.SimpleQueue = queue.SimpleQueue()  # C: a tenth of Queue's cost per message
        # one batch read while the one before is in the database: the wait for a commit is not idle time
        self._prepared: queue.Queue[Prepared | None] = queue.Queue(maxsize=1)
        self._stop = threading.Event()
        self._reader = threading.Thread(target=self._read_loop, name="collector-reader", daemon=True)
        self._writer = threading.Thread(target=self._write_loop, name="collector-writer", daemon=True)
        self.stored = 0
        self.received = 0
        self.events_received = 0  # event and alarm messages (redeliveries included), not telemetry or status
        self.rejected = 0
        self.retries = 0  # batches tried again because the database did not take them

    def start(self) -> None:
        self._reader.start()
        self._writer.start()
        self.client.connect_async(self.config.host, self.config.port, keepalive=self.config.keepalive_s,
                                  # paho ignores clean_start for 3.1.1 and reads None as False, as the link does
                                  clean_start=False if self.config.protocol == "5" else mqtt.MQTT_CLEAN_START_FIRST_ONLY,  # pragma: no mutate
                                  properties=connect_properties(self.config))
        self.client.loop_start()

    def stop(self) -> None:
        self._stop.set()
        self._reader.join(timeout=10)  # pragma: no mutate (a bound: they end within a poll of the stop flag)
        self._writer.join(timeout=10)  # pragma: no mutate (likewise)
        self.client.disconnect()
        self.client.loop_stop()

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        try:
            if reason_code.is_failure:
                log.error("collector: broker refused the connection: %s", reason_code)
                return
            shared = f"$share/{self.group}/{ROOT}"
            client.subscribe([(f"{shared}/+/+/event", 1), (f"{shared}/+/+/alarm", 1),
                              (f"{shared}/+/+/telemetry", 0), (f"{ROOT}/+/+/status", 1),
                              (f"{shared}/+/+/snapshot", 1)])
        except Exception:
            log.exception("collector on_connect failed")

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties) -> None:
        failed = [code for code in reason_codes if code.is_failure]
        if failed:
            log.error("collector: subscription refused: %s", ", ".join(str(code) for code in failed))
        else:
            self.connected.set()

    def _on_message(self, client, userdata, message) -> None:
        try:
            self._incoming.put(message)
        except Exception:
            log.exception("collector on_message failed")

    def _confirm(self, accepted: list[tuple[str, str, dict, str | None]]) -> None:
        """Tell each gate which of its events are stored (duplicates too), so they leave its outbox.

        The gate is the one named by the topic the event came on: the broker's ACL vouches for
        that, not for what a payload says. At QoS 0: a confirmation only spares the gate a resend,
        and one lost (the gate away, the broker restarting) costs exactly that, a duplicate the
        insert ignores and confirms again. At QoS 1 they queued behind paho's in-flight window
        (confirmations seconds late under load) and each cost the collector a PUBACK to read.
        """
        by_gate: dict[tuple[str, str], list[str]] = {}
        for site, gate, event, _ in accepted:
            by_gate.setdefault((site, gate), []).append(event["event_id"])
        for (site, gate), ids in by_gate.items():
            # QoS 0, as said above; paho's default too, written for the reader
            self.client.publish(f"{ROOT}/{site}/{gate}/ack", json.dumps({"ids": ids}), qos=0)  # pragma: no mutate

    def _telemetry(self, site: str, gate: str, payload: bytes) -> tuple | None:
        """(site, gate, stage timings, faults, outbox, fps) of a report, or None if refused."""
        try:
            body = load_json(payload, max_bytes=MAX_MESSAGE, what="telemetry")
            return (site, gate, stage_timings(body), *gate_health(body))
        except ValueError as error:
            self.rejected += 1
            log.warning("collector: telemetry from %s/%s refused: %s", site, gate, error)
            return None

    def _store_telemetry(self, reports: list[tuple]) -> None:
        """The batch's reports in one transaction: a gate's latest health, per-stage timings per hour."""
        try:
            self.db.add_telemetry(reports, time.time())
        except Exception:  # telemetry is QoS 0 and comes again shortly: losing one round is harmless
            log.exception("collector: %d telemetry reports not stored", len(reports))

    def _store_snapshots(self, rows: list[tuple[str, str, str, float, bytes]]) -> None:
        try:
            self.db.add_snapshots(rows)
        except Exception:  # evidence beside a record, not the record: the event itself is stored apart
            log.exception("collector: %d snapshots not stored", len(rows))

    def _read_loop(self) -> None:
        """Messages into batches, each parsed and checked, for the writer (which has at most two)."""
        while not self._stop.is_set() or not self._incoming.empty():
            try:
                first = self._incoming.get(timeout=0.2)  # pragma: no mutate (how often the stop flag is read)
            except queue.Empty:
                continue
            batch = [first]
            deadline = time.monotonic() + BATCH_WAIT_S  # pragma: no mutate (timing, as the wait below)
            while len(batch) < BATCH:
                try:
                    wait = max(0.0, deadline - time.monotonic())  # pragma: no mutate (how long a batch fills: timing)
                    batch.append(self._incoming.get(timeout=wait))
                except queue.Empty:
                    break
            try:
                prepared = self._prepare(batch)
            except Exception:  # the reader must outlive every message; unacknowledged and unconfirmed, the
                # batch comes again when the gates resend it (and from the broker after a reconnect)
                log.exception("collector: a batch of %d messages could not be read", len(batch))
                continue
            self._prepared.put(prepared)
        self._prepared.put(None)

    def _write_loop(self) -> None:
        while (prepared := self._prepared.get()) is not None:
            self._store_until_done(prepared)
            self._retention()

    def _store_until_done(self, prepared: Prepared) -> None:
        """Store a batch, trying again (with a growing pause) while the database is away."""
        pause = 0.2  # pragma: no mutate (the retries' timing)
        while True:
            try:
                if self._store(prepared):
                    return
            except Exception:  # the writer must outlive every message; nothing of the batch is acknowledged
                log.exception("collector: a batch of %d messages failed", len(prepared.messages))
            if self._stop.is_set():
                log.error("collector: stopping with a batch of %d unstored; the broker delivers it again",
                          len(prepared.messages))
                return
            self.retries += 1
            self._stop.wait(pause)
            pause = min(RETRY_MAX_S, pause * 2)  # pragma: no mutate (likewise)

    def _retention(self) -> None:
        now = time.time()
        if self.keep_days is None or now - self._last_retention < RETENTION_EVERY_S:
            return
        self._last_retention = now
        try:
            dropped = self.db.drop_before(now - self.keep_days * 86400)
            if dropped:
                log.info("collector: retention dropped %d (older than %g days)", dropped, self.keep_days)
        except Exception:
            log.exception("collector: retention failed; tried again in an hour")

    def _prepare(self, batch: list) -> Prepared:
        prepared = Prepared(batch)
        for message in batch:
            kind, site, gate = topic_parts(message.topic)
            if kind == "status":  # a code from the wire: one of the catalogue's, or "unknown"
                status = message.payload.decode(errors="replace")[:32]  # pragma: no mutate (a bound: no status is longer)
                prepared.statuses[(site, gate)] = status if status in GATE_STATUSES else "unknown"
            elif kind == "telemetry":
                report = self._telemetry(site, gate, message.payload)
                if report is not None:
                    prepared.reports.append(report)
            elif kind == "snapshot":
                try:
                    prepared.snapshots.append(snapshot_from(message.payload, site, gate))
                except ValueError as error:
                    prepared.refused.append((message.topic, bytes(message.payload)[:1024], str(error)))
            else:
                prepared.events += 1
                try:
                    event, as_received = event_from(message.payload, site, gate)
                    prepared.accepted.append((site, gate, event, message.payload.decode() if as_received else None))
                except ValueError as error:
                    prepared.refused.append((message.topic, bytes(message.payload), str(error)))
        return prepared

    def _store(self, prepared: Prepared) -> bool:
        """True when every message of the batch is stored (or quarantined) and acknowledged."""
        if prepared.statuses:
            self.db.set_statuses([(site, gate, status) for (site, gate), status in prepared.statuses.items()],
                                 time.time())
        if prepared.reports:
            self._store_telemetry(prepared.reports)
        if prepared.snapshots:
            self._store_snapshots(prepared.snapshots)
        accepted, refused = list(prepared.accepted), list(prepared.refused)  # a retry starts from the batch as read
        if not self._insert(accepted, refused):
            return False  # the database is away: nothing is acknowledged
        self.received += len(prepared.messages)
        self.events_received += prepared.events
        self._confirm(accepted)
        for message in prepared.messages:
            self.client.ack(message.mid, message.qos)  # paho sends nothing for QoS 0
        return True

    def _insert(self, accepted: list[tuple[str, str, dict, str | None]], refused: list[tuple[str, bytes, str]]) -> bool:
        """Store the batch; a row the database refuses is quarantined with its reason. False if the database is away."""
        events = [event for _, _, event, _ in accepted]
        try:
            if events:
                self.stored += self.db.insert_events(events, [text for _, _, _, text in accepted])
        except Exception as error:
            if not self._database_answers():
                log.warning("collector: the database is away (%s); the batch waits", str(error).splitlines()[0])
                return False
            log.warning("collector: batch insert failed (%s); trying its events one by one", error)
            kept = []
            for site, gate, event, text in accepted:
                try:
                    self.stored += self.db.insert_events([event])
                    kept.append((site, gate, event, text))
                except Exception as row_error:
                    if not self._database_answers():
                        return False
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

    def _database_answers(self) -> bool:
        """Whether the failure was the row (quarantine it) or the database (wait for it)."""
        try:
            self.db.ping()
            return True
        except Exception:
            return False


def gate_health(body: dict) -> tuple[dict[str, str], int, float]:
    """(open faults, outbox depth, frames/s) from a telemetry report; ValueError names the field."""
    faults = body.get("faults", {})
    if not isinstance(faults, dict) or len(faults) > 32:
        raise ValueError("faults is not an object of at most 32 devices")
    outbox, fps = body.get("outbox", 0), body.get("fps", 0.0)
    if isinstance(outbox, bool) or not isinstance(outbox, int) or not 0 <= outbox < 2**31:
        raise ValueError("outbox is not a count")
    if not finite(fps) or not 0 <= fps < 1000:
        raise ValueError("fps out of range")
    return {str(k)[:32]: str(v)[:200] for k, v in faults.items()}, outbox, float(fps)


def topic_parts(topic: str) -> tuple[str, str, str]:
    """(kind, site, gate) of gatepost/<site>/<gate>/<kind>; the subscriptions admit nothing else."""
    parts = topic.split("/")
    if len(parts) != 4 or parts[0] != ROOT:
        return "unknown", "", ""
    return parts[3], parts[1], parts[2]


def event_from(payload: bytes, site: str, gate: str, *, now: float | None = None) -> tuple[dict, bool]:
    """An event as stored, parsed with bounds, its site and gate those of the topic; and whether it is
    the payload as received (the gate named its own site and gate). ValueError names the field."""
    body = load_json(payload, max_bytes=MAX_MESSAGE, what="event")
    if not isinstance(body, dict):
        raise ValueError("event: not a JSON object")
    event_id = body.get("event_id")
    if not isinstance(event_id, str) or not 1 <= len(event_id) <= 64:
        raise ValueError("event_id: missing or not a string of 1 to 64 characters")
    for name, expected in (("site", site), ("gate", gate)):
        if body.get(name, expected) != expected:
            raise ValueError(f"{name}: {str(body.get(name))[:64]!r} differs from the topic's {expected!r}")
    when = body.get("time", 0)  # pragma: no mutate (an event without a time is checked as dated 0: any in range reads alike)
    if not finite(when) or not 0 <= when < 1e11:
        raise ValueError("time: not a finite number of seconds since 1970")
    received = time.time() if now is None else now
    if when > received + MAX_AHEAD_S:
        raise ValueError(f"time: {when - received:.0f} s ahead of this collector's clock (a gate's clock is wrong, "
                         f"or the event is forged)")
    kind = body.get("kind", "")
    if not isinstance(kind, str) or kind not in EVENT_KINDS:
        raise ValueError(f"kind: {str(kind)[:32]!r} is not an event kind")
    alarm = body.get("alarm")
    if kind == "alarm" and (not isinstance(alarm, str) or alarm not in ALARM_CODES):
        # stored, but under "unknown": a code from the wire is never looked up as given
        return {**body, "site": site, "gate": gate, "alarm": "unknown", "alarm_as_sent": str(alarm)[:64]}, False
    if body.get("site") == site and body.get("gate") == gate:
        return body, True
    return {**body, "site": site, "gate": gate}, False
