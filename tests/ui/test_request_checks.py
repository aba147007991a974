"""What every page checks before a handler runs, against a real aiohttp server on loopback; and guards' sessions."""

import asyncio
import json
import ssl
import time

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer, make_mocked_request

from edge.guards import GuardBook
from edge.store import Store
from edge.ui.sessions import SESSION_COOKIE, Sessions
from tests.certs import Authority
from edge.web_checks import BadRequest, bad_requests, json_body, request_checks, script_json, server_tls

FIELDS = {"name": str, "count": int, "on": bool, "level": (int, float)}


def application() -> web.Application:
    async def echo(request: web.Request) -> web.Response:
        return web.json_response(await json_body(request, FIELDS, max_bytes=200))

    async def page(request: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    checks = request_checks(lambda host: host.startswith("127.0.0.1:") or host == "gate.local", whose="screen",
                            scheme=lambda request: "http", origins=("https://gate.example",))
    app = web.Application(middlewares=[checks, bad_requests])
    app.router.add_post("/echo", echo)
    app.router.add_get("/page", page)
    return app


def exchange(*requests: tuple) -> list[tuple[int, dict]]:
    """Each (method, path, headers, body) sent in turn; their statuses and JSON answers."""
    async def run() -> list[tuple[int, dict]]:
        async with TestClient(TestServer(application(), host="127.0.0.1")) as client:
            answers = []
            for method, path, headers, body in requests:
                origin = f"http://{client.host}:{client.port}"
                headers = {key: value.replace("SELF", origin) for key, value in headers.items()}
                response = await client.request(method, path, headers=headers, data=body)
                answers.append((response.status, await response.json()))
            return answers
    return asyncio.run(run())


JSON = {"Origin": "SELF", "Content-Type": "application/json"}
GOOD = json.dumps({"name": "a", "count": 1, "on": True, "level": 0.5})


def test_a_post_from_the_page_itself_with_a_json_body_reaches_the_handler():
    assert exchange(("POST", "/echo", JSON, GOOD)) == [(200, json.loads(GOOD))]
    proxied = {**JSON, "Origin": "https://gate.example"}
    assert exchange(("POST", "/echo", proxied, GOOD))[0][0] == 200


@pytest.mark.parametrize("headers, status, error", [
    ({**JSON, "Host": "evil.example"}, 421, "host: not this screen's address"),
    ({**JSON, "Host": "gate.local.evil.example"}, 421, "host: not this screen's address"),
    ({**JSON, "Origin": "http://evil.example"}, 403, "origin: requests come from this screen only"),
    ({"Content-Type": "application/json"}, 403, "origin: requests come from this screen only"),
    ({**JSON, "Content-Type": "text/plain"}, 415, "content-type: application/json expected"),
])
def test_a_request_from_elsewhere_or_not_json_is_refused_before_the_handler(headers, status, error):
    assert exchange(("POST", "/echo", headers, GOOD)) == [(status, {"ok": False, "error": error})]


def test_a_get_needs_the_right_host_but_no_origin():
    assert exchange(("GET", "/page", {}, None), ("GET", "/page", {"Host": "evil.example"}, None)) == [
        (200, {"ok": True}), (421, {"ok": False, "error": "host: not this screen's address"})]


@pytest.mark.parametrize("body, error", [
    ("[1]", "body: expected a JSON object"),
    (json.dumps({"name": 1, "count": 1, "on": True, "level": 1}), "name: expected str"),
    (json.dumps({"name": "a", "count": True, "on": True, "level": 1}), "count: expected int"),
    (json.dumps({"name": "a", "count": 1, "on": 1, "level": 1}), "on: expected bool"),
    (json.dumps({"name": "a", "count": 1, "on": True, "level": False}), "level: expected a number"),
    (json.dumps({"name": "a", "count": 1, "on": True}), "level: expected a number"),
    (json.dumps({"name": "a" * 300, "count": 1, "on": True, "level": 1}), "body"),
])
def test_a_malformed_body_is_answered_400_naming_the_field(body, error):
    [(status, answer)] = exchange(("POST", "/echo", JSON, body))
    assert status == 400 and answer["ok"] is False and answer["error"].startswith(error)


def test_json_inside_a_script_cannot_end_it():
    text = script_json({"name": "</script><!-- & x"})
    assert "<" not in text and ">" not in text and "&" not in text
    assert json.loads(text) == {"name": "</script><!-- & x"}
    assert issubclass(BadRequest, Exception)


def test_https_is_served_from_the_configured_certificate_and_key(tmp_path):
    assert server_tls("", "") is None
    cert, key = Authority(tmp_path).issue("gate.local", server=True)
    context = server_tls(str(cert), str(key))
    assert context.protocol == ssl.PROTOCOL_TLS_SERVER
    with pytest.raises(ssl.SSLError):
        server_tls(str(cert), str(tmp_path / "ca.crt"))  # a key that is not the certificate's


@pytest.fixture()
def guards(tmp_path):
    with Store(tmp_path) as store:
        book = GuardBook(store, max_failures=3, lockout_s=60)
        book.add("7", "Zhang", "2468")
        yield book


def request_with(token: str) -> web.Request:
    return make_mocked_request("GET", "/api/state", headers={"Cookie": f"{SESSION_COOKIE}={token}"})


def test_a_session_lasts_its_hours_to_the_second_and_ends_with_the_guard_or_their_pin(guards, monkeypatch):
    sessions = Sessions(guards, hours=2)
    monkeypatch.setattr(time, "time", lambda: 1_000.0)
    token = sessions.open("7", "Zhang", guards.get("7").pin_hash)
    assert len(token) == 32  # 24 random bytes
    assert sessions.of(request_with(token)).guard_id == "7"
    with pytest.raises(web.HTTPUnauthorized) as refused:
        sessions.of(request_with("not-a-token"))
    assert json.loads(refused.value.text) == {"ok": False, "error": "login required"}
    assert refused.value.content_type == "application/json"
    monkeypatch.setattr(time, "time", lambda: 1_000.0 + 2 * 3600)
    assert sessions.of(request_with(token)).name == "Zhang"  # its last second
    monkeypatch.setattr(time, "time", lambda: 1_000.0 + 2 * 3600 + 1)
    with pytest.raises(web.HTTPUnauthorized):
        sessions.of(request_with(token))
    monkeypatch.undo()
    again = sessions.open("7", "Zhang", guards.get("7").pin_hash)
    guards.add("7", "Zhang", "1357")  # a new PIN
    with pytest.raises(web.HTTPUnauthorized):
        sessions.of(request_with(again))
    third = sessions.open("7", "Zhang", guards.get("7").pin_hash)
    guards.remove("7")
    with pytest.raises(web.HTTPUnauthorized):
        sessions.of(request_with(third))


def test_logging_out_ends_that_session_only(guards):
    sessions = Sessions(guards, hours=2)
    mine, theirs = (sessions.open("7", "Zhang", guards.get("7").pin_hash) for _ in range(2))
    assert mine != theirs and len(mine) >= 32
    sessions.close(request_with(mine))
    with pytest.raises(web.HTTPUnauthorized):
        sessions.of(request_with(mine))
    assert sessions.of(request_with(theirs)).guard_id == "7"
    sessions.close(request_with(mine))  # twice, or a cookie of no session: nothing to end, no error
    sessions.close(make_mocked_request("POST", "/api/logout"))
    assert sessions.of(request_with(theirs)).guard_id == "7"
