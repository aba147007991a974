"""The touchscreen's server over plain HTTP, in this process, beside a running gate without face models: what it
answers and refuses, what each action records, and what a guard's session allows. (What the page does with the
answers is tested in Chromium, tests/ui/test_touchscreen.py.)"""

from __future__ import annotations

import http.client
import json
import threading
import time

import pytest

from edge.app import Runtime
from edge.config import parse_config
from edge.events import EventKind
from tests.broker import free_port
from tests.conftest import SCENARIOS
from tests.emulators import wait_for
from tests.ui.screen import PIN, Screen


@pytest.fixture
def gate(tmp_path):
    port = free_port()
    config = parse_config({
        "state_dir": str(tmp_path / "state"), "mqtt": {"enabled": False},
        "site": {"name": "North gate"},
        "ui": {"enabled": True, "port": port, "language": "en", "max_pin_failures": 3, "session_h": 2.0,
               "allowed_hosts": ["gate.example"], "max_live_clients": 2},
        "pipeline": {"stages": ["qr"]},
        "checks": {"face": {"mode": "off"}, "temperature": {"mode": "off"}, "qr": {"mode": "required"}},
        "simulation": {"scenario": str(SCENARIOS / "residents_only.yaml"), "realtime": True, "loop": True}})
    runtime = Runtime(config, control=False)
    runtime.service.guards.add("7", "Guard Seven", PIN)
    runtime.service.guards.add("8", "Guard Eight", "1357")
    stop = threading.Event()
    loop = threading.Thread(target=runtime.run, args=(stop.is_set,), daemon=True)
    loop.start()
    try:
        yield {"runtime": runtime, "screen": Screen(runtime.touchscreen.port), "port": runtime.touchscreen.port}
    finally:
        stop.set()
        loop.join(timeout=30)
        runtime.close()


def actions(runtime: Runtime, name: str) -> list[dict]:
    return [e for e in runtime.store.events(kind=EventKind.action.value) if e.get("action") == name]


def recorded(runtime: Runtime, name: str, count: int = 1) -> list[dict]:
    assert wait_for(lambda: len(actions(runtime, name)) >= count, timeout=10), name
    return actions(runtime, name)


def test_the_pages_carry_their_settings_and_are_never_cached(gate):
    screen = gate["screen"]
    status, page, response = screen.request("GET", "/")
    assert status == 200 and response.getheader("Cache-Control") == "no-store"
    assert response.getheader("Content-Type") == "text/html; charset=utf-8"
    settings = json.loads(page.split("window.GATEPOST = ", 1)[1].split(";</script>", 1)[0].split(";\n", 1)[0])
    assert settings == {"language": "en", "reasons": gate["runtime"].config.ui.open_reasons, "gate": "North gate"}
    status, page, response = screen.request("GET", "/resident")
    assert status == 200 and response.getheader("Cache-Control") == "no-store"
    assert response.getheader("Content-Type") == "text/html; charset=utf-8"
    assert 'window.GATEPOST = {"language": "en"};' in page or 'window.GATEPOST = {"language":"en"};' in page
    assert screen.get("/api/health") == (200, {"ok": True})


@pytest.mark.parametrize(("host", "allowed"), [
    ("127.0.0.1:{port}", True), ("localhost:{port}", True), ("[::1]:{port}", True), ("gate.example:{port}", True),
    ("gate.example", False), ("localhost", False), ("evil.example:{port}", False), ("127.0.0.1:1", False),
])
def test_only_the_screens_own_addresses_are_answered(gate, host, allowed):
    status, answer = gate["screen"].get("/api/health", host=host.format(port=gate["port"]))
    if allowed:
        assert status == 200
    else:
        assert (status, answer) == (421, {"ok": False, "error": "host: not this screen's address"})


def test_a_post_from_another_page_or_of_another_type_is_refused(gate):
    screen = gate["screen"]
    assert screen.post("/api/login", {"guard": "7", "pin": PIN}, origin=None) == (
        403, {"ok": False, "error": "origin: requests come from this screen only"})
    assert screen.post("/api/login", {"guard": "7", "pin": PIN}, origin="https://127.0.0.1:1")[0] == 403
    assert screen.post("/api/login", {"guard": "7", "pin": PIN}, content_type="text/plain") == (
        415, {"ok": False, "error": "content-type: application/json expected"})
    assert screen.post("/api/login", b"[1]")[0] == 400


