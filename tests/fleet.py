"""Many light gates in one thread: the gate's real protocol without its camera.

Each `LightGate` is a paho MQTT v5 client under the gate's own client id and persistent session:
status "online" retained with a last will of "offline", events (decisions and alarms) published at
QoS 1 and kept until a collector confirms them on the gate's `ack` topic (sent again when not
confirmed in time, as the outbox does), and telemetry at QoS 0. `Fleet` drives thousands of them
from one thread through paho's external-loop calls, so a 2-core machine can hold them.
"""

from __future__ import annotations

import json
import random
import selectors
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from edge.mqtt.topics import Topics

DENIALS = ["unknown_face", "fever", "no_code", "code_expired", "spoof", "temperature_unavailable"]  # outcome codes
ALARMS = ["fever", "spoof", "tailgate", "forced_passage", "device_fault"]


@dataclass
class Sent:
    created: float  # wall clock when the gate made the event
    payload: bytes
    last_sent: float


@dataclass(eq=False)  # one gate is one client: compared and hashed by identity
class LightGate:
    site: str
    gate: str
    host: str
    port: int
    username: str = ""
    password: str = ""
    redeliver_after_s: float = 30.0
    seed: int = 0
    pending: dict[str, Sent] = field(default_factory=dict)
    confirmed: int = 0
    confirm_lag_s: list[float] = field(default_factory=list)  # event made -> confirmation back, per event
    made: int = 0
    resent: int = 0
    broker_acknowledged: int = 0  # QoS 1 publishes the broker has taken (PUBACK)

    def __post_init__(self) -> None:
        self.topics = Topics(self.site, self.gate)
        self.random = random.Random(self.seed)
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"gatepost-{self.site}-{self.gate}",
                                  protocol=mqtt.MQTTv5)
        if self.username:
            self.client.username_pw_set(self.username, self.password)
        self.client.will_set(self.topics.status, "offline", qos=1, retain=True)
        self.client.max_inflight_messages_set(100)
        self.client.max_queued_messages_set(0)
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.on_publish = self._on_publish
        self.connected = False
        self.refused = ""
        self.wrote: Callable[[LightGate], None] = lambda gate: None  # the fleet writes it out on its next pump

    def connect(self) -> None:
        properties = Properties(PacketTypes.CONNECT)
        properties.SessionExpiryInterval = 3600
        self.client.connect(self.host, self.port, keepalive=60, clean_start=False, properties=properties)

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            self.refused = str(reason_code)
            return
        self.connected = True
        client.publish(self.topics.status, "online", qos=1, retain=True)
        client.subscribe(self.topics.ack, qos=1)

    def _on_publish(self, client, userdata, mid, reason_code, properties) -> None:
        self.broker_acknowledged += 1

    def _on_message(self, client, userdata, message) -> None:
        if message.topic != self.topics.ack:
            return
        now = time.time()
        for event_id in json.loads(message.payload).get("ids", []):
            sent = self.pending.pop(event_id, None)
            if sent is not None:
                self.confirmed += 1
                self.confirm_lag_s.append(now - sent.created)

    def event(self, *, resident: int | None = None, kind: str | None = None) -> str:
        """One decision (or, now and then, an alarm) as a gate records it."""
        now = time.time()
        event_id = uuid.uuid4().hex
        roll = self.random.random()
        body: dict = {"event_id": event_id, "time": round(now, 3), "site": self.site, "gate": self.gate}
        if kind == "alarm" or (kind is None and roll < 0.01):
            body.update(kind="alarm", alarm=self.random.choice(ALARMS), detail="simulated")
        elif roll < 0.88:
            who = resident if resident is not None else self.random.randrange(1, 2000)
            body.update(kind="decision", granted=True, source="pipeline", resident_id=who,
                        resident_name=f"resident {who}", reasons=["face match"], reason_codes=[],
                        latency_ms=round(self.random.uniform(120, 260), 1))
        else:
            code = self.random.choice(DENIALS)
            body.update(kind="decision", granted=False, source="pipeline", reasons=[code], reason_codes=[code],
                        latency_ms=round(self.random.uniform(150, 400), 1))
        payload = json.dumps(body, separators=(",", ":")).encode()
        self.client.publish(self.topics.event if body["kind"] == "decision" else self.topics.alarm, payload, qos=1)
        self.pending[event_id] = Sent(now, payload, now)
        self.made += 1
        self.wrote(self)
        return event_id

    def visitor(self, name: str, host_unit: str) -> str:
        """A visitor registered at this gate's booth, as the gate records it."""
        now = time.time()
        event_id = uuid.uuid4().hex
        body = {"event_id": event_id, "time": round(now, 3), "site": self.site, "gate": self.gate, "kind": "action",
                "action": "visitor_registered", "guard": "7", "name": name, "host_unit": host_unit,
                "pass_id": uuid.uuid4().hex[:12], "valid_until": round(now + 4 * 3600), "uses": 2}
        payload = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
        self.client.publish(self.topics.event, payload, qos=1)
        self.pending[event_id] = Sent(now, payload, now)
        self.made += 1
        self.wrote(self)
        return event_id

    def telemetry(self, *, faults: dict[str, str] | None = None) -> None:
        body = {"kind": "telemetry", "time": round(time.time(), 3), "site": self.site, "gate": self.gate,
                "fps": 25.0, "stage_ms": {"face": {"p50": 60.0, "p95": 90.0}, "thermal": {"p50": 2.0, "p95": 4.0}},
                "decision_ms": {"p50": 180.0, "p95": 240.0}, "outbox": len(self.pending), "faults": faults or {},
                "devices_ok": not faults}
        self.client.publish(self.topics.telemetry, json.dumps(body, separators=(",", ":")), qos=0)
        self.wrote(self)

    def resend_unconfirmed(self, now: float) -> None:
        for sent in self.pending.values():
            if now - sent.last_sent >= self.redeliver_after_s:
                topic = self.topics.alarm if b'"kind":"alarm"' in sent.payload else self.topics.event
                self.client.publish(topic, sent.payload, qos=1)
                sent.last_sent = now
                self.resent += 1
                self.wrote(self)


