"""The fleet view's server over HTTP (and once HTTPS), in this process, over a SQLite collector database filled
directly: what each address answers and refuses, what it writes to the audit, and what a login allows. (What the
page does with the answers is tested in Chromium, test_fleet_view.py.) Each test starts its own server in its body:
mutation testing sees which tests reach the constructor only when they call it themselves."""

from __future__ import annotations

import contextlib
import json
import re
import socket
import ssl
import time

import pytest

from collector.db import CollectorDB
from collector.web.server import FleetServer, draw, words
from edge.errors import ConfigError
from edge.passwords import hash_secret
from tests.certs import Authority
from tests.collector.test_fleet_view import _login_from
from tests.ui.screen import Screen

PASSWORD = "correct horse battery"


@pytest.fixture
def db(tmp_path):
    database = CollectorDB(f"sqlite:///{tmp_path}/collector.db")
    database.set_operator("ops", *hash_secret(PASSWORD))
    yield database
    database.close()


@contextlib.contextmanager
def serving(db: CollectorDB, tls_client: ssl.SSLContext | None = None, **options):
    server = FleetServer(db, port=0, **options)
    server.start()
    try:
        assert server.error is None
        yield server, Screen(server.port, tls_client)
    finally:
        server.stop()


def log_in(screen: Screen, name: str = "ops", password: str = PASSWORD, **options):
    status, answer, response = screen.request("POST", "/api/login", {"name": name, "password": password}, **options)
    if status == 200:
        screen.cookie = (response.getheader("Set-Cookie") or "").split(";", 1)[0]
    return status, answer, response


def audit(db: CollectorDB, action: str) -> list[tuple[float, str, dict]]:
    """(time, operator, detail) of each row of `action`, oldest first."""
    return [(when, operator, detail) for when, operator, name, detail in reversed(db.audit_log(1000))
            if name == action]


def event(event_id: str, when: float, *, kind: str = "decision", **extra) -> dict:
    return {"event_id": event_id, "site": "s1", "gate": "g1", "kind": kind, "time": when, **extra}


# the server's life


def test_off_loopback_it_needs_tls_and_a_public_address_must_be_http_or_https(db, tmp_path):
    with pytest.raises(ConfigError, match=r"^host: 0\.0\.0\.0 is reachable from the network; serve HTTPS "
                                          r"\(--tls-cert, --tls-key\) or listen on loopback behind a TLS reverse "
                                          r"proxy \(--public-url\)$"):
        FleetServer(db, host="0.0.0.0", port=0)
    for address in ("ftp://fleet.example", "https://", "fleet.example"):
        with pytest.raises(ConfigError, match=r"^public_url: '.*' is not an http\(s\) address$"):
            FleetServer(db, public_url=address)
    FleetServer(db, public_url="http://fleet.example")  # plain http is the operator's choice behind a proxy
    authority = Authority(tmp_path / "tls")
    cert, key = authority.issue("fleet", server=True)
    FleetServer(db, host="0.0.0.0", port=0, tls=(str(cert), str(key)))  # accepted: served over HTTPS


def test_over_https_the_session_cookie_is_secure(db, tmp_path):
    authority = Authority(tmp_path / "tls")
    cert, key = authority.issue("fleet", server=True)
    client = ssl.create_default_context(cafile=str(authority.ca_file))
    with serving(db, client, tls=(str(cert), str(key))) as (_, screen):
        status, _, response = log_in(screen)
        assert status == 200 and "Secure" in response.getheader("Set-Cookie")
        assert screen.get("/api/gates")[0] == 200


def test_a_taken_port_is_named_and_the_server_stops(db):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        server = FleetServer(db, port=port)
        server.start()
        assert server.error is not None and server.error.startswith(f"fleet-web: cannot listen on 127.0.0.1:{port} (")
        server.stop()
        assert not server.served._thread.is_alive()


def test_it_serves_on_the_port_it_was_given_and_stops_when_told(db):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = FleetServer(db, port=port)
    server.start()
    try:
        assert server.port == port and server.error is None
        assert Screen(port).get("/api/health") == (200, {"ok": True})
        assert server.served._thread.name == "fleet-web" and server.served._thread.daemon
    finally:
        server.stop()
    assert not server.served._thread.is_alive()
    with pytest.raises(ConnectionRefusedError):  # its socket closed, not left listening
        Screen(port).get("/api/health")
    server.stop()  # twice is harmless
    FleetServer(db, port=0).stop()  # and so is a stop before a start


