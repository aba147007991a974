"""The online health-code service against a real HTTP server on loopback."""

import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from drivers.camera import Frame
from edge.config import OnlineHealthCodeConfig
from edge.qr.online import OnlineChecker
from edge.readings import QrResult
from edge.qr.verify import VerifierRegistry
from edge.stages.base import FrameContext
from edge.stages.qr import QrStage
from drivers.qrscanner import SimQrScanner
from tests.emulators import wait_for


# hostile or odd answers: a list, no status, a number for a status, and a green answer one byte past the bound
HUGE_GREEN = b'{"status": "green", "pad": "' + b"x" * (65537 - 30) + b'"}'
ANSWERS = {"HK:list": b"[1]", "HK:nostatus": b"{}", "HK:number": b'{"status": 1}', "HK:huge": HUGE_GREEN}


class PatientServer(ThreadingHTTPServer):
    def handle_error(self, request, client_address) -> None:
        """A gate that stopped waiting (the slow answers) closed its end: not an error of this service."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class Service:
    """Answers by the code: HK:green, HK:red, HK:slow (sleeps past the timeout), HK:broken (500)."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.headers: list[dict] = []
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
                answer = ANSWERS.get(code) or json.dumps({"status": code.split(":")[1]}).encode()
                service.headers.append(dict(self.headers))
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args):
                pass

        self.server = PatientServer(("127.0.0.1", 0), Handler)
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
    config = OnlineHealthCodeConfig(**{"enabled": True, "url": service.url, "timeout_ms": 300, **overrides})
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
    stage = QrStage(VerifierRegistry(), scanner=scanner, online=online)
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
    stage = QrStage(VerifierRegistry(), scanner=scanner, online=online)
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


@pytest.mark.parametrize("status, code", [("green", "health_code_green"), ("yellow", "health_code_yellow"),
                                          ("red", "health_code_red"), ("<script>", "health_code_unknown"),
                                          ("x" * 40, "health_code_unknown")])
def test_the_answers_status_sets_a_code_from_the_catalogue_never_its_own_text(service, status, code):
    online = checker(service)
    assert online.check(f"HK:{status}", "scanner").reason == code
    online.close()


@pytest.mark.parametrize("code", ["HK:list", "HK:nostatus", "HK:number", "HK:huge", "HK:broken"])
def test_an_answer_without_a_readable_status_is_the_service_failing(service, code):
    online = checker(service)
    assert len(HUGE_GREEN) == 65537
    assert online.check(code, "scanner") == QrResult(code, "scanner", "untrusted", "service_unavailable", "online")
    online.close()


def test_every_result_carries_the_code_its_source_and_kind_and_the_calls_are_counted(service):
    online = checker(service, fallback="allow_flag", breaker_failures=1, breaker_reset_s=60)
    code = "HK:green" + "0" * 100
    assert online.check(code, "camera") == QrResult(code[:64], "camera", "invalid", "health_code_unknown", "online")
    assert online.calls == 1
    assert service.headers[0]["Content-Type"] == "application/json" and "Authorization" not in service.headers[0]
    assert online.check("HK:broken", "scanner") == QrResult("HK:broken", "scanner", "valid",
                                                           "service_unavailable_allowed_flagged", "online")
    assert online.check("HK:red", "scanner") == QrResult("HK:red", "scanner", "valid", "circuit_open_allowed_flagged",
                                                        "online")
    assert online.calls == 2
    assert online.submit("HK:red", "camera").result(timeout=2).source == "camera"
    long = "HK:" + "9" * 100
    assert online.check(long, "scanner").payload == long[:64]
    online.close()
    denying = checker(service, breaker_failures=1, breaker_reset_s=60)
    denying.check("HK:broken", "scanner")
    assert denying.check(long, "scanner") == QrResult(long[:64], "scanner", "untrusted", "circuit_open", "online")
    denying.close()


def test_a_slow_service_is_a_failure_after_the_timeout_and_closing_waits_for_nothing(service):
    online = checker(service)
    started = time.monotonic()
    assert online.check("HK:slow", "scanner").reason == "service_unavailable"  # not the green it would say at last
    assert time.monotonic() - started < 2.0
    online.close()
    patient = checker(service, timeout_ms=4000)
    pending = [patient.submit("HK:slow", "scanner") for _ in range(3)]  # two workers: the third waits its turn
    assert wait_for(lambda: len(service.requests) == 3, timeout=2)
    started = time.monotonic()
    patient.close()
    assert time.monotonic() - started < 1.0
    assert pending[2].cancelled()
    service.release.set()


def test_a_cached_answer_is_asked_again_at_exactly_its_age_and_the_cache_is_bounded(service, monkeypatch):
    from edge.qr import online as module

    now = [0.0]
    config = OnlineHealthCodeConfig(enabled=True, url=service.url, timeout_ms=300, cache_s=60)
    online = OnlineChecker(config, site="s1", gate="g1", clock=lambda: now[0])
    online.check("HK:green", "scanner")
    now[0] = 60.0
    online.check("HK:green", "scanner")
    assert len(service.requests) == 2
    monkeypatch.setattr(module, "CACHE_LIMIT", 2)
    online.check("HK:red", "scanner")
    assert len(online._cache) == 2  # at the limit: kept
    online.check("HK:yellow", "scanner")
    assert len(online._cache) == 0  # past it: emptied, never grown without bound
    online.close()