class Fleet:
    """Drives many light gates' sockets from the calling thread."""

    def __init__(self, gates: list[LightGate]) -> None:
        self.gates = gates
        self._selector = selectors.DefaultSelector()
        self._registered: dict[int, LightGate] = {}
        self._last_misc = 0.0
        self._dirty: set[LightGate] = set()  # gates that published since the last pump
        for gate in gates:
            gate.wrote = self._dirty.add

    def connect(self, timeout: float = 120.0) -> int:
        """Connect every gate (the CONNACKs are read as the fleet pumps); returns how many are connected."""
        for gate in self.gates:
            gate.connect()
            self._register(gate)
            self._dirty.add(gate)
            self.pump(0.0)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not all(g.connected or g.refused for g in self.gates):
            self.pump(0.05)
        return sum(g.connected for g in self.gates)

    def _register(self, gate: LightGate) -> None:
        sock = gate.client.socket()
        if sock is not None and sock.fileno() not in self._registered:
            self._selector.register(sock, selectors.EVENT_READ, gate)
            self._registered[sock.fileno()] = gate

    def pump(self, timeout: float = 0.01) -> None:
        """Read what arrived, write what waits (only gates that read or published since: thousands of
        idle gates are not polled), keep the sessions alive."""
        busy = set(self._dirty)
        self._dirty.clear()
        for key, _ in self._selector.select(timeout):
            key.data.client.loop_read()
            busy.add(key.data)
        now = time.monotonic()
        if now - self._last_misc >= 1.0:
            self._last_misc = now
            for gate in self.gates:
                gate.client.loop_misc()
            busy.update(self.gates)
        for gate in busy:
            if gate.client.want_write():
                gate.client.loop_write()
                if gate.client.want_write():
                    self._dirty.add(gate)  # the socket took part of it

    def run_for(self, seconds: float, *, every_s: float | None = None, telemetry_s: float = 60.0) -> None:
        """Pump for `seconds`; with `every_s`, each gate makes an event on that period (spread over it)."""
        start = time.monotonic()
        nexts = [start + (every_s or 0) * i / max(1, len(self.gates)) for i in range(len(self.gates))]
        next_telemetry = start + telemetry_s
        while (now := time.monotonic()) - start < seconds:
            if every_s is not None:
                for index, gate in enumerate(self.gates):
                    if now >= nexts[index]:
                        gate.event()
                        nexts[index] += every_s
            if now >= next_telemetry:
                for gate in self.gates:
                    gate.telemetry()
                next_telemetry += telemetry_s
            self.pump(0.002)

    def settle(self, timeout: float) -> bool:
        """Pump (resending what is unconfirmed) until every event is confirmed; False on timeout."""
        deadline = time.monotonic() + timeout
        last_resend = 0.0
        while time.monotonic() < deadline:
            if not any(g.pending for g in self.gates):
                return True
            if time.monotonic() - last_resend >= 1.0:
                last_resend = time.monotonic()
                now = time.time()
                for gate in self.gates:
                    gate.resend_unconfirmed(now)
            self.pump(0.01)
        return not any(g.pending for g in self.gates)

    def close(self) -> None:
        for gate in self.gates:
            try:
                gate.client.disconnect()
                gate.client.loop_write()
            except Exception:
                pass
        self._selector.close()
