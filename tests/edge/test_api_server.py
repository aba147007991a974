"""The integrators' API over HTTP (and once HTTPS), in this process, beside a running gate without face models (one
test with them): each operation's bounds, scopes, refusals and what it records. (The OpenAPI document and a client
generated from it are tested in test_api.py.) Each test starts its own server in its body: mutation testing sees
which tests reach the constructor only when they call it themselves."""

from __future__ import annotations

import base64
import contextlib
import http.client
import json
import logging
import socket
import ssl
from types import SimpleNamespace

import cv2
import numpy as np
import pytest

import edge.api.server
from edge.api.openapi import document
from edge.api.server import MAX_BODY, ApiServer
from edge.api_tokens import SCOPES, issue
from edge.app import Runtime
from edge.config import parse_config
from edge.config.network import ApiConfig
from edge.events import EventKind
from edge.images import decode_image
from tests.broker import free_port
from tests.certs import Authority
from tests.conftest import SCENARIOS
from tests.emulators import wait_for
from tests.running import frame_loop

NO_FACES = {"pipeline": {"stages": ["qr"]},
            "checks": {"face": {"mode": "off"}, "temperature": {"mode": "off"}, "qr": {"mode": "required"}}}
# The API's contract, written out here rather than read from the module under test.
SCOPE_OF = {("GET", "/api/v1/status"): "status:read", ("GET", "/api/v1/events"): "events:read",
            ("GET", "/api/v1/residents"): "residents:read", ("POST", "/api/v1/residents"): "residents:write",
            ("DELETE", "/api/v1/residents/1"): "residents:write", ("GET", "/api/v1/passes"): "passes:read",
            ("POST", "/api/v1/passes/revoke"): "passes:write", ("POST", "/api/v1/open"): "gate:open",
            ("GET", "/api/v1/cards"): "cards:read", ("POST", "/api/v1/cards"): "cards:write",
            ("POST", "/api/v1/cards/remove"): "cards:write", ("PUT", "/api/v1/residents/1/group"): "residents:write"}


class Client:
    """One integrator: the server's address and a token."""

    def __init__(self, port: int, token: str | None, tls: ssl.SSLContext | None = None, host: str = "127.0.0.1"):
        self.port, self.token, self.tls, self.host = port, token, tls, host

    def raw(self, method: str, path: str, data: bytes | None = None, headers: dict | None = None):
        connection = (http.client.HTTPSConnection(self.host, self.port, timeout=30, context=self.tls) if self.tls
                      else http.client.HTTPConnection(self.host, self.port, timeout=30))
        sent = {**({"Authorization": f"Bearer {self.token}"} if self.token else {}), **(headers or {})}
        connection.request(method, path, body=data, headers=sent)
        response = connection.getresponse()
        text = response.read()
        connection.close()
        kind = response.getheader("Content-Type", "")
        return response.status, json.loads(text) if kind.startswith("application/json") else text

    def call(self, method: str, path: str, body=None, headers: dict | None = None):
        data = None if body is None else json.dumps(body).encode()
        return self.raw(method, path, data, {**({"Content-Type": "application/json"} if data else {}),
                                             **(headers or {})})


@contextlib.contextmanager
def serving(tmp_path, *, faces: bool = False, tls: tuple[str, str] | None = None, host: str = "127.0.0.1",
            **api_options):
    config = parse_config({"state_dir": str(tmp_path / "state"), "mqtt": {"enabled": False},
                           "ui": {"enabled": False}, **({} if faces else NO_FACES),
                           "simulation": {"scenario": str(SCENARIOS / "residents_only.yaml"), "realtime": True,
                                          "loop": True}})
    runtime = Runtime(config, control=False)
    with frame_loop(runtime):
        cert, key = tls or ("", "")
        server = ApiServer(runtime.service, runtime.store,
                           ApiConfig(enabled=True, host=host, port=free_port(), tls_cert=cert, tls_key=key,
                                     **api_options))
        port = server.config.port
        server.start()
        try:
            assert server.error is None and server.served.port == port
            yield SimpleNamespace(server=server, runtime=runtime, port=server.served.port,
                                  client=lambda *scopes: Client(server.served.port,
                                                                issue(runtime.store, "platform", list(scopes))))
        finally:
            server.stop()
            with pytest.raises(ConnectionRefusedError):
                socket.create_connection((host, port), timeout=5)


