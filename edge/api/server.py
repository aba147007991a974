"""The integrators' HTTP API, served by the daemon on a thread of its own (off by default; loopback, or TLS).

Every call but the OpenAPI document takes `Authorization: Bearer <token>`; each operation needs its scope. A token
gets `api.requests_per_minute` calls a minute. Bodies are bounded JSON; a browser's request from another origin
is refused. What changes the gate (an open, an enrolment) runs on the frame loop's thread, as the console's
commands do, and is recorded as an action naming the token.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import time
from collections import deque
from typing import Any

from aiohttp import web

from edge.api.openapi import document
from edge.api_tokens import Caller, caller
from edge.config import ApiConfig
from edge.cards import label_of
from edge.errors import ConfigError, EnrolmentError
from edge.events import DecisionSource, EventKind
from edge.images import decode_image
from edge.service import GateService
from edge.store import Store
from edge.web_checks import BadRequest, bad_requests, json_body
from edge.web_thread import WebThread

log = logging.getLogger(__name__)

MAX_BODY = 8 * 2**20  # five photos, base64
PUBLIC = ("/api/v1/openapi.json",)
SCOPE_OF = {("GET", "/api/v1/status"): "status:read", ("GET", "/api/v1/events"): "events:read",
            ("GET", "/api/v1/residents"): "residents:read", ("POST", "/api/v1/residents"): "residents:write",
            ("DELETE", "/api/v1/residents/{id}"): "residents:write", ("GET", "/api/v1/passes"): "passes:read",
            ("POST", "/api/v1/passes/revoke"): "passes:write", ("POST", "/api/v1/open"): "gate:open",
            ("GET", "/api/v1/cards"): "cards:read", ("POST", "/api/v1/cards"): "cards:write",
            ("POST", "/api/v1/cards/remove"): "cards:write", ("PUT", "/api/v1/residents/{id}/group"): "residents:write"}


CALLER = web.RequestKey("caller", Caller)


def refusal(status: int, error: str) -> web.Response:
    return web.json_response({"ok": False, "error": error}, status=status)


class ApiServer:
    def __init__(self, service: GateService, store: Store, config: ApiConfig) -> None:
        self.service = service
        self.store = store
        self.config = config
        self._calls: dict[str, deque[float]] = {}  # token id -> its calls in the last minute
        self.served = WebThread("api", self.app, host=config.host, port=config.port, tls_cert=config.tls_cert,
                                tls_key=config.tls_key)

    @property
    def error(self) -> str | None:
        return self.served.error

    def start(self) -> None:
        self.served.start()
        if self.error:
            log.error("API not served: %s", self.error)

    def stop(self) -> None:
        self.served.stop()

    def app(self) -> web.Application:
        app = web.Application(client_max_size=MAX_BODY, middlewares=[self._guard, bad_requests])
        app.router.add_get("/api/v1/openapi.json", self._openapi)
        app.router.add_get("/api/v1/status", self._status)
        app.router.add_get("/api/v1/events", self._events)
        app.router.add_get("/api/v1/residents", self._residents)
        app.router.add_post("/api/v1/residents", self._enrol)
        app.router.add_delete("/api/v1/residents/{id}", self._remove)
        app.router.add_get("/api/v1/passes", self._passes)
        app.router.add_post("/api/v1/passes/revoke", self._revoke_pass)
        app.router.add_get("/api/v1/cards", self._cards)
        app.router.add_post("/api/v1/cards", self._give_card)
        app.router.add_post("/api/v1/cards/remove", self._take_card)
        app.router.add_put("/api/v1/residents/{id}/group", self._group)
        app.router.add_post("/api/v1/open", self._open)
        return app

    # every request

    @web.middleware
    async def _guard(self, request: web.Request, handler):
        origin = request.headers.get("Origin")
        if origin is not None and origin != f"{request.scheme}://{request.host}":
            return refusal(403, "origin: a browser on another page may not call this API")
        if request.path in PUBLIC:
            return await handler(request)
        header = request.headers.get("Authorization", "")
        found = await self._in_thread(caller, self.store, header.removeprefix("Bearer ").strip()) \
            if header.startswith("Bearer ") else None
        if found is None:
            return refusal(401, "authorization: a valid token is needed (Bearer gp_...)")
        route = request.match_info.route.resource
        scope = SCOPE_OF.get((request.method, route.canonical if route is not None else ""))
        if scope is not None and scope not in found.scopes:
            return refusal(403, f"scope: this token lacks {scope}")
        if not self._allowed(found):
            return refusal(429, f"rate: more than {self.config.requests_per_minute} calls a minute for this token")
        if request.method in ("POST", "PUT") and request.content_type != "application/json":
            return refusal(415, "content-type: application/json expected")
        request[CALLER] = found
        return await handler(request)

    def _allowed(self, who: Caller) -> bool:
        now = time.monotonic()
        calls = self._calls.setdefault(who.token_id, deque())
        while calls and now - calls[0] > 60.0:
            calls.popleft()
        if len(calls) >= self.config.requests_per_minute:
            return False
        calls.append(now)
        return True

    async def _in_thread(self, function, *args):
        return await asyncio.get_running_loop().run_in_executor(None, function, *args)

    async def _on_gate_loop(self, function):
        return await asyncio.wrap_future(self.service.call_soon(function))

    def _audit(self, request: web.Request, operation: str, detail: dict[str, Any]) -> None:
        who: Caller = request[CALLER]
        self.service.record(EventKind.action, {"action": "api", "operation": operation, "token": who.token_id,
                                               "token_name": who.name, **detail})

    # operations

    async def _openapi(self, request: web.Request) -> web.Response:
        return web.json_response(document())

    async def _status(self, request: web.Request) -> web.Response:
        status = await self._in_thread(self.service.status)
        return web.json_response({"ok": True, **status.as_dict()})

    async def _events(self, request: web.Request) -> web.Response:
        after, limit = _integer(request, "after", 0, 0, 2**62), _integer(request, "limit", 100, 1, 500)
        events, cursor = await self._in_thread(self.store.events_after, after, limit)
        return web.json_response({"ok": True, "events": events, "next": cursor})

    async def _residents(self, request: web.Request) -> web.Response:
        residents = await self._in_thread(self.service.residents)
        return web.json_response({"ok": True, "residents": [
            {"id": r.id, "uid": r.uid, "name": r.name, "unit": r.unit, "templates": r.templates} for r in residents]})

    async def _passes(self, request: web.Request) -> web.Response:
        return web.json_response({"ok": True, "passes": await self._in_thread(self.service.passes)})

    async def _revoke_pass(self, request: web.Request) -> web.Response:
        """A visitor pass refused from now on at this gate (`gatepost admin revoke-pass` reaches the whole site)."""
        pass_id = (await json_body(request, {"pass_id": str}, max_bytes=4096))["pass_id"].strip()
        if not pass_id or len(pass_id) > 64:
            raise BadRequest("pass_id: 1 to 64 characters")
        await self._in_thread(self.service.revoke_pass, pass_id)
        self._audit(request, "revoke_pass", {"pass_id": pass_id})
        return web.json_response({"ok": True})

    async def _cards(self, request: web.Request) -> web.Response:
        return web.json_response({"ok": True, "cards": await self._in_thread(self.service.cards)})

    async def _give_card(self, request: web.Request) -> web.Response:
        """A card for a resident: the number is kept only as a keyed hash, and never answered or recorded whole."""
        body = await json_body(request, {"resident_id": int, "number": str}, max_bytes=4096)
        try:
            label = await self._in_thread(self.service.enrol_card, body["resident_id"], body["number"])
        except ConfigError as error:
            raise BadRequest(str(error)) from None
        self._audit(request, "give_card", {"resident_id": body["resident_id"], "card": label})
        return web.json_response({"ok": True, "card": label})

    async def _take_card(self, request: web.Request) -> web.Response:
        body = await json_body(request, {"number": str}, max_bytes=4096)
        if not await self._in_thread(self.service.remove_card, body["number"]):
            return refusal(404, "number: no enrolled card has this number")
        self._audit(request, "take_card", {"card": label_of(body["number"].strip())})
        return web.json_response({"ok": True})

    async def _group(self, request: web.Request) -> web.Response:
        """A resident's access group (checks.schedule), or none (null)."""
        resident_id = _path_id(request)
        group = (await json_body(request, {}, max_bytes=4096)).get("group")
        if group is not None and (not isinstance(group, str) or not 1 <= len(group) <= 64):
            raise BadRequest("group: 1 to 64 characters, or null for none")
        if not await self._in_thread(self.service.set_access_group, resident_id, group):
            return refusal(404, f"id: no resident {resident_id}")
        self._audit(request, "set_group", {"resident_id": resident_id, "group": group})
        return web.json_response({"ok": True})

    async def _open(self, request: web.Request) -> web.Response:
        body = await json_body(request, {"reason": str}, max_bytes=4096)
        reason = body["reason"].strip()
        if not reason or len(reason) > 200:
            raise BadRequest("reason: 1 to 200 characters")
        who: Caller = request[CALLER]
        failure = await self._on_gate_loop(lambda: self.service.open(DecisionSource.remote, f"api:{who.name}", reason))
        if failure is not None:
            return refusal(503, f"open: the gate stayed closed ({failure})")
        return web.json_response({"ok": True})

    async def _enrol(self, request: web.Request) -> web.Response:
        body = await json_body(request, {"name": str, "photos": list}, max_bytes=MAX_BODY)
        name, unit = body["name"].strip(), body.get("unit", "")
        if not name or len(name) > 100:
            raise BadRequest("name: 1 to 100 characters")
        if not isinstance(unit, str) or len(unit) > 50:
            raise BadRequest("unit: a string of at most 50 characters")
        photos = body["photos"]
        if not 1 <= len(photos) <= 5 or not all(isinstance(p, str) for p in photos):
            raise BadRequest("photos: 1 to 5 base64 strings")
        try:
            templates = await self._in_thread(self._templates, photos)
        except EnrolmentError as error:
            raise BadRequest(f"photos: {error}") from None

        def store_them() -> dict:
            try:
                enrolled = self.service.enrol(name, unit.strip(), [t for t, _ in templates],
                                              [q for _, q in templates], ["api"] * len(templates))
            except EnrolmentError as error:
                return {"ok": False, "error": f"refused: {error}"}
            self._audit(request, "enrol", {"resident_id": enrolled.resident_id, "name": name,
                                           "templates": len(enrolled.review.kept)})
            return {"ok": True, "id": enrolled.resident_id, "uid": enrolled.uid, "kept": enrolled.review.kept,
                    "warnings": enrolled.review.warnings}

        result = await self._on_gate_loop(store_them)
        return web.json_response(result, status=200 if result["ok"] else 422)

    def _templates(self, photos: list[str]) -> list[tuple[Any, float]]:
        found = []
        for index, text in enumerate(photos):
            try:
                data = base64.b64decode(text, validate=True)
            except (binascii.Error, ValueError):
                raise EnrolmentError(f"photo {index}: not base64") from None
            embedding, quality = self.service.template_from_photo(decode_image(data, f"photo {index}"),
                                                                  source=f"api photo {index}")
            found.append((embedding, quality.value))
        return found

    async def _remove(self, request: web.Request) -> web.Response:
        resident_id = _path_id(request)
        resident = await self._in_thread(lambda: self.service.resident(resident_id=resident_id))
        if resident is None:
            return refusal(404, f"id: no resident {resident_id}")
        def remove() -> None:
            self.service.remove_resident(resident)
            self._audit(request, "remove", {"resident_id": resident_id})

        await self._on_gate_loop(remove)
        return web.json_response({"ok": True})


def _path_id(request: web.Request) -> int:
    try:
        return int(request.match_info["id"])
    except ValueError:
        raise BadRequest("id: a whole number") from None


def _integer(request: web.Request, name: str, default: int, low: int, high: int) -> int:
    text = request.query.get(name)
    if text is None:
        return default
    try:
        value = int(text)
    except ValueError:
        raise BadRequest(f"{name}: a whole number") from None
    if not low <= value <= high:
        raise BadRequest(f"{name}: {low} to {high}")
    return value