def test_unconfigured_it_listens_where_the_command_line_says_in_chinese_for_eight_hour_sessions(db):
    from edge.cli import build_parser

    web = build_parser().parse_args(["collector", "web", "--db", "sqlite:///x.db"])
    server = FleetServer(db)
    assert (server.host, server.port, server.language) == (web.host, web.port, web.language) == (
        "127.0.0.1", 8090, "zh")
    with serving(db) as (_, screen):
        assert "Max-Age=28800" in log_in(screen)[2].getheader("Set-Cookie")


def test_requests_are_audited_not_written_to_an_access_log(db, caplog):
    with caplog.at_level("DEBUG", logger="aiohttp.access"), serving(db) as (_, screen):
        log_in(screen)
        assert screen.get("/api/gates")[0] == 200
    assert [r for r in caplog.records if r.name == "aiohttp.access"] == []
    assert len(audit(db, "read_gates")) == 1


# request checks


def test_only_its_own_addresses_are_answered(db):
    with serving(db, allowed_hosts=("fleet.lan", "10.0.0.5:8443")) as (server, screen):
        port = server.port
        for host in (f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}", f"fleet.lan:{port}", "fleet.lan",
                     "10.0.0.5:8443"):
            assert screen.get("/api/health", host=host) == (200, {"ok": True}), host
        for host in (f"127.0.0.1:{port + 1}", "evil.example", f"evil.example:{port}", "localhost", "10.0.0.5",
                     f"fleet.lan.evil.example:{port}"):
            assert screen.get("/api/health", host=host) == (421, {"ok": False, "error": "host: not this page's address"}), host


def test_behind_a_proxy_its_public_name_and_origin_are_accepted(db):
    with serving(db, public_url="https://fleet.example:8443/fleet") as (server, screen):
        assert server.public_origin == "https://fleet.example:8443"
        assert screen.get("/api/health", host="fleet.example:8443")[0] == 200
        status, _, response = log_in(screen, host="fleet.example:8443", origin="https://fleet.example:8443")
        assert status == 200 and "Secure" in response.getheader("Set-Cookie")  # the browser sees https
        refused = log_in(screen, host="fleet.example:8443", origin="https://evil.example")
        assert refused[:2] == (403, {"ok": False, "error": "origin: requests come from this page only"})


def test_a_post_must_come_from_the_page_itself(db):
    with serving(db) as (_, screen):
        refused = (403, {"ok": False, "error": "origin: requests come from this page only"})
        for origin in (None, "", "http://evil.example", f"https://127.0.0.1:{screen.port}"):
            assert log_in(screen, origin=origin)[:2] == refused, origin
        assert screen.post("/api/login", "name=ops", content_type="application/x-www-form-urlencoded")[0] == 415
        assert db.audit_log() == []


def test_it_listens_on_the_address_it_was_given_only(db):
    with serving(db) as (server, _):
        with pytest.raises(ConnectionRefusedError):  # another loopback address of this machine
            socket.create_connection(("127.0.0.2", server.port), timeout=5)


def test_a_server_named_localhost_answers_to_its_loopback_addresses(db):
    with serving(db, host="localhost") as (server, screen):
        for host in (f"127.0.0.1:{server.port}", f"localhost:{server.port}"):
            assert screen.get("/api/health", host=host)[0] == 200, host


def test_on_plain_http_the_cookie_is_not_marked_secure(db):
    with serving(db, public_url="http://fleet.example") as (_, screen):
        status, _, response = log_in(screen, host="fleet.example", origin="http://fleet.example")
        assert status == 200 and "Secure" not in response.getheader("Set-Cookie")


def test_every_read_needs_a_login(db):
    with serving(db) as (_, screen):
        for path in ("/api/gates", "/api/alarms", "/api/hourly", "/api/chart.svg", "/api/events", "/api/events.csv",
                     "/api/snapshots/e1.jpg"):
            status, answer, response = screen.request("GET", path)
            assert (status, answer) == (401, {"ok": False, "error": "login required"}), path
            assert response.getheader("Content-Type").startswith("application/json")
        assert screen.post("/api/alarms/ack", {"event_id": "e1"}) == (401, {"ok": False, "error": "login required"})
        assert db.audit_log() == []


# logging in and out