def resident(runtime: Runtime, name: str = "Lin") -> int:
    vector = np.random.default_rng(len(name)).normal(size=128).astype(np.float32)
    return runtime.store.add_resident(name, "3-101", [vector / np.linalg.norm(vector)], [0.9], ["test"])


def audited(runtime: Runtime, operation: str) -> list[dict]:
    """The API's action events of `operation`, oldest first."""
    return [e for e in runtime.store.latest_events(500)
            if e.get("action") == "api" and e.get("operation") == operation]


def padded(body: dict, size: int) -> bytes:
    """`body` as JSON of exactly `size` bytes (a "pad" field makes up the rest)."""
    bare = json.dumps({**body, "pad": ""}).encode()
    return json.dumps({**body, "pad": "x" * (size - len(bare))}).encode()


# the server's life


def test_a_taken_port_is_named_and_said_once(tmp_path, caplog):
    runtime = Runtime(parse_config({"state_dir": str(tmp_path / "state"), "mqtt": {"enabled": False},
                                    "ui": {"enabled": False}, **NO_FACES}), control=False)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        server = ApiServer(runtime.service, runtime.store, ApiConfig(enabled=True, port=port))
        with caplog.at_level(logging.ERROR, logger="edge.api.server"):
            server.start()
        assert server.error is not None and server.error.startswith(f"api: cannot listen on 127.0.0.1:{port} (")
        assert [r.getMessage() for r in caplog.records] == [f"API not served: {server.error}"]
        server.stop()
    runtime.close()


def test_it_listens_only_on_the_address_it_was_given(tmp_path):
    with serving(tmp_path, host="127.0.0.2") as api:
        reader = api.client("status:read")
        assert Client(api.port, reader.token, host="127.0.0.2").call("GET", "/api/v1/status")[0] == 200
        with pytest.raises(ConnectionRefusedError):
            reader.call("GET", "/api/v1/status")


def test_over_https_its_own_origin_is_the_https_one(tmp_path):
    authority = Authority(tmp_path / "tls")
    cert, key = authority.issue("gate", server=True)
    with serving(tmp_path, tls=(str(cert), str(key))) as api:
        reader = api.client("status:read")
        reader.tls = ssl.create_default_context(cafile=str(authority.ca_file))
        own = f"https://127.0.0.1:{api.port}"
        assert reader.call("GET", "/api/v1/status", headers={"Origin": own})[0] == 200
        assert reader.call("GET", "/api/v1/status", headers={"Origin": f"http://127.0.0.1:{api.port}"})[0] == 403


# every request


def test_only_the_document_is_served_without_a_token(tmp_path):
    with serving(tmp_path) as api:
        anonymous = Client(api.port, None)
        assert anonymous.call("GET", "/api/v1/openapi.json") == (200, document())
        refused = (401, {"ok": False, "error": "authorization: a valid token is needed (Bearer gp_...)"})
        assert anonymous.call("GET", "/api/v1/status") == refused
        assert anonymous.call("GET", "/api/v1/nothing-here") == refused
        token = api.client("status:read").token
        for header in (f"bearer {token}", f"Basic {token}", token, f"Bearer{token}", f"Bearer gp_{token}"):
            assert anonymous.call("GET", "/api/v1/status", headers={"Authorization": header}) == refused, header
        status, answer = anonymous.call("GET", "/api/v1/status", headers={"Authorization": f"Bearer   {token}  "})
        assert status == 200 and answer["ok"] is True and answer["site"] == "demo-site"
        assert Client(api.port, token).call("GET", "/api/v1/nothing-here")[0] == 404
        assert anonymous.call("GET", "/api/v1/openapi.json", headers={"Authorization": "Bearer wrong"})[0] == 200