def login_of_size(size: int) -> bytes:
    body = json.dumps({"guard": "7", "pin": ""}).encode()
    return json.dumps({"guard": "7", "pin": "0" * (size - len(body))}).encode()


def test_a_body_of_16_kib_is_read_and_one_byte_more_is_not(gate):
    screen = gate["screen"]
    assert len(login_of_size(16 * 1024)) == 16 * 1024
    assert screen.post("/api/login", login_of_size(16 * 1024)) == (403, {"ok": False, "error": "wrong_pin"})
    assert screen.post("/api/login", login_of_size(16 * 1024 + 1))[0] in (400, 413)


def test_a_login_sets_a_strict_cookie_for_the_session_and_logout_ends_it(gate):
    screen = gate["screen"]
    assert screen.get("/api/state") == (401, {"ok": False, "error": "login required"})
    status, answer, response = screen.login()
    assert (status, answer) == (200, {"ok": True, "guard": "Guard Seven"})
    cookie = response.getheader("Set-Cookie")
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Max-Age=7200" in cookie
    assert "Secure" not in cookie  # plain HTTP on loopback
    status, state = screen.get("/api/state")
    assert status == 200 and state["guard"] == "Guard Seven" and state["snapshots"] is False
    assert set(state["devices"]) == {"faults", "outbox", "face", "thermal", "warnings", "mqtt"}
    assert set(state) == {"events", "alarms", "devices", "guard", "snapshots", "groups"} and state["groups"] == []
    assert state["devices"]["mqtt"] is None and state["devices"]["faults"] == {}
    assert 1 <= state["devices"]["outbox"] <= gate["runtime"].store.outbox_size()  # "started", at least; none sent
    assert any(e.get("state") == "started" for e in state["events"])
    status, answer, response = screen.request("POST", "/api/logout", {})
    assert (status, answer) == (200, {"ok": True}) and 'gatepost_session=""' in response.getheader("Set-Cookie")
    assert screen.get("/api/state")[0] == 401


def test_a_wrong_pin_and_an_unknown_guard_get_the_same_answer_but_only_a_guard_is_recorded(gate):
    screen, runtime = gate["screen"], gate["runtime"]
    assert screen.login(pin="0000")[:2] == (403, {"ok": False, "error": "wrong_pin"})
    assert screen.login(guard="99", pin="0000")[:2] == (403, {"ok": False, "error": "wrong_pin"})
    [refused] = recorded(runtime, "pin_refused")
    assert (refused["guard"], refused["reason"], refused["source"], refused["locked_out"]) == (
        "7", "wrong_pin", "127.0.0.1", False)


def test_a_long_guard_id_is_recorded_cut_to_32_characters(gate):
    screen, runtime = gate["screen"], gate["runtime"]
    runtime.service.guards.add("g" * 40, "Guard Long", PIN)
    assert screen.login(guard="g" * 40, pin="0000")[0] == 403
    assert recorded(runtime, "pin_refused")[0]["guard"] == "g" * 32


def test_repeated_wrong_pins_lock_the_guard_out_and_the_lockout_is_recorded(gate):
    screen, runtime = gate["screen"], gate["runtime"]
    answers = [screen.login(pin="0000")[:2] for _ in range(4)]
    assert answers[:2] == [(403, {"ok": False, "error": "wrong_pin"})] * 2
    assert answers[3] == (403, {"ok": False, "error": "locked_out"})
    assert screen.login()[:2] == (403, {"ok": False, "error": "locked_out"})  # the right PIN too, while locked
    refusals = recorded(runtime, "pin_refused", 3)
    assert [r["locked_out"] for r in refusals] == [False, False, True]