def test_a_login_sets_a_strict_http_only_cookie_for_the_session_s_hours_and_is_audited(db):
    with serving(db, session_h=2.0) as (_, screen):
        before = time.time()
        status, answer, response = log_in(screen)
        assert (status, answer) == (200, {"ok": True, "operator": "ops"})
        cookie = response.getheader("Set-Cookie")
        assert cookie.startswith("gatepost_fleet=") and "HttpOnly" in cookie and "SameSite=Strict" in cookie
        assert "Max-Age=7200" in cookie and "Secure" not in cookie
        assert len(cookie.split(";", 1)[0].removeprefix("gatepost_fleet=")) == 32  # 24 random bytes
        [(when, operator, detail)] = audit(db, "login")
        assert operator == "ops" and detail == {"result": "ok", "source": "127.0.0.1", "locked_out": False}
        assert before <= when <= time.time()
        assert screen.get("/api/gates")[0] == 200


def test_a_session_ends_at_its_hour_and_is_forgotten(db):
    with serving(db, session_h=1.0) as (server, screen):
        log_in(screen)
        [(token, session)] = server._sessions.items()
        assert time.time() + 3590 < session.expires <= time.time() + 3600
        session.expires = time.time() - 0.001
        assert screen.get("/api/gates") == (401, {"ok": False, "error": "login required"})
        assert token not in server._sessions


def test_a_wrong_password_is_refused_and_audited_and_an_unknown_name_answers_the_same_without_a_row(db):
    with serving(db) as (_, screen):
        assert log_in(screen, password="wrong")[:2] == (403, {"ok": False, "error": "wrong_password"})
        assert log_in(screen, name="nobody")[:2] == (403, {"ok": False, "error": "wrong_password"})
        assert [(operator, detail) for _, operator, detail in audit(db, "login_refused")] == [
            ("ops", {"result": "wrong_password", "source": "127.0.0.1", "locked_out": False})]
        assert screen.cookie == "" and screen.get("/api/gates")[0] == 401


def test_five_wrong_passwords_lock_the_name_out_from_that_source_for_five_minutes(db):
    with serving(db) as (server, screen):
        for _ in range(4):
            assert log_in(screen, password="wrong")[1]["error"] == "wrong_password"
        assert log_in(screen, password="wrong")[1]["error"] == "wrong_password"  # the fifth: the lockout begins
        assert log_in(screen)[1] == {"ok": False, "error": "locked_out"}
        started = [detail for _, _, detail in audit(db, "login_refused") if detail["locked_out"]]
        assert started == [{"result": "wrong_password", "source": "127.0.0.1", "locked_out": True}]
        assert server.lockouts.max_failures == 5 and server.lockouts.lockout_s == 300.0


def test_a_lockout_holds_the_source_that_earned_it_not_the_operator_s_own_desk(db):
    with serving(db) as (server, screen):
        url = f"http://127.0.0.1:{server.port}"
        for _ in range(5):
            assert _login_from(url, "ops", "wrong", source="127.0.0.9")[1]["error"] == "wrong_password"
        assert _login_from(url, "ops", PASSWORD, source="127.0.0.9")[1]["error"] == "locked_out"
        assert log_in(screen)[0] == 200
        assert [detail["source"] for _, _, detail in audit(db, "login_refused")] == ["127.0.0.9"] * 6
        assert [detail["source"] for _, _, detail in audit(db, "login")] == ["127.0.0.1"]


def test_guesses_at_unknown_names_write_one_row_when_their_lockout_begins(db):
    with serving(db) as (_, screen):
        for _ in range(5):
            log_in(screen, name="nobody", password="guess")
        assert [(operator, detail) for _, operator, detail in audit(db, "login_refused")] == [
            ("nobody", {"result": "wrong_password", "source": "127.0.0.1", "locked_out": True})]
        assert log_in(screen, name="nobody", password="guess")[1]["error"] == "locked_out"


def test_a_name_is_read_to_64_characters_and_a_password_to_256(db):
    long_name, long_password = "o" * 64, "p" * 256
    db.set_operator(long_name, *hash_secret(long_password))
    with serving(db) as (_, screen):
        status, answer, _ = log_in(screen, name=long_name + "tail", password=long_password + "tail")
        assert (status, answer) == (200, {"ok": True, "operator": long_name})
        assert log_in(screen, name=long_name, password=long_password[:-1])[0] == 403