def test_a_browser_on_another_page_is_refused_even_the_document(tmp_path):
    with serving(tmp_path) as api:
        reader = api.client("status:read")
        refused = (403, {"ok": False, "error": "origin: a browser on another page may not call this API"})
        assert reader.call("GET", "/api/v1/status", headers={"Origin": "http://evil.example"}) == refused
        assert reader.call("GET", "/api/v1/openapi.json", headers={"Origin": "http://evil.example"}) == refused
        assert reader.call("GET", "/api/v1/status", headers={"Origin": f"https://127.0.0.1:{api.port}"}) == refused
        assert reader.call("GET", "/api/v1/status", headers={"Origin": f"http://127.0.0.1:{api.port}"})[0] == 200


def test_each_operation_needs_its_scope_and_that_one_is_enough(tmp_path):
    with serving(tmp_path) as api:
        for (method, path), scope in SCOPE_OF.items():
            others = api.client(*(s for s in SCOPES if s != scope))
            body = {} if method in ("POST", "PUT") else None
            assert others.call(method, path, body) == (403, {"ok": False, "error": f"scope: this token lacks {scope}"})
            status, answer = api.client(scope).call(method, path, body)
            assert status not in (401, 403), (method, path, answer)


def test_post_and_put_take_json_only(tmp_path):
    with serving(tmp_path) as api:
        every = api.client(*SCOPES)
        wrong = (415, {"ok": False, "error": "content-type: application/json expected"})
        for method, path in (("POST", "/api/v1/open"), ("PUT", "/api/v1/residents/1/group")):
            sent = every.raw(method, path, b'{"reason": "x", "group": null}', {"Content-Type": "text/plain"})
            assert sent == wrong, path
        assert every.raw("DELETE", "/api/v1/residents/99", None, {"Content-Type": "text/plain"}) == (
            404, {"ok": False, "error": "id: no resident 99"})


def test_a_token_is_held_to_its_rate_over_a_sliding_minute(tmp_path, monkeypatch):
    now = [1000.0]
    monkeypatch.setattr(edge.api.server, "time", SimpleNamespace(monotonic=lambda: now[0]))
    with serving(tmp_path, requests_per_minute=3) as api:
        reader, other = api.client("status:read"), api.client("status:read")

        def at(moment: float, client=reader) -> int:
            now[0] = 1000.0 + moment
            return client.call("GET", "/api/v1/status")[0]

        assert [at(0), at(1), at(2)] == [200, 200, 200]
        assert reader.call("GET", "/api/v1/status") == (
            429, {"ok": False, "error": "rate: more than 3 calls a minute for this token"})
        assert at(2, other) == 200  # each token has its own
        assert at(60) == 429  # the first call is exactly a minute old: still counted
        assert at(60.5) == 200
        assert at(61) == 429
        assert at(200) == 200
        token_id = reader.token.split("_")[1]
        assert list(api.server._calls[token_id]) == [1200.0]  # only the last minute's calls are kept


# operations


def test_status_is_the_gate_s_own(tmp_path):
    with serving(tmp_path) as api:
        status, answer = api.client("status:read").call("GET", "/api/v1/status")
        expected = api.runtime.service.status().as_dict()
        assert status == 200 and answer["ok"] is True
        assert {key: answer[key] for key in ("site", "gate", "residents")} == {
            key: expected[key] for key in ("site", "gate", "residents")}
        assert set(answer) == {"ok", *expected}


