"""The guard's booth work at the touchscreen: visitors registered with a printed pass, people freed from
anti-passback. Each handler needs a guard's session; registering a visitor lets someone in, so it asks for the PIN
again."""

from __future__ import annotations

import asyncio
from typing import Any, Protocol

from aiohttp import web

from edge.errors import ConfigError
from edge.events import EventKind
from edge.service import GateService
from edge.ui.sessions import Session
from edge.web_checks import BadRequest


CARD_WAIT_S = 15.0  # how long "tap the card now" waits


class BoothServer(Protocol):
    """What the booth uses of the touchscreen's server (edge/ui/server.py)."""

    gate: GateService
    _alarms: dict[str, dict]

    def _session(self, request: web.Request) -> Session: ...
    async def _body(self, request: web.Request, fields: dict[str, type | tuple[type, ...]]) -> dict[str, Any]: ...
    async def _checked_pin(self, guard_id: str, pin: str, request: web.Request) -> web.Response | None: ...
    async def _on_loop(self, function): ...  # noqa: ANN001, ANN201 - as the server's


class Booth:
    def __init__(self, server: BoothServer) -> None:
        self.server = server

    async def register_visitor(self, request: web.Request) -> web.Response:
        server = self.server
        session = server._session(request)
        body = await server._body(request, {"name": str, "host_unit": str, "hours": (int, float), "phone": str,
                                            "pin": str})
        refused = await server._checked_pin(session.guard_id, body["pin"], request)
        if refused is not None:
            return refused
        try:
            visitor = await server._on_loop(lambda: server.gate.register_visitor(
                name=body["name"], host_unit=body["host_unit"], hours=float(body["hours"]), phone=body["phone"],
                guard=session.guard_id))
        except ConfigError as error:
            raise BadRequest(str(error)) from None
        return web.json_response({"ok": True, "pass_id": visitor.pass_id, "name": visitor.name,
                                  "host_unit": visitor.host_unit, "valid_until": visitor.valid_until,
                                  "uses": visitor.uses, "qr": visitor.qr_png()})

    async def tap_card(self, request: web.Request) -> web.Response:
        """"Tap the card now": the next card read is enrolled as the resident's (the number is never shown)."""
        server = self.server
        session = server._session(request)
        body = await server._body(request, {"resident_id": int, "pin": str})
        refused = await server._checked_pin(session.guard_id, body["pin"], request)  # a card lets someone in
        if refused is not None:
            return refused
        resident_id = body["resident_id"]
        try:
            waiting = await server._on_loop(lambda: server.gate.next_card(CARD_WAIT_S))
            number = await asyncio.wait_for(asyncio.wrap_future(waiting), CARD_WAIT_S + 1.0)
        except ConfigError as error:
            raise BadRequest(str(error)) from None
        except (TimeoutError, asyncio.TimeoutError):
            return web.json_response({"ok": False, "error": "no_card"}, status=400)  # not 408: browsers resend on it

        def enrol() -> str:
            label = server.gate.enrol_card(resident_id, number)
            server.gate.record(EventKind.action, {"action": "card_enrolled", "guard": session.guard_id,
                                                  "resident_id": resident_id, "card": label})
            return label

        try:
            label = await server._on_loop(enrol)
        except ConfigError as error:
            raise BadRequest(str(error)) from None
        return web.json_response({"ok": True, "card": label})

    async def passback_reset(self, request: web.Request) -> web.Response:
        """The person of an open anti-passback alarm may pass either way once more (and the alarm is done)."""
        server = self.server
        session = server._session(request)
        body = await server._body(request, {"event_id": str})
        alarm = server._alarms.get(body["event_id"])
        if alarm is None or alarm.get("alarm") != "passback":
            raise BadRequest("event_id: no open anti-passback alarm with that id")
        who = ("resident", alarm["resident_id"]) if alarm.get("resident_id") is not None else ("pass", alarm["pass_id"])
        try:
            await server._on_loop(lambda: server.gate.reset_passback(who, f"guard:{session.guard_id}"))
        except ConfigError as error:
            raise BadRequest(str(error)) from None
        server._alarms.pop(body["event_id"], None)
        return web.json_response({"ok": True})
