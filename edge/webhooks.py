"""Webhooks: events POSTed to a property platform's receiver, each signed, retried until taken.

Each event a receiver wants is queued in the state database in the same transaction as the event itself
(`EventJournal.record_event`), so neither a receiver that is away nor a power cut loses one. A thread per
receiver sends them in order over one kept-alive connection; a receiver that hangs or fails costs only its own
thread's time, never the frame loop's. At-least-once: an event sent but not yet marked taken when the gate dies
is sent again, with the same `event_id` to tell.

Each POST's body is the event as MQTT carries it, with `gate_name` added. Headers:
`X-Gatepost-Event-Id`, and `X-Gatepost-Signature: t=<unix time>,v1=<hex>` where the hex is
HMAC-SHA256(secret, "<t>." + body): a receiver checks it and refuses old timestamps (replays).
A `device_fault` alarm carries what a work order needs: site, gate, gate_name, device, detail, time, event_id.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import logging
import os
import ssl
import threading
import time
from urllib.parse import urlsplit

from edge.config import WebhookConfig
from edge.events import Event
from edge.store import Store

log = logging.getLogger(__name__)

BATCH = 200  # events read from the queue at a time
MARK_EVERY_S = 0.05  # taken events are deleted in batches: one commit for many, not one per event
BACKOFF_S = (1.0, 300.0)  # a failing receiver is tried again after 1 s, doubling to 5 minutes
LOG_EVERY_S = 300.0


def signature(secret: bytes, timestamp: int, body: bytes) -> str:
    digest = hmac.new(secret, str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


class Refused(Exception):
    """The receiver answered, but not with 2xx."""


class WebhookSender:
    def __init__(self, config: WebhookConfig, store: Store, *, gate_name: str) -> None:
        self.config = config
        self.store = store
        self.gate_name = gate_name
        self.secret = os.environ.get(config.secret_env, "").encode()
        self.delivered = 0
        self.last_error = ""
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._connection: http.client.HTTPConnection | None = None
        self._thread = threading.Thread(target=self._run, name=f"webhook-{config.name}", daemon=True)
        if not self.secret:
            log.warning("webhook %s: $%s is empty: its POSTs are signed with an empty secret", config.name,
                        config.secret_env)

    def wants(self, event: Event) -> bool:
        return event.kind.value in self.config.kinds

    def start(self) -> None:
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()
        self._thread.join(timeout=self.config.timeout_s + 2)
        self._disconnect()

    def _run(self) -> None:
        delay, told = BACKOFF_S[0], 0.0
        while not self._stopping.is_set():
            try:
                sent = self._send_waiting()
            except (OSError, http.client.HTTPException, Refused) as error:
                self.last_error = str(error)[:200]
                self._disconnect()
                if time.monotonic() - told >= LOG_EVERY_S:
                    told = time.monotonic()
                    log.warning("webhook %s: %s; %d event(s) wait, retried in %.0f s", self.config.name,
                                self.last_error, self.store.webhook_backlog(self.config.name), delay)
                self._stopping.wait(delay)
                delay = min(delay * 2, BACKOFF_S[1])
                continue
            except Exception:  # the sender outlives a bug in one batch (the store's errors included)
                log.exception("webhook %s: sending failed", self.config.name)
                self._stopping.wait(BACKOFF_S[0])
                continue
            if told and sent:
                log.info("webhook %s: the receiver takes events again", self.config.name)
                told = 0.0
            delay = BACKOFF_S[0]
            if not sent:
                self._wake.wait(1.0)
                self._wake.clear()

    def _send_waiting(self) -> int:
        """Send what waits, in order; how many were taken. Raises on the first that is not."""
        dropped = self.store.enforce_webhook_limit(self.config.name, self.config.max_waiting)
        if dropped:
            log.error("webhook %s: %d oldest event(s) dropped: more than %d waited", self.config.name, dropped,
                      self.config.max_waiting)
        batch = self.store.webhook_batch(self.config.name, BATCH)
        taken: list[int] = []
        marked = time.monotonic()
        try:
            for seq, event_id, payload in batch:
                if self._stopping.is_set():
                    break
                self._post(event_id, payload)
                taken.append(seq)
                if time.monotonic() - marked >= MARK_EVERY_S:
                    self._mark(taken)
                    marked = time.monotonic()
        finally:
            self._mark(taken)
        return len(batch)

    def _mark(self, taken: list[int]) -> None:
        self.store.webhook_delivered(taken)
        self.delivered += len(taken)
        taken.clear()

    def _post(self, event_id: str, payload: str) -> None:
        body = json.dumps({**json.loads(payload), "gate_name": self.gate_name}, ensure_ascii=False,
                          separators=(",", ":")).encode()
        connection = self._connect()
        target = urlsplit(self.config.url)
        connection.request("POST", (target.path or "/") + (f"?{target.query}" if target.query else ""), body=body,
                           headers={"Content-Type": "application/json", "X-Gatepost-Event-Id": event_id,
                                    "X-Gatepost-Signature": signature(self.secret, int(time.time()), body),
                                    "User-Agent": "gatepost-webhook"})
        response = connection.getresponse()
        response.read(65536)
        if not 200 <= response.status < 300:
            raise Refused(f"{self.config.url} answered {response.status}")

    def _connect(self) -> http.client.HTTPConnection:
        if self._connection is None:
            target = urlsplit(self.config.url)
            if target.scheme == "https":
                self._connection = http.client.HTTPSConnection(target.hostname or "", target.port,
                                                               timeout=self.config.timeout_s,
                                                               context=ssl.create_default_context())
            else:
                self._connection = http.client.HTTPConnection(target.hostname or "", target.port,
                                                              timeout=self.config.timeout_s)
        return self._connection

    def _disconnect(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None