def test_a_guard_opens_the_gate_with_a_reason_and_the_pin_again(gate):
    screen, runtime = gate["screen"], gate["runtime"]
    screen.login()
    reason = runtime.config.ui.open_reasons[0]
    assert screen.post("/api/open", {"pin": PIN, "reason": "because"}) == (
        400, {"ok": False, "error": "reason: one of " + ", ".join(runtime.config.ui.open_reasons)})
    assert screen.post("/api/open", {"pin": "0000", "reason": reason}) == (403, {"ok": False, "error": "wrong_pin"})
    pulses = runtime.gate.turnstile.pulses
    assert screen.post("/api/open", {"pin": PIN, "reason": reason}) == (200, {"ok": True})
    assert runtime.gate.turnstile.pulses == pulses + 1
    opened = [e for e in runtime.store.events(kind=EventKind.decision.value) if e.get("actor") == "7"]
    assert [(e["source"], e["reasons"]) for e in opened] == [("guard", [f"manual open: {reason}"])]


def test_an_open_the_relay_cannot_carry_out_is_answered_503(gate):
    screen, runtime = gate["screen"], gate["runtime"]
    screen.login()
    runtime.hardware.relay.unplugged = True
    assert screen.post("/api/open", {"pin": PIN, "reason": runtime.config.ui.open_reasons[0]}) == (
        503, {"ok": False, "error": "relay_failed"})


@pytest.mark.parametrize("broker_up", [True, False])
def test_the_screen_says_whether_the_broker_is_reached(tmp_path, request, broker_up):
    port = request.getfixturevalue("broker").port if broker_up else free_port()
    config = parse_config({
        "state_dir": str(tmp_path / "state"), "mqtt": {"port": port},
        "ui": {"enabled": True, "port": free_port(), "language": "en"}, "pipeline": {"stages": ["qr"]},
        "checks": {"face": {"mode": "off"}, "temperature": {"mode": "off"}, "qr": {"mode": "required"}},
        "simulation": {"scenario": str(SCENARIOS / "residents_only.yaml"), "realtime": True, "loop": True}})
    runtime = Runtime(config, control=False)
    try:
        runtime.service.guards.add("7", "Guard Seven", PIN)
        screen = Screen(runtime.touchscreen.port)
        screen.login()
        expected = "online" if broker_up else "offline"
        assert wait_for(lambda: screen.get("/api/state")[1]["devices"]["mqtt"] == expected, timeout=10)
    finally:
        runtime.close()


def test_nothing_is_done_without_a_guard(gate):
    screen, runtime = gate["screen"], gate["runtime"]
    reason = runtime.config.ui.open_reasons[0]
    for path, body in (("/api/open", {"pin": PIN, "reason": reason}), ("/api/ack", {"event_id": "x"}),
                       ("/api/recheck", {"visit_id": "v", "temperature_c": 36.5}),
                       ("/api/not-this-person", {"visit_id": "v"}), ("/api/enrol/capture", {}),
                       ("/api/enrol", {"capture_id": "c", "name": "n", "unit": "u", "pin": PIN})):
        assert screen.post(path, body) == (401, {"ok": False, "error": "login required"}), path
    for path in ("/api/state", "/api/snapshots/abc.jpg", "/api/live.mjpg"):
        assert screen.get(path)[0] == 401, path
    assert runtime.gate.turnstile.pulses == 0


def test_an_alarm_appears_for_the_guard_and_an_acknowledgement_closes_it(gate):
    screen, runtime = gate["screen"], gate["runtime"]
    screen.login()
    alarm = runtime.gate.call_soon(lambda: runtime.gate.record(EventKind.alarm, {"alarm": "tailgate"})).result(10)
    assert wait_for(lambda: [a["event_id"] for a in screen.get("/api/state")[1]["alarms"]] == [alarm.event_id],
                    timeout=10)
    assert screen.post("/api/ack", {"event_id": "nope"}) == (
        400, {"ok": False, "error": "event_id: no open alarm with that id"})
    assert screen.post("/api/ack", {"event_id": alarm.event_id}) == (200, {"ok": True})
    [ack] = recorded(runtime, "alarm_acknowledged")
    assert (ack["guard"], ack["alarm_event_id"], ack["alarm"]) == ("7", alarm.event_id, "tailgate")
    assert screen.get("/api/state")[1]["alarms"] == []
    assert screen.post("/api/ack", {"event_id": alarm.event_id})[0] == 400  # once