def test_events_page_within_their_bounds(tmp_path):
    with serving(tmp_path) as api:
        for n in range(101):
            api.runtime.service.record(EventKind.action, {"action": "api_test", "n": n})
        reader = api.client("events:read")
        status, page = reader.call("GET", "/api/v1/events")
        assert status == 200 and page["ok"] is True and len(page["events"]) == 100
        assert reader.call("GET", "/api/v1/events?after=0&limit=100") == (status, page)
        status, one = reader.call("GET", "/api/v1/events?limit=1")
        assert status == 200 and one["events"] == page["events"][:1]
        status, following = reader.call("GET", f"/api/v1/events?after={one['next']}&limit=1")
        assert following["events"] == page["events"][1:2]
        assert reader.call("GET", "/api/v1/events?limit=500")[0] == 200
        assert reader.call("GET", f"/api/v1/events?after={2**62}") == (200, {"ok": True, "events": [],
                                                                             "next": 2**62})
        for query, error in ((f"after={2**62 + 1}", f"after: 0 to {2**62}"), ("after=-1", f"after: 0 to {2**62}"),
                             ("after=x", "after: a whole number"), ("limit=0", "limit: 1 to 500"),
                             ("limit=501", "limit: 1 to 500"), ("limit=2.5", "limit: a whole number")):
            assert reader.call("GET", f"/api/v1/events?{query}") == (400, {"ok": False, "error": error}), query


def test_residents_are_listed_with_their_templates_count(tmp_path):
    with serving(tmp_path) as api:
        lin = resident(api.runtime)
        uid = api.runtime.service.resident(resident_id=lin).uid
        assert api.client("residents:read").call("GET", "/api/v1/residents") == (200, {"ok": True, "residents": [
            {"id": lin, "uid": uid, "name": "Lin", "unit": "3-101", "templates": 1}]})


def test_a_pass_is_revoked_by_its_trimmed_id_within_bounds(tmp_path):
    with serving(tmp_path) as api:
        writer = api.client("passes:write", "passes:read")
        assert writer.call("POST", "/api/v1/passes/revoke", {"pass_id": "  visitor-77 "}) == (200, {"ok": True})
        status, listed = writer.call("GET", "/api/v1/passes")
        assert status == 200 and listed["ok"] is True
        assert [(p["pass_id"], bool(p["revoked"])) for p in listed["passes"]] == [("visitor-77", True)]
        [recorded] = audited(api.runtime, "revoke_pass")
        assert recorded["pass_id"] == "visitor-77" and recorded["token_name"] == "platform"
        assert recorded["token"] == writer.token.split("_")[1]
        assert writer.call("POST", "/api/v1/passes/revoke", {"pass_id": "p" * 64})[0] == 200
        for refused in ("", "   ", "p" * 65):
            assert writer.call("POST", "/api/v1/passes/revoke", {"pass_id": refused}) == (
                400, {"ok": False, "error": "pass_id: 1 to 64 characters"})


@pytest.mark.parametrize("method, path, body", [("POST", "/api/v1/passes/revoke", {"pass_id": "p1"}),
                                                ("POST", "/api/v1/cards", {"resident_id": 0, "number": "12345"}),
                                                ("POST", "/api/v1/cards/remove", {"number": "12345"}),
                                                ("POST", "/api/v1/open", {"reason": "delivery"}),
                                                ("PUT", "/api/v1/residents/1/group", {"group": None})])
def test_small_bodies_are_held_to_4_kib(tmp_path, method, path, body):
    with serving(tmp_path) as api:
        every = api.client(*SCOPES)
        status, answer = every.raw(method, path, padded(body, 4096), {"Content-Type": "application/json"})
        assert not answer.get("error", "").startswith("body"), answer
        assert every.raw(method, path, padded(body, 4097), {"Content-Type": "application/json"}) == (
            400, {"ok": False, "error": "body: 4097 bytes exceeds the limit of 4096"})


def test_cards_are_given_and_taken_back_by_their_last_digits_and_recorded(tmp_path):
    with serving(tmp_path) as api:
        lin = resident(api.runtime)
        cards = api.client("cards:write", "cards:read")
        assert cards.call("POST", "/api/v1/cards", {"resident_id": lin, "number": "0009876543"}) == (
            200, {"ok": True, "card": "…6543"})
        assert cards.call("POST", "/api/v1/cards", {"resident_id": 99999, "number": "1"}) == (
            400, {"ok": False, "error": "resident_id: no resident 99999"})
        status, listed = cards.call("GET", "/api/v1/cards")
        assert status == 200 and listed["ok"] is True and [c["card"] for c in listed["cards"]] == ["…6543"]
        assert cards.call("POST", "/api/v1/cards/remove", {"number": " 0009876543 "}) == (200, {"ok": True})
        assert cards.call("POST", "/api/v1/cards/remove", {"number": "0009876543"}) == (
            404, {"ok": False, "error": "number: no enrolled card has this number"})
        given, taken = audited(api.runtime, "give_card"), audited(api.runtime, "take_card")
        assert [(e["resident_id"], e["card"]) for e in given] == [(lin, "…6543")]
        assert [e["card"] for e in taken] == ["…6543"]