def test_a_login_body_must_hold_a_name_and_a_password_as_text(db):
    with serving(db) as (_, screen):
        assert screen.post("/api/login", {"name": "ops"}) == (400, {"ok": False, "error": "password: expected str"})
        assert screen.post("/api/login", {"name": 7, "password": PASSWORD})[0] == 400
        status, answer = screen.post("/api/login", b"x" * (8 * 1024 + 1))
        assert status == 413, answer  # refused as it is read, before any parsing
        assert db.audit_log() == []


def test_a_logout_ends_the_session_clears_the_cookie_and_is_audited(db):
    with serving(db) as (server, screen):
        log_in(screen)
        cookie = screen.cookie
        status, answer, response = screen.request("POST", "/api/logout", {})
        assert (status, answer) == (200, {"ok": True})
        assert response.getheader("Set-Cookie").startswith('gatepost_fleet=""') or "Max-Age=0" in response.getheader(
            "Set-Cookie")
        assert server._sessions == {} and [(operator, detail) for _, operator, detail in audit(db, "logout")] == [
            ("ops", {})]
        screen.cookie = cookie
        assert screen.get("/api/gates")[0] == 401
        assert screen.post("/api/logout", {}) == (200, {"ok": True})  # nothing to end: no second row
        assert len(audit(db, "logout")) == 1


# the page


def test_the_page_carries_its_settings_and_is_never_cached(db):
    from collector.web.server import fleet_catalogue
    from edge.messages import catalogue

    with serving(db, language="en") as (_, screen):
        status, page, response = screen.request("GET", "/")
        assert status == 200 and response.getheader("Cache-Control") == "no-store"
        assert response.getheader("Content-Type") == "text/html; charset=utf-8"
        settings = json.loads(page.split("window.FLEET = ", 1)[1].split(";</script>", 1)[0].split(";\n", 1)[0])
        assert settings["language"] == "en" and settings["hours"] == [24, 48, 168]
        assert settings["messages"] == fleet_catalogue()
        assert settings["outcome"] == {language: words["outcome"] for language, words in catalogue().items()}
        status, script, _ = screen.request("GET", "/static/fleet.js")
        assert status == 200 and "settings.hours" in script


# gates and alarms


def test_gates_are_listed_with_their_state_and_summed(db):
    now = time.time()
    db.set_statuses([("s1", "g1", "online"), ("s1", "g2", "offline")], now)
    db.set_statuses([("s2", "g3", "online")], now - 181)  # connected, says the broker, but silent since
    db.set_statuses([("s2", "g4", "online")], now - 170)
    db.add_telemetry([("s1", "g1", {}, {"thermal": "no frame"}, 3, 5.0), ("s2", "g5", {}, {}, 2, 5.0)], now)
    with serving(db) as (_, screen):
        log_in(screen)
        status, answer = screen.get("/api/gates")
    assert status == 200 and answer["operator"] == "ops" and abs(answer["now"] - time.time()) < 5
    states = {row["gate"]: row["state"] for row in answer["gates"]}
    assert states == {"g1": "online", "g2": "offline", "g3": "silent", "g4": "online", "g5": "unknown"}
    first = answer["gates"][0]
    assert first["gate"] == "g1" and first["faults"] == {"thermal": "no frame"} and first["outbox"] == 3
    assert answer["summary"] == {"online": 2, "offline": 1, "silent": 1, "unknown": 1, "with_faults": 1, "outbox": 5}
    assert [(operator, detail) for _, operator, detail in audit(db, "read_gates")] == [("ops", {})]


def test_alarms_are_listed_newest_first_fifty_at_most(db):
    now = time.time()
    db.insert_events([event(f"a{n}", now - 60 * n, kind="alarm", alarm="fever") for n in range(52)])
    with serving(db) as (_, screen):
        log_in(screen)
        status, answer = screen.get("/api/alarms")
    assert status == 200 and [a["event_id"] for a in answer["alarms"]] == [f"a{n}" for n in range(50)]
    assert [(operator, detail) for _, operator, detail in audit(db, "read_alarms")] == [("ops", {})]


def test_an_alarm_within_the_week_is_listed_and_one_past_it_is_not(db):
    now = time.time()
    db.insert_events([event("old", now - 7 * 86400 - 3, kind="alarm", alarm="fever"),
                      event("inside", now - 7 * 86400 + 30, kind="alarm", alarm="fever")])
    with serving(db) as (_, screen):
        log_in(screen)
        assert [a["event_id"] for a in screen.get("/api/alarms")[1]["alarms"]] == ["inside"]


