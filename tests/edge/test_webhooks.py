"""Webhooks: events POSTed to a real HTTP receiver on loopback, signed, in order; nothing lost while the receiver
is away or across a restart of the gate; a receiver that hangs delays nothing at the gate."""

import hashlib
import hmac
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from edge.config import WebhookConfig, parse_config
from edge.errors import ConfigError
from edge.events import Event, EventKind
from edge.store import Store
from edge.webhooks import WebhookSender
from tests.emulators import wait_for

SECRET = "s3cret"


class Receiver:
    """A property platform's endpoint: keeps what it took; answers `status` (500: refused), or hangs."""

    def __init__(self) -> None:
        self.taken: list[tuple[dict, dict]] = []
        self.status = 200
        self.hang_s = 0.0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802 - the standard library's name
                body = self.rfile.read(int(self.headers["Content-Length"]))
                time.sleep(receiver.hang_s)
                if receiver.status == 200:
                    receiver.taken.append((json.loads(body), {**dict(self.headers), "raw": body}))
                self.send_response(receiver.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/gatepost"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture()
def receiver():
    server = Receiver()
    yield server
    server.close()


def record(store: Store, kind: EventKind, body: dict, hooks=("platform",)) -> Event:
    event = Event(kind, body, site_id="demo-site", gate_id="gate-1")
    store.record_event(event, "gatepost/demo-site/gate-1/event", hooks)
    return event


def sender(store, url, **extra) -> WebhookSender:
    return WebhookSender(WebhookConfig(name="platform", url=url, **extra), store, gate_name="North gate")


def test_events_arrive_signed_in_order_with_what_a_work_order_needs(tmp_path, receiver, monkeypatch):
    monkeypatch.setenv("GATEPOST_WEBHOOK_SECRET", SECRET)
    with Store(tmp_path) as store:
        events = [record(store, EventKind.alarm, {"alarm": "device_fault", "device": "thermal",
                                                  "detail": "no frame for 3 s"})]
        events += [record(store, EventKind.alarm, {"alarm": "fever", "n": n}) for n in range(20)]
        hook = sender(store, receiver.url)
        hook.start()
        try:
            assert wait_for(lambda: len(receiver.taken) == 21, timeout=10)
            assert wait_for(lambda: store.webhook_backlog("platform") == 0, timeout=5)
        finally:
            hook.stop()
    assert [body["event_id"] for body, _ in receiver.taken] == [e.event_id for e in events]
    work_order, headers = receiver.taken[0]
    assert {"site", "gate", "gate_name", "device", "detail", "time", "event_id"} <= set(work_order)
    assert work_order["gate_name"] == "North gate" and headers["X-Gatepost-Event-Id"] == events[0].event_id
    stamp, digest = (part.split("=", 1)[1] for part in headers["X-Gatepost-Signature"].split(","))
    expected = hmac.new(SECRET.encode(), stamp.encode() + b"." + headers["raw"], hashlib.sha256).hexdigest()
    assert hmac.compare_digest(digest, expected) and abs(int(stamp) - time.time()) < 60


def test_nothing_is_lost_while_the_receiver_refuses_or_across_a_restart(tmp_path, receiver):
    receiver.status = 500
    with Store(tmp_path) as store:
        first = [record(store, EventKind.alarm, {"alarm": "tamper", "n": n}) for n in range(5)]
        hook = sender(store, receiver.url)
        hook.start()
        assert wait_for(lambda: hook.last_error.endswith("answered 500"), timeout=10)
        hook.stop()  # the gate stops (or dies) with five events untaken
    with Store(tmp_path) as store:  # the next start
        assert store.webhook_backlog("platform") == 5
        later = [record(store, EventKind.alarm, {"alarm": "tamper", "n": n}) for n in range(5, 8)]
        receiver.status = 200
        hook = sender(store, receiver.url)
        hook.start()
        try:
            assert wait_for(lambda: len(receiver.taken) == 8, timeout=15)
        finally:
            hook.stop()
    assert [body["event_id"] for body, _ in receiver.taken] == [e.event_id for e in first + later]


def test_a_hanging_receiver_delays_nothing_at_the_gate(tmp_path, receiver):
    receiver.hang_s = 3.0
    with Store(tmp_path) as store:
        hook = sender(store, receiver.url, timeout_s=1.0)
        hook.start()
        try:
            record(store, EventKind.alarm, {"alarm": "tamper"})
            hook.wake()
            time.sleep(0.2)  # the sender is now waiting on the receiver
            started = time.perf_counter()
            for n in range(20):
                record(store, EventKind.alarm, {"alarm": "tamper", "n": n})
            assert (time.perf_counter() - started) / 20 < 0.05  # a record's cost, not the receiver's
        finally:
            hook.stop()
        assert store.webhook_backlog("platform") == 21


def test_only_the_kinds_asked_for_are_queued_and_plain_http_stays_on_this_box(tmp_path):
    from edge.app import Runtime

    config = parse_config({"state_dir": str(tmp_path / "state"), "mqtt": {"enabled": False}, "ui": {"enabled": False},
                           "webhooks": [{"name": "platform", "url": "http://127.0.0.1:9/x", "kinds": ["alarm"]}]})
    runtime = Runtime(config, control=False, ui=False, loop=False)
    try:
        runtime.gate.record(EventKind.status, {"state": "test"})
        runtime.gate.record(EventKind.alarm, {"alarm": "tamper"})
        assert runtime.store.webhook_backlog("platform") == 1
    finally:
        runtime.close()
    with pytest.raises(ConfigError, match=r"webhooks\.0\.url: .*https"):
        parse_config({"webhooks": [{"name": "p", "url": "http://platform.example/x"}]})
    with pytest.raises(ConfigError, match="used twice"):
        parse_config({"webhooks": [{"name": "p", "url": "https://a.example/"}, {"name": "p", "url": "https://b.example/"}]})