def test_a_resident_s_group_is_set_and_cleared_within_bounds(tmp_path):
    with serving(tmp_path) as api:
        lin = resident(api.runtime)
        writer = api.client("residents:write")

        def group() -> str | None:
            return api.runtime.service.resident(resident_id=lin).access_group

        assert writer.call("PUT", f"/api/v1/residents/{lin}/group", {"group": "g" * 64}) == (200, {"ok": True})
        assert group() == "g" * 64
        assert writer.call("PUT", f"/api/v1/residents/{lin}/group", {"group": "g"}) == (200, {"ok": True})
        assert writer.call("PUT", f"/api/v1/residents/{lin}/group", {}) == (200, {"ok": True})
        assert group() is None
        for refused in ("", "g" * 65, 7):
            assert writer.call("PUT", f"/api/v1/residents/{lin}/group", {"group": refused}) == (
                400, {"ok": False, "error": "group: 1 to 64 characters, or null for none"})
        assert writer.call("PUT", "/api/v1/residents/x/group", {"group": None}) == (
            400, {"ok": False, "error": "id: a whole number"})
        assert writer.call("PUT", "/api/v1/residents/99999/group", {"group": None}) == (
            404, {"ok": False, "error": "id: no resident 99999"})
        assert [(e["resident_id"], e["group"]) for e in audited(api.runtime, "set_group")] == [
            (lin, "g" * 64), (lin, "g"), (lin, None)]


def test_an_open_is_a_remote_decision_naming_the_token_and_its_trimmed_reason(tmp_path):
    with serving(tmp_path) as api:
        opener, runtime = api.client("gate:open"), api.runtime
        pulses = runtime.gate.turnstile.pulses
        assert opener.call("POST", "/api/v1/open", {"reason": "  delivery "}) == (200, {"ok": True})
        assert runtime.gate.turnstile.pulses == pulses + 1
        opened = [e for e in runtime.store.events(kind=EventKind.decision.value) if e.get("actor") == "api:platform"]
        assert [(e["source"], e["reasons"], e["granted"]) for e in opened] == [
            ("remote", ["manual open: delivery"], True)]
        assert opener.call("POST", "/api/v1/open", {"reason": "r" * 200})[0] == 200
        for refused in ("", "  ", "r" * 201):
            assert opener.call("POST", "/api/v1/open", {"reason": refused}) == (
                400, {"ok": False, "error": "reason: 1 to 200 characters"})
        runtime.hardware.relay.unplugged = True
        assert opener.call("POST", "/api/v1/open", {"reason": "delivery"}) == (
            503, {"ok": False, "error": "open: the gate stayed closed (relay_failed)"})


def test_an_enrolment_is_refused_naming_its_field_before_any_photo_is_read(tmp_path):
    with serving(tmp_path) as api:
        writer = api.client("residents:write")
        photo = base64.b64encode(b"not an image").decode()

        def enrol(**body) -> tuple[int, dict]:
            return writer.call("POST", "/api/v1/residents", {"name": "Chen", "photos": [photo], **body})

        for name in ("", "  ", "n" * 101):
            assert enrol(name=name) == (400, {"ok": False, "error": "name: 1 to 100 characters"})
        for unit in ("u" * 51, 7):
            assert enrol(unit=unit) == (400, {"ok": False, "error": "unit: a string of at most 50 characters"})
        for photos in ([], [photo] * 6, [7]):
            assert enrol(photos=photos) == (400, {"ok": False, "error": "photos: 1 to 5 base64 strings"})
        assert enrol(photos=["not base64!"]) == (400, {"ok": False, "error": "photos: photo 0: not base64"})
        assert enrol(photos=[photo + "\n"]) == (400, {"ok": False, "error": "photos: photo 0: not base64"})
        for accepted in ({"name": "n" * 100}, {"unit": "u" * 50}, {"photos": [photo] * 5}):
            status, answer = enrol(**accepted)  # past the bounds: the photo is read, and is no face here
            assert status == 400 and answer["error"].startswith("photos: photo 0"), answer


