"""The QR stage's bounds: a code is verified off the frame loop, waited for briefly, refused when it is late or when
too many are in verification, and a scanner that fails is a fault until it reads again (the scanner twin, a test
clock, verifiers the test holds)."""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace

import cv2
import numpy as np
import pytest

from drivers.camera import Frame
from drivers.qrscanner import SimQrScanner
from edge.qr.decode import FrameDecoder
from edge.qr.verify import VerifierRegistry
from edge.readings import QrResult
from edge.stages.base import FrameContext
from edge.stages.qr import MAX_PENDING, VERIFY_DEADLINE_S, QrStage


class Clock:
    def __init__(self) -> None:
        self.now = 50.0

    def __call__(self) -> float:
        return self.now


class Held:
    """A verifier that answers only when released (or after 10 s)."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.started = threading.Semaphore(0)

    def __call__(self, payload: str, source: str) -> QrResult:
        self.started.release()
        self.release.wait(10)
        return QrResult(payload[:64], source, "valid", "held", "test")


@pytest.fixture
def held():
    verifier = Held()
    yield verifier
    verifier.release.set()


@pytest.fixture
def parts(held):
    registry = VerifierRegistry()
    registry.register("H:", held)
    registry.register("Q:", lambda payload, source: QrResult(payload[:64], source, "valid", "quick", "test"))
    scanner, clock = SimQrScanner(), Clock()
    stage = QrStage(registry, scanner=scanner, clock=clock)
    yield stage, scanner, clock
    stage.close()


def frame(stage: QrStage, *, quiet: bool = True) -> list[QrResult]:
    image = np.zeros((120, 160, 3), np.uint8)
    context = FrameContext(frame=Frame(image, 0.0, 0), now=0.0, quiet=quiet)
    stage.process(context)
    return context.codes


def test_a_quick_verification_is_answered_in_the_frame_that_read_the_code(parts):
    stage, scanner, _ = parts
    scanner.present("Q:1")
    assert frame(stage) == [QrResult("Q:1", "scanner", "valid", "quick", "test")]
    assert frame(stage) == []


def test_the_loop_does_not_wait_for_a_slow_verification_and_collects_it_on_a_later_frame(parts, held):
    stage, scanner, _ = parts
    scanner.present("H:1")
    started = time.monotonic()
    assert frame(stage) == []
    assert time.monotonic() - started < 0.5  # waited a few milliseconds, not for the verification
    assert held.started.acquire(timeout=5)
    held.release.set()
    results: list[QrResult] = []
    deadline = time.monotonic() + 5
    while not results and time.monotonic() < deadline:
        results = frame(stage)
    assert results == [QrResult("H:1", "scanner", "valid", "held", "test")]


def test_a_verification_not_done_by_its_deadline_is_refused_as_late(parts, held):
    stage, scanner, clock = parts
    scanner.present("H:" + "x" * 100)
    assert frame(stage) == []
    clock.now += VERIFY_DEADLINE_S - 0.001
    assert frame(stage) == []
    clock.now += 0.001  # exactly at the deadline
    assert frame(stage) == [QrResult("H:" + "x" * 62, "scanner", "unreadable", "verify_timeout", "unknown")]
    held.release.set()
    assert frame(stage) == []  # its answer, when it comes, is not given as well


def test_codes_past_the_pending_bound_are_refused_busy_without_being_read(parts, held):
    stage, scanner, _ = parts
    for n in range(MAX_PENDING):
        scanner.present(f"H:{n}")
    assert frame(stage) == []
    scanner.present("Q:" + "y" * 100)
    assert frame(stage) == [QrResult("Q:" + "y" * 62, "scanner", "unreadable", "verifier_busy", "unknown")]
    held.release.set()
    results: list[QrResult] = []
    deadline = time.monotonic() + 5
    while len(results) < MAX_PENDING and time.monotonic() < deadline:
        results += frame(stage)
    assert sorted(r.payload for r in results) == sorted(f"H:{n}" for n in range(MAX_PENDING))
    scanner.present("Q:2")
    assert [r.reason for r in frame(stage)] == ["quick"]


def test_a_scanner_that_fails_is_a_fault_until_it_reads_again(parts):
    stage, scanner, _ = parts
    assert stage.fault is None
    scanner.close()
    assert frame(stage) == [] and stage.fault == "QR scanner (simulated): used after close()"
    stage.scanner = SimQrScanner()
    stage.scanner.present("Q:3")
    assert [r.reason for r in frame(stage)] == ["quick"] and stage.fault is None


def test_a_quiet_frame_is_not_searched_but_the_scanner_is_read(parts):
    stage, scanner, _ = parts
    code = cv2.resize(cv2.QRCodeEncoder.create().encode("Q:camera"), (200, 200), interpolation=cv2.INTER_NEAREST)
    image = np.full((480, 640, 3), 255, np.uint8)
    image[140:340, 220:420] = code[..., None]
    scanner.present("Q:scanner")

    def seen(quiet: bool) -> list[str]:
        context = FrameContext(frame=Frame(image, 0.0, 0), now=time.monotonic(), quiet=quiet)
        stage.process(context)
        return [f"{r.payload} {r.source}" for r in context.codes]

    assert seen(quiet=True) == ["Q:scanner scanner"]
    assert seen(quiet=False) == ["Q:camera camera"]


def test_a_code_on_a_face_is_face_texture_not_a_code():
    registry = VerifierRegistry()
    registry.register("Q:", lambda payload, source: QrResult(payload[:64], source, "valid", "quick", "test"))
    stage = QrStage(registry, decoder=FrameDecoder(full_every=0))
    code = cv2.resize(cv2.QRCodeEncoder.create().encode("Q:shirt"), (200, 200), interpolation=cv2.INTER_NEAREST)
    image = np.full((480, 640, 3), 255, np.uint8)
    image[140:340, 220:420] = code[..., None]

    def seen(*boxes: tuple[float, float, float, float]) -> list[str]:
        face = SimpleNamespace(faces=[SimpleNamespace(box=box) for box in boxes])
        context = FrameContext(frame=Frame(image, 0.0, 0), now=time.monotonic(), face=face)  # type: ignore[arg-type]
        stage.process(context)
        return [r.payload for r in context.codes]

    assert seen((200.0, 120.0, 440.0, 360.0)) == []
    assert seen((0.0, 0.0, 100.0, 100.0)) == ["Q:shirt"]  # a face elsewhere
    stage.close()


def test_closing_waits_for_no_verification_and_drops_those_not_started(parts, held):
    stage, scanner, _ = parts
    for n in range(3):
        scanner.present(f"H:{n}")
    assert frame(stage) == [] and held.started.acquire(timeout=5)
    started = time.monotonic()
    stage.close()
    assert time.monotonic() - started < 1.0  # the running one is held for 10 s
    assert [check.future.cancelled() for check in stage._pending] == [False, True, True]


@pytest.fixture
def online_parts(parts):
    """The stage with the online service (a real HTTP server on loopback) asked about `HK:` codes."""
    from tests.qr.test_online import Service, checker

    stage, scanner, clock = parts
    service = Service()
    online = checker(service, fallback="deny", timeout_ms=300)
    stage.online = online
    yield stage, scanner, clock, service
    service.close()
    online.close()


def test_only_codes_with_the_online_prefix_are_asked_of_the_service(online_parts):
    stage, scanner, _, service = online_parts
    scanner.present("Q:local")
    assert [(r.reason, r.source) for r in frame(stage)] == [("quick", "scanner")]
    scanner.present("HK:green")
    results: list[QrResult] = []
    deadline = time.monotonic() + 5
    while not results and time.monotonic() < deadline:
        results = frame(stage)
    assert [(r.status, r.source, r.kind) for r in results] == [("valid", "scanner", "online")]
    assert [r["code"] for r in service.requests] == ["HK:green"]


def test_the_online_answer_is_waited_for_to_the_service_s_timeout_then_the_fallback_decides(online_parts):
    stage, scanner, clock, service = online_parts
    scanner.present("HK:slow")
    assert frame(stage) == []
    clock.now += 0.2999
    assert frame(stage) == []
    clock.now += 0.0001  # exactly the service's 300 ms
    assert frame(stage) == [QrResult("HK:slow", "scanner", "untrusted", "timeout", "online")]
    service.release.set()