def test_the_screen_keeps_the_newest_thirty_events(gate):
    screen, runtime = gate["screen"], gate["runtime"]
    screen.login()
    for n in range(35):
        runtime.gate.call_soon(lambda n=n: runtime.gate.record(EventKind.status, {"state": f"s-{n}"}))
    assert wait_for(lambda: screen.get("/api/state")[1]["events"][-1].get("state") == "s-34", timeout=10)
    events = screen.get("/api/state")[1]["events"]
    assert len(events) == 30 and events[-30].get("state") == "s-5"


def test_events_reach_a_watching_screen_as_they_happen(gate):
    screen, runtime = gate["screen"], gate["runtime"]
    screen.login()
    connection = http.client.HTTPConnection("127.0.0.1", gate["port"], timeout=10)
    connection.request("GET", "/api/stream", headers={"Host": f"127.0.0.1:{gate['port']}", "Cookie": screen.cookie})
    response = connection.getresponse()
    assert response.status == 200 and response.getheader("Content-Type") == "text/event-stream"
    alarm = runtime.gate.call_soon(lambda: runtime.gate.record(EventKind.alarm, {"alarm": "forced_passage"})).result(10)
    lines: list[str] = []
    deadline = time.monotonic() + 10  # status events come every 2 s: without one of ours, give up
    while not any(alarm.event_id in line for line in lines) and time.monotonic() < deadline:
        lines.append(response.fp.readline().decode())
    at = next(n for n, line in enumerate(lines) if alarm.event_id in line)
    assert lines[at - 1] == "event: gate\n" and json.loads(lines[at][len("data: "):])["alarm"] == "forced_passage"
    connection.close()


def test_requests_for_what_this_gate_does_not_know_are_refused_with_their_field(gate):
    screen = gate["screen"]
    screen.login()
    assert screen.post("/api/not-this-person", {"visit_id": "v-1"}) == (
        400, {"ok": False, "error": "visit_id: no recent recognised visit with that id"})
    status, answer = screen.post("/api/recheck", {"visit_id": "v-1", "temperature_c": 36.5})
    assert status == 400 and answer["ok"] is False
    assert screen.post("/api/recheck", {"visit_id": "v-1", "temperature_c": True})[0] == 400
    assert screen.post("/api/enrol/capture", {}) == (400, {"ok": False, "error": "face recognition is off on this gate"})
    assert screen.get("/api/snapshots/abc.jpg") == (404, {"ok": False, "error": "no snapshot kept for this event"})


@pytest.mark.parametrize(("body", "status", "error"), [
    ({"name": " "}, 400, "name: 1 to 100 characters"),
    ({"name": "x" * 101}, 400, "name: 1 to 100 characters"),
    ({"visitor_hours": -1}, 400, "visitor_hours: 0 (a resident) to 744"),
    ({"visitor_hours": 745}, 400, "visitor_hours: 0 (a resident) to 744"),
    ({"visitor_hours": True}, 400, "visitor_hours: 0 (a resident) to 744"),
    ({"visitor_hours": "2"}, 400, "visitor_hours: 0 (a resident) to 744"),
    ({"pin": "0000"}, 403, "wrong_pin"),
    ({}, 400, "capture_id: no capture of yours with that id (taken over 2 minutes ago?)"),
    ({"visitor_hours": 744, "name": "x" * 100}, 400, "capture_id: no capture of yours with that id (taken over 2 "
                                                     "minutes ago?)"),
])
def test_an_enrolment_is_checked_field_by_field_and_needs_the_pin(gate, body, status, error):
    screen = gate["screen"]
    screen.login()
    answer = screen.post("/api/enrol", {"capture_id": "c-1", "name": "Dora", "unit": "2B", "pin": PIN, **body})
    assert answer == (status, {"ok": False, "error": error})


def test_a_removed_guard_is_logged_out(gate):
    screen, runtime = gate["screen"], gate["runtime"]
    screen.login()
    assert screen.get("/api/state")[0] == 200
    runtime.service.guards.remove("7")
    assert screen.get("/api/state")[0] == 401


