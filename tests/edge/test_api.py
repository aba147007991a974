"""The integrators' HTTP API, called through a client generated at test time from its own OpenAPI 3.1 document
(each operation's path, method and parameters from the document; every request body and response checked against
the document's schemas), against a running gate."""

import base64
import json
import urllib.error
import urllib.request

import jsonschema
import pytest

from edge.api.server import SCOPE_OF
from edge.api_tokens import issue
from edge.app import Runtime
from edge.config import parse_config
from edge.events import EventKind
from tests.broker import free_port
from tests.conftest import SCENARIOS
from tests.emulators import wait_for
from tests.running import frame_loop

FACES = SCENARIOS / "faces"


class GeneratedClient:
    """Operations by operationId, built from the document alone."""

    def __init__(self, base: str, document: dict, token: str | None) -> None:
        self.base, self.document, self.token = base, document, token
        self.operations = {op["operationId"]: (path, method.upper(), op)
                           for path, item in document["paths"].items() for method, op in item.items()}

    def _check(self, schema: dict, value) -> None:
        jsonschema.Draft202012Validator({**schema, "components": self.document["components"]}).validate(value)

    def call(self, operation_id: str, *, body=None, query=None, path=None, headers=None):
        route, method, operation = self.operations[operation_id]
        for name, value in (path or {}).items():
            route = route.replace("{" + name + "}", str(value))
        if query:
            route += "?" + "&".join(f"{k}={v}" for k, v in query.items())
        if body is not None:
            self._check(operation["requestBody"]["content"]["application/json"]["schema"], body)
        request = urllib.request.Request(self.base + route, method=method,
                                         data=None if body is None else json.dumps(body).encode(),
                                         headers={"Content-Type": "application/json", **(headers or {}),
                                                  **({"Authorization": f"Bearer {self.token}"} if self.token else {})})
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                status, answer = response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            status, answer = error.code, json.loads(error.read() or b"{}")
        documented = operation["responses"].get(str(status))
        if documented is not None:
            self._check(documented["content"]["application/json"]["schema"], answer)
        return status, answer


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    state = tmp_path_factory.mktemp("api")
    port = free_port()
    config = parse_config({"state_dir": str(state), "mqtt": {"enabled": False}, "ui": {"enabled": False},
                           "api": {"enabled": True, "port": port, "requests_per_minute": 1000},
                           "simulation": {"scenario": str(SCENARIOS / "residents_only.yaml"), "realtime": True,
                                          "loop": True}})
    runtime = Runtime(config, control=False)
    with frame_loop(runtime):
        base = f"http://127.0.0.1:{port}"
        with urllib.request.urlopen(base + "/api/v1/openapi.json", timeout=10) as response:
            document = json.loads(response.read())
        yield {"runtime": runtime, "base": base, "document": document}


def client(api, *scopes) -> GeneratedClient:
    return GeneratedClient(api["base"], api["document"], issue(api["runtime"].store, "platform", list(scopes)))


def test_the_document_is_valid_openapi_and_covers_every_route(api):
    from openapi_spec_validator import validate

    validate(api["document"])
    documented = {(method.upper(), path) for path, item in api["document"]["paths"].items() for method in item}
    assert documented == set(SCOPE_OF)
    for (method, path), scope in SCOPE_OF.items():
        assert api["document"]["paths"][path][method.lower()]["x-scope"] == scope


def test_tokens_scopes_and_revocation(api):
    status, answer = GeneratedClient(api["base"], api["document"], None).call("getStatus")
    assert status == 401 and "token" in answer["error"]
    reader = client(api, "status:read")
    status, answer = reader.call("getStatus")
    assert status == 200 and answer["site"] == "demo-site"
    status, answer = reader.call("listResidents")
    assert status == 403 and "residents:read" in answer["error"]
    token_id = reader.token.split("_")[1]
    assert api["runtime"].store.revoke_token(token_id)
    assert reader.call("getStatus")[0] == 401
    forged = GeneratedClient(api["base"], api["document"], f"gp_{token_id}_not-the-secret")
    assert forged.call("getStatus")[0] == 401


def test_events_page_from_a_cursor_each_once_in_order(api):
    runtime = api["runtime"]
    for n in range(5):
        runtime.gate.record(EventKind.action, {"action": "api_test", "n": n})
    reader = client(api, "events:read")
    seen, cursor = [], 0
    while True:
        status, page = reader.call("listEvents", query={"after": cursor, "limit": 3})
        assert status == 200
        if not page["events"]:
            break
        seen += page["events"]
        cursor = page["next"]
    ids = [event["event_id"] for event in seen]
    assert len(ids) == len(set(ids)) and [e["n"] for e in seen if e.get("action") == "api_test"] == list(range(5))
    assert reader.call("listEvents", query={"limit": 501})[0] == 400