def test_an_alarm_is_acknowledged_once_by_the_operator_logged_in(db):
    now = time.time()
    db.insert_events([event("a1", now, kind="alarm", alarm="fever"), event("d1", now)])
    with serving(db) as (_, screen):
        log_in(screen)
        assert screen.post("/api/alarms/ack", {"event_id": "a1"}) == (200, {"ok": True})
        [alarm] = db.alarms()
        assert alarm["acknowledged_by"] == "ops" and abs(alarm["acknowledged_at"] - time.time()) < 5
        refused = (400, {"ok": False, "error": "event_id: no open alarm with that id"})
        assert screen.post("/api/alarms/ack", {"event_id": "a1"}) == refused  # once
        assert screen.post("/api/alarms/ack", {"event_id": "d1"}) == refused  # a decision is no alarm
        assert screen.post("/api/alarms/ack", {"event_id": 7})[0] == 400
        long_id = "a" * 64
        db.insert_events([event(long_id, now, kind="alarm", alarm="fever")])
        assert screen.post("/api/alarms/ack", {"event_id": long_id + "tail"}) == (200, {"ok": True})
    assert [detail for _, _, detail in audit(db, "acknowledge_alarm")] == [
        {"event_id": "a1"}, {"event_id": "a1"}, {"event_id": "d1"}, {"event_id": long_id}]


# hourly figures and charts


def test_hourly_figures_cover_the_hours_asked_ending_with_this_one(db):
    now = time.time()
    hour = int(now) // 3600 * 3600
    db.insert_events([event("e1", now, granted=True), event("e2", now, granted=True, gate="g2"),
                      event("e3", hour - 3600 + 5, granted=False, reason_codes=["unknown_face"]),
                      event("e4", hour - 23 * 3600 + 5, granted=True),
                      event("e5", hour - 24 * 3600 + 5, granted=True),  # outside the last 24 hours
                      event("a1", now, kind="alarm", alarm="fever", site="s2")])
    db.add_telemetry([("s1", "g1", {"face": (20.0, 40.0), "decision": (50.0, 90.0)}, {}, 0, 5.0),
                      ("s1", "g2", {"face": (25.0, 60.0)}, {}, 0, 5.0),
                      ("s2", "g1", {"face": (30.0, 70.0), "qr": (0.2, 0.5)}, {}, 0, 5.0)], now)
    db.add_telemetry([("s1", "g1", {"decision": (40.0, 80.0)}, {}, 0, 5.0)], hour - 23 * 3600 + 5)
    with serving(db) as (_, screen):
        log_in(screen)
        status, figures = screen.get("/api/hourly")
        assert status == 200
        assert figures["hours"] == [hour - 3600 * i for i in range(23, -1, -1)]
        assert figures["counts"]["entries"] == [1.0] + [0.0] * 22 + [2.0]
        assert figures["counts"]["denial:unknown_face"] == [0.0] * 22 + [1.0, 0.0]
        assert figures["counts"]["alarm:fever"][-1] == 1.0
        assert figures["p95_ms"] == {"face": [None] * 23 + [70.0], "decision": [80.0] + [None] * 22 + [90.0],
                                     "qr": [None] * 23 + [0.5]}  # the worst gate's
        figures = screen.get("/api/hourly?hours=48&site=s1&gate=g1")[1]
        assert len(figures["hours"]) == 48 and figures["hours"][-1] == hour
        assert sum(figures["counts"]["entries"]) == 3 and "alarm:fever" not in figures["counts"]
        assert figures["p95_ms"]["face"][-1] == 40.0 and "qr" not in figures["p95_ms"]
        assert len(screen.get("/api/hourly?hours=168&site=&gate=")[1]["hours"]) == 168
    assert [detail for _, _, detail in audit(db, "read_hourly")] == [
        {"site": None, "gate": None, "hours": 24}, {"site": "s1", "gate": "g1", "hours": 48},
        {"site": None, "gate": None, "hours": 168}]