class Stream:
    """A long answer (events, the live view) read as it comes, on a connection of its own."""

    def __init__(self, gate, path: str, cookie: str = "") -> None:
        self.connection = http.client.HTTPConnection("127.0.0.1", gate["port"], timeout=10)
        headers = {"Host": f"127.0.0.1:{gate['port']}", **({"Cookie": cookie} if cookie else {})}
        self.connection.request("GET", path, headers=headers)
        self.response = self.connection.getresponse()

    def event(self, kind: str, *, within: float = 10.0) -> dict | None:
        """The next server-sent event of `kind`, or None if the stream ended or none came in time."""
        deadline = time.monotonic() + within
        name = None
        while time.monotonic() < deadline:
            line = self.response.readline().decode()
            if not line:
                return None
            if line.startswith("event: "):
                name = line[len("event: "):].strip()
            elif line.startswith("data: ") and name == kind:
                return json.loads(line[len("data: "):])
        return None

    def ended(self, *, within: float = 10.0) -> bool:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if not self.response.read(4096):
                return True
        return False

    def close(self) -> None:
        self.connection.close()


def test_the_residents_screen_follows_the_prompt_without_a_login(gate):
    runtime = gate["runtime"]
    prompts = Stream(gate, "/api/prompt")
    try:
        assert prompts.response.status == 200
        assert prompts.event("prompt") == {"code": runtime.gate.prompt.code, "guide": False}  # the current one first
        runtime.gate.call_soon(lambda: runtime.gate.hold_prompt("show_code", 30.0))
        assert prompts.event("prompt") == {"code": "show_code", "guide": True}
        assert runtime.touchscreen.live.guide  # the guard's live view shows where to hold the code
    finally:
        prompts.close()


def test_a_watching_screen_hears_the_devices_every_two_seconds_without_events(gate):
    screen = gate["screen"]
    screen.login()
    events = Stream(gate, "/api/stream", screen.cookie)
    try:
        assert events.response.getheader("Cache-Control") == "no-cache"
        status = events.event("status", within=6.0)
        assert status is not None and set(status) == {"devices", "overlay", "groups"}
        assert status["devices"]["mqtt"] is None and isinstance(status["overlay"], dict) and status["groups"] == []
    finally:
        events.close()


def test_a_removed_guards_streams_end(gate):
    screen, runtime = gate["screen"], gate["runtime"]
    screen.login()
    events, live = Stream(gate, "/api/stream", screen.cookie), Stream(gate, "/api/live.mjpg", screen.cookie)
    try:
        assert events.response.status == 200 and live.response.status == 200
        runtime.service.guards.remove("7")
        assert events.ended() and live.ended()
    finally:
        events.close()
        live.close()


def read_part(live: Stream) -> bytes:
    """One JPEG of the live view, its framing checked."""
    head = b""
    while not head.endswith(b"\r\n\r\n"):
        head += live.response.read(1)
    lines = head.split(b"\r\n")
    assert lines[:2] == [b"--frame", b"Content-Type: image/jpeg"] and lines[2].startswith(b"Content-Length: ")
    jpeg = live.response.read(int(lines[2].split(b": ")[1]))
    assert jpeg[:2] == b"\xff\xd8" and live.response.read(2) == b"\r\n"
    return jpeg


def test_the_live_view_is_a_stream_of_jpegs_for_as_many_screens_as_configured(gate):
    screen = gate["screen"]
    screen.login()
    too_many = (503, {"ok": False, "error": "live view: too many screens watching"})
    watching = [Stream(gate, "/api/live.mjpg", screen.cookie) for _ in range(2)]
    try:
        first = watching[0]
        assert [w.response.status for w in watching] == [200, 200]
        assert first.response.getheader("Content-Type") == "multipart/x-mixed-replace; boundary=frame"
        assert first.response.getheader("Cache-Control") == "no-cache"
        assert read_part(first) != read_part(first)  # new frames, each once
        assert screen.get("/api/live.mjpg") == too_many
    finally:
        for stream in watching:
            stream.close()
    again: list[Stream] = []

    def two_places_again() -> bool:  # a closed screen is noticed at its next frame
        for stream in again:
            stream.close()
        again[:] = [Stream(gate, "/api/live.mjpg", screen.cookie) for _ in range(2)]
        return [w.response.status for w in again] == [200, 200]

    try:
        assert wait_for(two_places_again, timeout=10)
    finally:
        for stream in again:
            stream.close()