def test_enrol_list_refuse_twice_and_remove(api):
    writer = client(api, "residents:write", "residents:read")
    photos = [base64.b64encode((FACES / "stranger_f" / name).read_bytes()).decode() for name in ("01.jpg", "02.jpg")]
    status, enrolled = writer.call("enrolResident", body={"name": "Chen", "unit": "7-301", "photos": photos})
    assert status == 200 and enrolled["kept"] == [0, 1]
    status, listing = writer.call("listResidents")
    assert any(r["id"] == enrolled["id"] and r["unit"] == "7-301" for r in listing["residents"])
    status, again = writer.call("enrolResident", body={"name": "Chen again", "photos": photos[:1]})
    assert status == 422 and "already enrolled" in again["error"]
    status, bad = writer.call("enrolResident", body={"name": "X", "photos": ["not base64!"]})
    assert status == 400 and bad["error"].startswith("photos: photo 0")
    assert writer.call("removeResident", path={"id": enrolled["id"]})[0] == 200
    assert writer.call("removeResident", path={"id": enrolled["id"]})[0] == 404
    actions = [e for e in api["runtime"].store.latest_events(50) if e.get("action") == "api"]
    assert {a["operation"] for a in actions} >= {"enrol", "remove"} and actions[0]["token_name"] == "platform"


def test_open_is_a_recorded_decision_on_the_gate_s_loop(api):
    opener = client(api, "gate:open")
    status, answer = opener.call("openGate", body={"reason": "delivery"})
    assert status == 200, answer
    assert wait_for(lambda: any(e.get("actor") == "api:platform" and e.get("granted")
                                for e in api["runtime"].store.latest_events(50)), timeout=5)


def test_hostile_requests_get_a_clear_4xx(api):
    opener = client(api, "gate:open")
    base = api["base"]

    def raw(data: bytes, content_type: str, extra: dict | None = None) -> tuple[int, dict]:
        request = urllib.request.Request(base + "/api/v1/open", data=data, method="POST",
                                         headers={"Content-Type": content_type, "Authorization": f"Bearer {opener.token}",
                                                  **(extra or {})})
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            body = error.read()
            return error.code, json.loads(body) if body.startswith(b"{") else {}

    assert raw(b'{"reason": "x"}', "text/plain")[0] == 415
    status, answer = raw(b'{"reason": ', "application/json")
    assert status == 400 and answer["error"].startswith("body")
    status, answer = raw(b'{"reason": 7}', "application/json")
    assert status == 400 and answer["error"].startswith("reason")
    assert raw(b'{"reason": "x"}', "application/json", {"Origin": "http://evil.example"})[0] == 403
    assert raw(b"[" * 9_000_000, "application/json")[0] == 413


def test_a_token_is_held_to_its_rate(api):
    api_server = api["runtime"].api
    reader = client(api, "status:read")
    limit = api_server.config.requests_per_minute
    api_server.config = api_server.config.model_copy(update={"requests_per_minute": 3})
    try:
        answers = [reader.call("getStatus")[0] for _ in range(4)]
    finally:
        api_server.config = api_server.config.model_copy(update={"requests_per_minute": limit})
    assert answers == [200, 200, 200, 429]


def test_a_revoked_pass_is_listed_as_revoked_and_the_revocation_recorded(api):
    writer = client(api, "passes:write", "passes:read")
    status, answer = writer.call("revokePass", body={"pass_id": "visitor-77"})
    assert (status, answer) == (200, {"ok": True})
    status, listed = writer.call("listPasses")
    assert status == 200 and any(p.get("pass_id") == "visitor-77" and p.get("revoked") for p in listed["passes"])
    recorded = [e for e in api["runtime"].store.latest_events(50) if e.get("operation") == "revoke_pass"]
    assert recorded and recorded[0]["pass_id"] == "visitor-77"
    assert client(api, "passes:read").call("revokePass", body={"pass_id": "visitor-78"})[0] == 403



def test_cards_are_given_listed_and_taken_back_and_a_group_set_never_answering_a_number_whole(api):
    runtime = api["runtime"]
    resident = runtime.store.residents()[0]
    cards, reader = client(api, "cards:write", "cards:read"), client(api, "cards:read")
    status, given = cards.call("giveCard", body={"resident_id": resident.id, "number": "0009876543"})
    assert (status, given) == (200, {"ok": True, "card": "…6543"})
    status, listed = reader.call("listCards")
    assert status == 200 and [c["card"] for c in listed["cards"]] == ["…6543"]
    assert "9876543" not in json.dumps(listed)
    status, refused = cards.call("giveCard", body={"resident_id": resident.id, "number": "9876543"})
    assert status == 400 and refused["error"].startswith("number: card …6543 already belongs")
    assert cards.call("giveCard", body={"resident_id": 99999, "number": "1"})[1]["error"].startswith("resident_id")
    assert reader.call("takeCard", body={"number": "9876543"})[0] == 403
    assert cards.call("takeCard", body={"number": "9876543"}) == (200, {"ok": True})
    assert cards.call("takeCard", body={"number": "9876543"})[0] == 404
    recorded = [e for e in runtime.store.latest_events(50) if e.get("operation") in ("give_card", "take_card")]
    assert len(recorded) == 2 and "9876543" not in json.dumps(recorded)
    writer = client(api, "residents:write")
    assert writer.call("setGroup", path={"id": resident.id}, body={"group": "couriers"}) == (200, {"ok": True})
    assert runtime.store.residents()[0].access_group == "couriers"
    assert writer.call("setGroup", path={"id": resident.id}, body={"group": None}) == (200, {"ok": True})
    assert runtime.store.residents()[0].access_group is None
    assert writer.call("setGroup", path={"id": 99999}, body={"group": None})[0] == 404