def test_an_enrolment_body_may_hold_five_photos(tmp_path):
    with serving(tmp_path) as api:
        writer = api.client("residents:write")
        status, answer = writer.raw("POST", "/api/v1/residents", padded({"name": "Chen", "photos": []}, MAX_BODY),
                                    {"Content-Type": "application/json"})
        assert (status, answer) == (400, {"ok": False, "error": "photos: 1 to 5 base64 strings"})
        status, _ = writer.raw("POST", "/api/v1/residents", padded({"name": "Chen", "photos": []}, MAX_BODY + 1),
                               {"Content-Type": "application/json"})
        assert status == 413


def test_a_resident_is_enrolled_from_photos_refused_twice_and_removed(tmp_path):
    faces = SCENARIOS / "faces" / "stranger_f"
    photos = [base64.b64encode((faces / name).read_bytes()).decode() for name in ("01.jpg", "02.jpg")]
    with serving(tmp_path, faces=True) as api:
        writer = api.client("residents:write")
        status, enrolled = writer.call("POST", "/api/v1/residents", {"name": " Chen ", "unit": " 7-301 ",
                                                                     "photos": photos})
        assert status == 200 and enrolled["ok"] is True and enrolled["kept"] == [0, 1], enrolled
        chen = api.runtime.service.resident(resident_id=enrolled["id"])
        assert (chen.uid, chen.name, chen.unit) == (enrolled["uid"], "Chen", "7-301")
        assert isinstance(enrolled["warnings"], list)
        [recorded] = audited(api.runtime, "enrol")
        assert (recorded["resident_id"], recorded["name"], recorded["templates"]) == (enrolled["id"], "Chen", 2)
        templates = api.runtime.store.templates(enrolled["id"])
        expected = [api.runtime.service.template_from_photo(decode_image(base64.b64decode(p), "photo"), "photo")[1]
                    for p in photos]
        assert [(t.source, t.quality) for t in templates] == [("api", pytest.approx(q.value)) for q in expected]
        other = base64.b64encode((SCENARIOS / "faces" / "stranger_e" / "01.jpg").read_bytes()).decode()
        status, unitless = writer.call("POST", "/api/v1/residents", {"name": "Wei", "photos": [other]})
        assert status == 200 and api.runtime.service.resident(resident_id=unitless["id"]).unit == ""
        blank = base64.b64encode(cv2.imencode(".png", np.full((240, 320, 3), 128, np.uint8))[1].tobytes()).decode()
        assert writer.call("POST", "/api/v1/residents", {"name": "Nobody", "photos": [blank]}) == (
            400, {"ok": False, "error": "photos: api photo 0: no face found"})
        status, again = writer.call("POST", "/api/v1/residents", {"name": "Chen again", "photos": photos[:1]})
        assert status == 422 and again["ok"] is False and again["error"].startswith("refused: "), again
        assert writer.call("POST", "/api/v1/residents", {"name": "Wu", "photos": [photos[0], "not base64!"]}) == (
            400, {"ok": False, "error": "photos: photo 1: not base64"})
        assert writer.call("DELETE", f"/api/v1/residents/{enrolled['id']}") == (200, {"ok": True})
        assert wait_for(lambda: api.runtime.service.resident(resident_id=enrolled["id"]) is None, timeout=5)
        assert [e["resident_id"] for e in audited(api.runtime, "remove")] == [enrolled["id"]]
        assert writer.call("DELETE", f"/api/v1/residents/{enrolled['id']}") == (
            404, {"ok": False, "error": f"id: no resident {enrolled['id']}"})
        assert writer.call("DELETE", "/api/v1/residents/x") == (400, {"ok": False, "error": "id: a whole number"})