def test_hours_must_be_one_of_the_three_offered(db):
    with serving(db) as (_, screen):
        log_in(screen)
        for path in ("/api/hourly", "/api/chart.svg"):
            assert screen.get(f"{path}?hours=12") == (400, {"ok": False, "error": "hours: one of 24, 48, 168"})
            assert screen.get(f"{path}?hours=day") == (400, {"ok": False, "error": "hours: a whole number"})
        assert screen.get("/api/chart.svg?chart=pie") == (
            400, {"ok": False, "error": "chart: one of entries, denials, alarms, decision_p95, stage_p95"})
    assert audit(db, "read_hourly") == [] and audit(db, "read_chart") == []


def test_a_chart_is_svg_of_the_gates_asked_in_the_language_asked_never_cached_and_audited(db):
    now = time.time()
    db.insert_events([event("e1", now, granted=True), {**event("e2", now, granted=True), "site": "s2"},
                      {**event("e3", now, granted=True), "gate": "g2"}])
    with serving(db, language="zh") as (_, screen):
        log_in(screen)

        def drawn(query: str = "") -> str:
            status, svg, response = screen.request("GET", "/api/chart.svg" + query)
            assert status == 200 and response.getheader("Content-Type") == "image/svg+xml; charset=utf-8"
            assert response.getheader("Cache-Control") == "no-store"
            return svg.decode()

        chinese = drawn()
        assert f"<title>{words('zh', 'chart', 'entries')}</title>" in chinese
        assert [title.rsplit(": ", 1)[1] for title in values(chinese)] == ["3"]
        assert [title.rsplit(": ", 1)[1] for title in values(drawn("?site=s1"))] == ["2"]
        assert [title.rsplit(": ", 1)[1] for title in values(drawn("?site=s1&gate=g1"))] == ["1"]
        english = drawn("?chart=alarms&lang=en&hours=48&site=s1")
        assert f"<title>{words('en', 'chart', 'alarms')}</title>" in english
        assert f"<title>{words('zh', 'chart', 'alarms')}</title>" in drawn("?chart=alarms&lang=fr")
    with serving(db, language="en") as (_, screen):
        log_in(screen)
        assert f"<title>{words('zh', 'chart', 'entries')}</title>".encode() in screen.request(
            "GET", "/api/chart.svg?lang=zh")[1]
    assert [detail for _, _, detail in audit(db, "read_chart")] == [
        {"site": None, "gate": None, "hours": 24, "chart": "entries"},
        {"site": "s1", "gate": None, "hours": 24, "chart": "entries"},
        {"site": "s1", "gate": "g1", "hours": 24, "chart": "entries"},
        {"site": "s1", "gate": None, "hours": 48, "chart": "alarms"},
        {"site": None, "gate": None, "hours": 24, "chart": "alarms"},
        {"site": None, "gate": None, "hours": 24, "chart": "entries"}]


HOURS = [3600 * n for n in range(3)]


def values(svg: str) -> list[str]:
    """Each bar's or point's '<label> <day> <hour>:00: <value>' title."""
    return [part.split("</title>")[0] for part in svg.split("<title>")[2:]]


def label(title: str) -> str:
    return re.split(r" \d\d \d\d:00: ", title)[0]


def value(title: str) -> str:
    return re.split(r" \d\d \d\d:00: ", title)[1]


REASONS = ("unknown_face", "fever", "no_code", "code_invalid", "code_expired", "spoof", "outside_hours")


def test_denials_show_the_five_commonest_reasons_and_the_rest_as_other():
    counts = {f"denial:{code}": [float(n), 0.0, 0.0] for n, code in enumerate(REASONS, 1)} | {"entries": [9.0, 0, 0]}
    svg = draw("denials", {"hours": HOURS, "counts": counts, "p95_ms": {}}, "zh")
    assert [label(title) for title in values(svg)] == [words("zh", "outcome", code) for code in REASONS[:1:-1]] + [
        words("zh", "metric", "other")]
    assert value(values(svg)[-1]) == "3"  # the two rarest
    assert len(set(map(label, values(svg)))) == 6  # each reason in words of its own
    few = draw("denials", {"hours": HOURS, "counts": {"denial:fever": [1.0, 0.0, 0.0]}, "p95_ms": {}}, "zh")
    assert words("zh", "metric", "other") not in few and words("zh", "ui", "no_data") not in few
    none = draw("denials", {"hours": HOURS, "counts": {}, "p95_ms": {}}, "zh")
    assert values(none) == [] and words("zh", "ui", "no_data") in none
    assert f">{words('zh', 'metric', 'denials')}</text>" in none  # the legend of an empty chart


