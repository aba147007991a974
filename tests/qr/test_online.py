"""The online health-code service against a real HTTP server on loopback."""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from drivers.camera import Frame
from edge.config import OnlineHealthCodeConfig
from edge.qr.online import OnlineChecker
from edge.qr.verify import VerifierRegistry
from edge.stages.base import FrameContext
from edge.stages.qr import QrStage
from drivers.qrscanner import SimQrScanner
from tests.emulators import wait_for


class Service:
    """Answers by the code: HK:green, HK:red, HK:slow (sleeps past the timeout), HK:broken (500)."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.release = threading.Event()
        service = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's name
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                body["auth"] = self.headers.get("Authorization")
                service.requests.append(body)
                code = body["code"]
                if code == "HK:slow":
                    service.release.wait(5)
                if code == "HK:broken":
                    self.send_response(500)
                    self.end_headers()
                    return
                answer = json.dumps({"status": code.split(":")[1]}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/check"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()


@pytest.fixture()
def service():
    server = Service()
    yield server
    server.close()


def checker(service, **overrides) -> OnlineChecker:
    config = OnlineHealthCodeConfig(enabled=True, url=service.url, timeout_ms=300, **overrides)
    return OnlineChecker(config, site="s1", gate="g1")


def test_green_and_red_codes_and_the_cache(service, monkeypatch):
    monkeypatch.setenv("GATEPOST_HEALTH_CODE_TOKEN", "secret-token")
    online = checker(service)
    assert online.check("HK:green", "scanner").status == "valid"
    red = online.check("HK:red", "scanner")
    assert (red.status, red.reason) == ("invalid", "health_code_red")
    assert online.check("HK:green", "scanner").status == "valid"
    assert len(service.requests) == 2  # the second green came from the cache
    assert service.requests[0] == {"code": "HK:green", "site": "s1", "gate": "g1", "auth": "Bearer secret-token"}
    online.close()


def test_breaker_opens_after_failures_and_fallback_decides(service):
    online = checker(service, breaker_failures=3, breaker_reset_s=60, fallback="allow_flag")
    results = [online.check("HK:broken", "camera") for _ in range(5)]
    assert len(service.requests) == 3  # the circuit opened: no more calls
    assert [r.reason for r in results][-1] == "circuit_open_allowed_flagged"
    assert all(r.status == "valid" for r in results)  # allow and flag
    assert online.breaker_open
    online.close()


def test_slow_service_never_holds_the_decision_longer_than_its_timeout(service):
    online = checker(service, fallback="deny")
    scanner = SimQrScanner()
    stage = QrStage(VerifierRegistry(), scanner=scanner, online=online, online_prefix="HK:")
    frame = Frame(np.full((120, 160, 3), 100, np.uint8), 0.0, 1)
    scanner.present("HK:slow")
    started = time.monotonic()
    results = []
    while not results:
        context = FrameContext(frame=frame, now=time.monotonic())
        stage.process(context)
        results = context.codes
        assert time.monotonic() - started < 1.0
    waited = time.monotonic() - started
    assert 0.25 <= waited < 0.45
    assert (results[0].status, results[0].reason) == ("untrusted", "timeout")
    service.release.set()
    online.close()


def test_answers_arrive_through_the_stage(service):
    online = checker(service)
    scanner = SimQrScanner()
    stage = QrStage(VerifierRegistry(), scanner=scanner, online=online, online_prefix="HK:")
    frame = Frame(np.full((120, 160, 3), 100, np.uint8), 0.0, 1)
    scanner.present("HK:green")
    collected = []

    def poll():
        context = FrameContext(frame=frame, now=time.monotonic())
        stage.process(context)
        collected.extend(context.codes)
        return collected

    assert wait_for(poll, timeout=2)
    assert collected[0].status == "valid" and collected[0].kind == "online"
    online.close()


@pytest.mark.parametrize("status", ["yellow", "unknown", "GREEN", "green ", ""])
def test_only_green_admits(service, status):
    """A check that refused only "red" would let yellow codes and statuses it does not know in."""
    online = checker(service)
    result = online.check(f"HK:{status}", "scanner")
    assert result.status == "invalid"
    online.close()


def test_a_cached_answer_expires(service):
    now = [0.0]
    config = OnlineHealthCodeConfig(enabled=True, url=service.url, timeout_ms=300, cache_s=60)
    online = OnlineChecker(config, site="s1", gate="g1", clock=lambda: now[0])
    online.check("HK:green", "scanner")
    now[0] = 59.0
    online.check("HK:green", "scanner")
    assert len(service.requests) == 1
    now[0] = 61.0
    online.check("HK:green", "scanner")
    assert len(service.requests) == 2  # asked again: a code can turn red
    online.close()


def test_a_success_between_failures_resets_the_breakers_count(service):
    online = checker(service, breaker_failures=3, breaker_reset_s=60)
    for code in ("HK:broken", "HK:broken", "HK:green", "HK:broken", "HK:broken"):
        online.check(code, "camera")
    assert not online.breaker_open  # never three in a row
    online.check("HK:broken", "camera")
    assert online.breaker_open
    online.close()
