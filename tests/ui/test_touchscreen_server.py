"""The touchscreen's server over HTTP (and once HTTPS), in this process, beside a running gate without face models: what it
answers and refuses, what each action records, and what a guard's session allows. (What the page does with the
answers is tested in Chromium, tests/ui/test_touchscreen.py.)"""

from __future__ import annotations

import contextlib
import http.client
import json
import ssl
import time

import pytest

from edge.app import Runtime
from edge.config import parse_config
from edge.events import EventKind
from tests.broker import free_port
from tests.certs import Authority
from tests.conftest import SCENARIOS
from tests.emulators import wait_for
from tests.running import frame_loop
from tests.ui.screen import PIN, Screen, Stream, read_part


@contextlib.contextmanager
def running(tmp_path, ui: dict | None = None, tls: ssl.SSLContext | None = None):
    port = free_port()
    config = parse_config({
        "state_dir": str(tmp_path / "state"), "mqtt": {"enabled": False},
        "site": {"name": "North gate"},
        "ui": {"enabled": True, "port": port, "language": "en", "max_pin_failures": 3, "session_h": 2.0,
               "allowed_hosts": ["gate.example"], "max_live_clients": 2, **(ui or {})},
        "pipeline": {"stages": ["qr"]},
        "checks": {"face": {"mode": "off"}, "temperature": {"mode": "off"}, "qr": {"mode": "required"}},
        "simulation": {"scenario": str(SCENARIOS / "residents_only.yaml"), "realtime": True, "loop": True}})
    runtime = Runtime(config, control=False)
    runtime.service.guards.add("7", "Guard Seven", PIN)
    runtime.service.guards.add("8", "Guard Eight", "1357")
    with frame_loop(runtime) as stop_loop:
        yield {"runtime": runtime, "screen": Screen(port, tls), "port": port,  # served where configured
               "stop_loop": stop_loop}


@pytest.fixture
def gate(tmp_path):
    with running(tmp_path) as started:
        yield started


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
    status, script, response = screen.request("GET", "/static/app.js")
    assert status == 200 and "function applyLanguage" in script


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
    assert screen.post("/api/login", login_of_size(16 * 1024 + 1))[0] == 413  # not read further


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


def test_over_https_the_cookie_is_sent_only_over_https_and_only_an_https_page_may_post(tmp_path):
    authority = Authority(tmp_path / "tls")
    cert, key = authority.issue("screen", server=True)
    tls = ssl.create_default_context(cafile=str(authority.ca_file))
    with running(tmp_path, {"tls_cert": str(cert), "tls_key": str(key)}, tls) as started:
        screen = started["screen"]
        assert screen.post("/api/login", {"guard": "7", "pin": PIN}, origin=f"http://127.0.0.1:{started['port']}") == (
            403, {"ok": False, "error": "origin: requests come from this screen only"})
        status, answer, response = screen.login()
        assert (status, answer) == (200, {"ok": True, "guard": "Guard Seven"})
        assert "Secure" in response.getheader("Set-Cookie") and screen.get("/api/state")[0] == 200


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
    assert wait_for(lambda: runtime.touchscreen.watching == (1, 0), timeout=10)
    alarm = runtime.gate.call_soon(lambda: runtime.gate.record(
        EventKind.alarm, {"alarm": "forced_passage", "door": "北门"})).result(10)
    lines: list[str] = []
    deadline = time.monotonic() + 10  # status events come every 2 s: without one of ours, give up
    while not any(alarm.event_id in line for line in lines) and time.monotonic() < deadline:
        lines.append(response.fp.readline().decode())
    at = next(n for n, line in enumerate(lines) if alarm.event_id in line)
    assert lines[at - 1] == "event: gate\n" and json.loads(lines[at][len("data: "):])["alarm"] == "forced_passage"
    assert '"door": "北门"' in lines[at]  # UTF-8 as it is, not escaped
    connection.close()
    assert wait_for(lambda: runtime.touchscreen.watching == (0, 0), timeout=10)  # noticed at its next write


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


def test_the_residents_screen_follows_the_prompt_without_a_login(gate):
    runtime = gate["runtime"]
    prompts = Stream(gate["port"], "/api/prompt")
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
    events = Stream(gate["port"], "/api/stream", screen.cookie)
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
    events, live = (Stream(gate["port"], path, screen.cookie) for path in ("/api/stream", "/api/live.mjpg"))
    try:
        assert events.response.status == 200 and live.response.status == 200
        runtime.service.guards.remove("7")
        assert events.ended() and live.ended()
    finally:
        events.close()
        live.close()


def test_the_live_view_is_a_stream_of_jpegs_for_as_many_screens_as_configured(gate):
    screen = gate["screen"]
    screen.login()
    too_many = (503, {"ok": False, "error": "live view: too many screens watching"})
    watching = [Stream(gate["port"], "/api/live.mjpg", screen.cookie) for _ in range(2)]
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
    assert wait_for(lambda: gate["runtime"].touchscreen.watching[1] == 0, timeout=10)  # noticed at the next frame
    again = [Stream(gate["port"], "/api/live.mjpg", screen.cookie) for _ in range(3)]
    try:
        assert [w.response.status for w in again] == [200, 200, 503]
    finally:
        for stream in again:
            stream.close()


def test_a_camera_that_gives_no_new_frame_costs_the_live_view_nothing(gate):
    screen = gate["screen"]
    screen.login()
    gate["stop_loop"]()  # the frame loop stops; the screen still serves
    live = Stream(gate["port"], "/api/live.mjpg", screen.cookie)
    try:
        read_part(live)  # the last frame, once
        live.connection.sock.settimeout(1.0)  # the view's pace is 4 a second: a repeat would come within 0.25 s
        with pytest.raises(TimeoutError):
            read_part(live)
    finally:
        live.close()