FIGURES = {"hours": HOURS, "counts": {"entries": [2.0, 0.0, 1.0], "alarm:fever": [0.0, 1.0, 0.0],
                                      "alarm:tamper": [1.0, 0.0, 0.0], "denials": [5.0, 0.0, 0.0]},
           "p95_ms": {"decision": [90.0, None, 80.0], "face": [40.0, 30.0, None], "qr": [None, 5.0, None]}}


def test_entries_and_alarms_are_bars_of_their_own_counts_in_words():
    entries = draw("entries", FIGURES, "zh")
    assert [(label(t), value(t)) for t in values(entries)] == [(words("zh", "metric", "entries"), "2"),
                                                               (words("zh", "metric", "entries"), "1")]
    alarms = values(draw("alarms", FIGURES, "zh"))
    assert [(label(t), value(t)) for t in alarms] == [(words("zh", "alarm", "tamper"), "1"),
                                                      (words("zh", "alarm", "fever"), "1")]
    empty = {**FIGURES, "counts": {}}
    for chart, legend in (("entries", "entries"), ("alarms", "alarms")):
        svg = draw(chart, empty, "zh")
        assert values(svg) == [] and words("zh", "ui", "no_data") in svg, chart
        assert f">{words('zh', 'metric', legend)}</text>" in svg, chart


def test_timings_are_lines_of_milliseconds_the_decision_s_apart_from_the_stages():
    decision = values(draw("decision_p95", FIGURES, "zh"))
    assert [(label(t), value(t)) for t in decision] == [(words("zh", "stage", "decision"), "90 ms"),
                                                        (words("zh", "stage", "decision"), "80 ms")]
    stages = values(draw("stage_p95", FIGURES, "zh"))
    assert [(label(t), value(t)) for t in stages] == [(words("zh", "stage", "face"), "40 ms"),
                                                      (words("zh", "stage", "face"), "30 ms"),
                                                      (words("zh", "stage", "qr"), "5 ms")]
    for chart in ("decision_p95", "stage_p95"):
        svg = draw(chart, {**FIGURES, "p95_ms": {}}, "zh")
        assert values(svg) == [] and words("zh", "ui", "no_data") in svg, chart
    assert f">{words('zh', 'stage', 'decision')}</text>" in draw("decision_p95", {**FIGURES, "p95_ms": {}}, "zh")


def test_words_come_from_the_fleet_view_then_the_gate_then_the_code_itself():
    assert words("en", "chart", "entries") == "Entries per hour"  # the fleet view's own
    assert words("zh", "outcome", "unknown_face") not in ("", "unknown_face")  # the gate's denial reasons
    assert words("en", "outcome", "no-such-code") == "no-such-code"
    assert words("xx", "chart", "entries") == "entries"
    assert words("en", "action", "config_changed") == "configuration changed"  # a template's placeholders cut off
    assert words("en", "action", "visitor_registered") == "visitor"


# events, snapshots, export


def test_events_are_searched_by_each_filter_and_marked_where_a_face_was_sent(db):
    now = time.time()
    db.insert_events([event("e1", now - 30, granted=True, resident_id="r1"),
                      event("e2", now - 20, kind="alarm", alarm="fever", gate="g2"),
                      event("e3", now - 10, granted=False, pass_id="p1"),
                      {**event("e4", now), "site": "s2"}])
    db.add_snapshots([("e3", "s1", "g1", now - 10, b"\xff\xd8jpeg")])
    with serving(db) as (_, screen):
        log_in(screen)

        def found(query: str = "") -> list[str]:
            status, answer = screen.get("/api/events" + query)
            assert status == 200, answer
            return [e["event_id"] for e in answer["events"]]

        assert found() == ["e4", "e3", "e2", "e1"]
        assert found("?site=s2") == ["e4"] and found("?gate=g2") == ["e2"] and found("?kind=alarm") == ["e2"]
        assert found("?resident=r1") == ["e1"] and found("?pass=p1") == ["e3"]
        assert found(f"?since={now - 25}&until={now - 5}") == ["e3", "e2"]
        assert found("?limit=1") == ["e4"] and found("?site=&gate=") == ["e4", "e3", "e2", "e1"]
        marked = {e["event_id"]: e.get("snapshot") for e in screen.get("/api/events")[1]["events"]}
        assert marked == {"e1": None, "e2": None, "e3": True, "e4": None}
    searches = [detail for _, _, detail in audit(db, "search_events")]
    assert searches[0] == {"limit": 100} and searches[4] == {"resident": "r1", "limit": 100}
    assert searches[5] == {"pass_id": "p1", "limit": 100}
    assert searches[6] == {"since": now - 25, "until": now - 5, "limit": 100}


def test_a_search_holds_at_most_500_and_its_bounds_are_numbers(db):
    db.insert_events([event(f"e{n}", 1_700_000_000 + n) for n in range(501)])
    with serving(db) as (_, screen):
        log_in(screen)
        assert len(screen.get("/api/events")[1]["events"]) == 100
        assert len(screen.get("/api/events?limit=500")[1]["events"]) == 500
        for limit in ("0", "501"):
            assert screen.get(f"/api/events?limit={limit}") == (400, {"ok": False, "error": "limit: 1 to 500"})
        assert screen.get("/api/events?limit=ten") == (400, {"ok": False, "error": "limit: a whole number"})
        for name in ("since", "until"):
            assert screen.get(f"/api/events?{name}=yesterday") == (
                400, {"ok": False, "error": f"{name}: seconds since 1970"})
    assert len(audit(db, "search_events")) == 2


def test_a_snapshot_is_shown_to_an_operator_logged_in_and_audited(db):
    db.add_snapshots([("e1", "s1", "g1", time.time(), b"\xff\xd8face")])
    long_id = "e" * 64
    db.add_snapshots([(long_id, "s1", "g1", time.time(), b"\xff\xd8long")])
    with serving(db) as (_, screen):
        log_in(screen)
        status, jpeg, response = screen.request("GET", "/api/snapshots/e1.jpg")
        assert (status, jpeg) == (200, b"\xff\xd8face")
        assert response.getheader("Content-Type") == "image/jpeg" and response.getheader("Cache-Control") == "no-store"
        assert screen.get("/api/snapshots/e2.jpg") == (404, {"ok": False, "error": "no snapshot for this event"})
        assert screen.request("GET", f"/api/snapshots/{long_id}tail.jpg")[1] == b"\xff\xd8long"
    assert [detail for _, _, detail in audit(db, "view_snapshot")] == [
        {"event_id": "e1"}, {"event_id": "e2"}, {"event_id": long_id}]


def test_the_export_is_a_csv_download_of_the_search_in_the_language_asked(db):
    now = time.time()
    db.insert_events([event("a1", now, kind="alarm", alarm="fever"), event("d1", now - 1, granted=True)])
    with serving(db, language="en") as (_, screen):
        log_in(screen)
        status, text, response = screen.request("GET", "/api/events.csv?kind=alarm")
        assert status == 200 and response.getheader("Content-Type") == "text/csv; charset=utf-8"
        assert response.getheader("Content-Disposition") == 'attachment; filename="gatepost-events.csv"'
        assert response.getheader("Cache-Control") == "no-store"
        lines = text.lstrip("\ufeff").splitlines()
        assert lines[0].startswith(words("en", "column", "time")) and len(lines) == 2
        assert words("en", "alarm", "fever") in lines[1]
        chinese = screen.request("GET", "/api/events.csv?lang=zh")[1].lstrip("\ufeff").splitlines()
        assert chinese[0].startswith(words("zh", "column", "time")) and len(chinese) == 3
        assert screen.request("GET", "/api/events.csv?lang=fr")[1].lstrip("\ufeff").startswith(
            words("en", "column", "time"))
        assert screen.get("/api/events.csv?limit=100001") == (400, {"ok": False, "error": "limit: 1 to 100000"})
        assert screen.request("GET", "/api/events.csv?limit=100000")[0] == 200
    assert [detail for _, _, detail in audit(db, "export_events")] == [
        {"kind": "alarm", "limit": 100_000}, {"limit": 100_000}, {"limit": 100_000}, {"limit": 100_000}]


def test_the_export_holds_the_whole_search_not_a_page_of_it(db):
    db.insert_events([event(f"e{n}", 1_700_000_000 + n, granted=True) for n in range(501)])
    with serving(db, language="zh") as (_, screen):
        log_in(screen)
        lines = screen.request("GET", "/api/events.csv?lang=en")[1].lstrip("\ufeff").splitlines()
        assert len(lines) == 1 + 501 and lines[0].startswith(words("en", "column", "time"))
        assert len(screen.request("GET", "/api/events.csv?limit=7")[1].lstrip("\ufeff").splitlines()) == 1 + 7
