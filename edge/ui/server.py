"""The touchscreen's web server: a page, live updates over server-sent events, guard actions.

aiohttp runs its own event loop in one thread. It never touches the gate's state directly:
opens and other actions go through the gate's thread-safe queues and run on the frame loop;
events come back through a listener. The live view is JPEG-encoded here, at `ui.live_fps`, only
while a screen is watching, so the recogniser keeps its CPU.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from pathlib import Path
from typing import Any

from aiohttp import hdrs, web

from edge.config import UiConfig
from edge.events import DecisionSource, Event, EventKind
from edge.guards import PinCheck
from edge.prompt import Prompt
from edge.service import GateService
from edge.thermal_calibration import RecheckRefused
from edge.ui.booth import Booth
from edge.ui.enrolment import EnrolmentDesk
from edge.ui.frames import live_jpeg
from edge.ui.live import LiveView, RecentMatches
from edge.ui.sessions import SESSION_COOKIE, Session, Sessions
from edge.ui.prompt_stream import PromptStreams, prompt_data
from edge.web_checks import BadRequest, bad_requests, json_body, request_checks, script_json
from edge.web_thread import WebThread

log = logging.getLogger(__name__)

STATIC = Path(__file__).with_name("static")
RECENT_EVENTS = 30
MAX_BODY = 16 * 1024
NEVER_STORED = {"Cache-Control": "no-store"}  # pragma: no mutate (HTTP reads a header's name in any case)
NOT_CACHED = {"Cache-Control": "no-cache"}  # pragma: no mutate (likewise)
LIVE_TYPE = "multipart/x-mixed-replace; boundary=frame"


class TouchscreenServer:
    def __init__(self, gate: GateService, config: UiConfig) -> None:
        self.gate = gate
        self.config = config
        self.guards = gate.guards
        self.live = LiveView()
        self.desk = EnrolmentDesk(gate, self.live)
        self.recent_matches = RecentMatches()
        self.sessions = Sessions(self.guards, hours=config.session_h)
        self._subscribers: set[asyncio.Queue] = set()
        self.prompts = PromptStreams()
        self._recent: list[dict] = gate.latest_events(RECENT_EVENTS)
        self._alarms: dict[str, dict] = {}
        self._live_clients = 0
        self.served = WebThread("ui", self._app, host=config.host, port=config.port, tls_cert=config.tls_cert,
                                tls_key=config.tls_key)
        gate.on_event(self._on_event)
        gate.on_prompt(self._on_prompt)
        gate.on_frame(self.live.update)
        gate.on_decided(self.recent_matches.add)

    # life cycle

    @property
    def error(self) -> str | None:
        return self.served.error

    @property
    def port(self) -> int:
        return self.served.port

    @property
    def watching(self) -> tuple[int, int]:
        """Screens following the gate's events, and the live view, now."""
        return len(self._subscribers), self._live_clients

    @property
    def _loop(self) -> asyncio.AbstractEventLoop | None:
        """The touchscreen's loop once it serves; None before and, when the port could not be had, for good (the
        gate's events then have nowhere to go: not a traceback each on a closed loop)."""
        return self.served.loop

    def start(self) -> None:
        self.served.start()
        if self.error:
            log.error("touchscreen not served: %s", self.error)

    def stop(self) -> None:
        self.served.stop()

    def _app(self) -> web.Application:
        checks = request_checks(lambda host: host in self._allowed_hosts(), whose="screen",
                                scheme=lambda request: "https" if self.config.tls_cert else "http")
        app = web.Application(client_max_size=MAX_BODY, middlewares=[checks, bad_requests])
        app.router.add_get("/", self._index)
        app.router.add_get("/resident", self._resident)
        app.router.add_get("/api/prompt", self._prompt_stream)
        app.router.add_static("/static/", STATIC)
        app.router.add_get("/api/health", self._health)
        app.router.add_get("/api/state", self._state)
        app.router.add_get("/api/stream", self._stream)
        app.router.add_get("/api/live.mjpg", self._live)
        app.router.add_get("/api/snapshots/{event_id}.jpg", self._snapshot)
        app.router.add_post("/api/login", self._login)
        app.router.add_post("/api/logout", self._logout)
        app.router.add_post("/api/open", self._open)
        app.router.add_post("/api/recheck", self._recheck)
        app.router.add_post("/api/not-this-person", self._not_this_person)
        app.router.add_post("/api/ack", self._ack)
        booth = Booth(self)
        app.router.add_post("/api/passback-reset", booth.passback_reset)
        app.router.add_post("/api/visitors", booth.register_visitor)
        app.router.add_post("/api/cards/tap", booth.tap_card)
        app.router.add_post("/api/enrol/capture", self._capture)
        app.router.add_post("/api/enrol", self._enrol)
        return app

    # events from the gate (frame-loop thread)

    def _on_event(self, event: Event) -> None:
        data = event.to_dict()
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._publish, data)

    def _on_prompt(self, prompt: Prompt) -> None:
        self.live.show_guide(prompt.guide)
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self.prompts.publish, prompt_data(prompt))

    def _publish(self, data: dict) -> None:
        self._recent = (self._recent + [data])[-RECENT_EVENTS:]
        if data["kind"] == "alarm":
            self._alarms[data["event_id"]] = data
        for queue in list(self._subscribers):
            if queue.qsize() < 100:
                queue.put_nowait(data)

    # helpers

    def _allowed_hosts(self) -> set[str]:
        port = self.port
        names = {"127.0.0.1", "localhost", "[::1]", self.config.host, *self.config.allowed_hosts}
        return {f"{name}:{port}" for name in names} | ({name for name in names} if port in (80, 443) else set())

    def _session(self, request: web.Request) -> Session:
        return self.sessions.of(request)

    async def _body(self, request: web.Request, fields: dict[str, type | tuple[type, ...]]) -> dict[str, Any]:
        return await json_body(request, fields, max_bytes=MAX_BODY)

    async def _on_loop(self, function):
        return await asyncio.wrap_future(self.gate.call_soon(function))

    def _record(self, body: dict) -> None:
        self.gate.call_soon(lambda: self.gate.record(EventKind.action, body))

    # pages and state

    async def _index(self, request: web.Request) -> web.Response:
        return _page("index.html", {"language": self.config.language, "reasons": self.config.open_reasons,
                                    "gate": self.gate.config.site.name})

    async def _resident(self, request: web.Request) -> web.Response:
        """The screen facing the person at the gate: no login, and nothing on it but the prompt."""
        return _page("resident.html", {"language": self.config.language})

    async def _prompt_stream(self, request: web.Request) -> web.StreamResponse:
        return await self.prompts.serve(request, self.gate.prompt)

    def _devices(self) -> dict:
        status = self.gate.status()
        return {"faults": status.faults, "outbox": status.outbox, "face": status.face, "thermal": status.thermal,
                "warnings": status.warnings,
                "mqtt": None if status.mqtt_connected is None else ("online" if status.mqtt_connected else "offline")}

    async def _health(self, request: web.Request) -> web.Response:
        """For the kiosk unit's start-up wait: says the app is up, and nothing else."""
        return web.json_response({"ok": True})

    async def _state(self, request: web.Request) -> web.Response:
        session = self._session(request)
        return web.json_response({"events": self._recent, "alarms": list(self._alarms.values()),
                                  "devices": self._devices(), "guard": session.name,
                                  "snapshots": self.gate.keeps_snapshots, "groups": self.gate.access_groups()})

    async def _snapshot(self, request: web.Request) -> web.Response:
        """The face kept with a decision (storage.snapshots), for a guard logged in: never cached by the browser."""
        self._session(request)
        jpeg = self.gate.snapshot(request.match_info["event_id"])
        if jpeg is None:
            return web.json_response({"ok": False, "error": "no snapshot kept for this event"}, status=404)
        return web.Response(body=jpeg, content_type="image/jpeg", headers=NEVER_STORED)

    async def _stream(self, request: web.Request) -> web.StreamResponse:
        session = self._session(request)
        response = web.StreamResponse(headers=NOT_CACHED)
        response.content_type = "text/event-stream"
        await response.prepare(request)
        queue: asyncio.Queue = asyncio.Queue()
        self._subscribers.add(queue)
        try:
            while self.sessions.still_valid(session):
                try:
                    data = await asyncio.wait_for(queue.get(), timeout=2.0)  # pragma: no mutate (status pace)
                    await response.write(f"event: gate\ndata: {json.dumps(data, ensure_ascii=False)}\n\n".encode())
                except asyncio.TimeoutError:  # now and then: device status, live overlay
                    status = {"devices": self._devices(), "overlay": self.live.snapshot()[1],
                              "groups": self.gate.access_groups()}
                    await response.write(f"event: status\ndata: {json.dumps(status)}\n\n".encode())
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            self._subscribers.discard(queue)
        return response

    async def _live(self, request: web.Request) -> web.StreamResponse:
        session = self._session(request)
        if self._live_clients >= self.config.max_live_clients:
            return web.json_response({"ok": False, "error": "live view: too many screens watching"}, status=503)
        self._live_clients += 1
        try:
            return await self._live_stream(request, session)
        finally:
            self._live_clients -= 1

    async def _live_stream(self, request: web.Request, session: Session) -> web.StreamResponse:
        response = web.StreamResponse(headers={**NOT_CACHED, hdrs.CONTENT_TYPE: LIVE_TYPE})
        await response.prepare(request)
        period = 1.0 / self.config.live_fps  # pragma: no mutate (the live view's pace: timing)
        last_version = -1  # pragma: no mutate (any value no frame's version takes)
        try:
            while self.sessions.still_valid(session):  # removed or new PIN: it ends
                image, overlay, version = self.live.snapshot()
                if image is not None and version != last_version:
                    last_version = version
                    jpeg = await asyncio.get_running_loop().run_in_executor(None, live_jpeg, image, overlay)
                    head = b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n" % len(jpeg)
                    await response.write(head + jpeg + b"\r\n")
                await asyncio.sleep(period)
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        return response

    # guard actions

    def _check_pin(self, guard_id: str, pin: str, source: str) -> PinCheck:
        check = self.guards.check(guard_id, pin, source)
        # a known guard's wrong PINs (a few per lockout) and each lockout are recorded; a flood of guesses at
        # unknown ids, or at a locked-out one, writes nothing more
        if not check.ok and (check.reason == "wrong_pin" or check.lockout_started):
            self._record({"action": "pin_refused", "guard": guard_id[:32], "reason": check.reason,
                          "source": source[:64],  # pragma: no mutate (an address is never longer)
                          "locked_out": check.lockout_started})
        return check

    async def _pin_check(self, guard_id: str, pin: str, request: web.Request) -> PinCheck:
        source = request.remote or "unknown"  # pragma: no mutate (a request over TCP always has its peer's address)
        return await asyncio.get_running_loop().run_in_executor(None, self._check_pin, guard_id, pin, source)

    async def _checked_pin(self, guard_id: str, pin: str, request: web.Request) -> web.Response | None:
        """None if the PIN is right; else the refusal, the same for an unknown guard and a wrong PIN."""
        return _refusal(await self._pin_check(guard_id, pin, request))

    async def _login(self, request: web.Request) -> web.Response:
        body = await self._body(request, {"guard": str, "pin": str})
        check = await self._pin_check(body["guard"], body["pin"], request)
        if (refused := _refusal(check)) is not None:
            return refused
        token = self.sessions.open(body["guard"], check.guard_name, check.pin_hash)
        response = web.json_response({"ok": True, "guard": check.guard_name})
        response.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="Strict", secure=bool(self.config.tls_cert),
                            max_age=int(self.config.session_h * 3600))
        return response

    async def _logout(self, request: web.Request) -> web.Response:
        self.sessions.close(request)
        response = web.json_response({"ok": True})
        response.del_cookie(SESSION_COOKIE)
        return response

    async def _open(self, request: web.Request) -> web.Response:
        session = self._session(request)
        body = await self._body(request, {"pin": str, "reason": str})
        if body["reason"] not in self.config.open_reasons:
            raise BadRequest(f"reason: one of {', '.join(self.config.open_reasons)}")
        refused = await self._checked_pin(session.guard_id, body["pin"], request)
        if refused is not None:
            return refused
        failure = await self._on_loop(lambda: self.gate.open(DecisionSource.guard, session.guard_id, body["reason"]))
        if failure is not None:
            return web.json_response({"ok": False, "error": failure}, status=503)
        return web.json_response({"ok": True})

    async def _recheck(self, request: web.Request) -> web.Response:
        session = self._session(request)
        body = await self._body(request, {"visit_id": str, "temperature_c": (int, float)})
        reading, visit_id = float(body["temperature_c"]), body["visit_id"][:32]
        try:
            result = await self._on_loop(lambda: self.gate.recheck(visit_id, reading, session.guard_id))
        except RecheckRefused as refused:
            raise BadRequest(str(refused)) from None
        change = result.change
        return web.json_response({"ok": True, "fever_confirmed": result.fever_confirmed,
                                  "site_offset_c": None if change is None else change.offset_c})

    async def _not_this_person(self, request: web.Request) -> web.Response:
        session = self._session(request)
        body = await self._body(request, {"visit_id": str})

        def mark():
            found = self.recent_matches.get(body["visit_id"])
            if found is None:
                return None
            resident_id, embedding = found
            self.gate.not_this_person(resident_id, embedding, "guard: not this person", visit_id=body["visit_id"])
            self.gate.record(EventKind.action, {"action": "not_this_person", "guard": session.guard_id,
                                                "visit_id": body["visit_id"], "resident_id": resident_id})
            return resident_id

        resident_id = await self._on_loop(mark)
        if resident_id is None:
            raise BadRequest("visit_id: no recent recognised visit with that id")
        return web.json_response({"ok": True, "resident_id": resident_id})

    async def _ack(self, request: web.Request) -> web.Response:
        session = self._session(request)
        body = await self._body(request, {"event_id": str})
        alarm = self._alarms.pop(body["event_id"], None)
        if alarm is None:
            raise BadRequest("event_id: no open alarm with that id")
        self._record({"action": "alarm_acknowledged", "guard": session.guard_id, "alarm_event_id": body["event_id"],
                      "alarm": alarm.get("alarm")})
        return web.json_response({"ok": True})

    async def _capture(self, request: web.Request) -> web.Response:
        """A burst of the person in front of the camera, shown to the guard before anything is saved."""
        from edge.errors import EnrolmentError

        session = self._session(request)
        await self._body(request, {})
        if self.gate.template_dimension is None:
            raise BadRequest("face recognition is off on this gate")
        try:
            capture = await self.desk.capture(session.guard_id)
        except EnrolmentError as error:
            return web.json_response({"ok": False, "error": str(error)}, status=422)
        return web.json_response({"ok": True, **capture.as_dict()})

    async def _enrol(self, request: web.Request) -> web.Response:
        """Save a capture the guard has seen as a resident; refused (nothing stored) for someone enrolled already."""
        from edge.errors import EnrolmentError

        session = self._session(request)
        body = await self._body(request, {"capture_id": str, "name": str, "unit": str, "pin": str})
        name = body["name"].strip()
        if not name or len(name) > 100:
            raise BadRequest("name: 1 to 100 characters")
        hours = body.get("visitor_hours", 0)  # a visitor enrolled for their visit: removed when it ends
        if isinstance(hours, bool) or not isinstance(hours, (int, float)) or not 0 <= hours <= 24 * 31:
            raise BadRequest("visitor_hours: 0 (a resident) to 744")
        refused = await self._checked_pin(session.guard_id, body["pin"], request)  # enrolment lets someone in: PIN again
        if refused is not None:
            return refused
        capture = self.desk.take(body["capture_id"], session.guard_id)
        if capture is None:
            raise BadRequest("capture_id: no capture of yours with that id (taken over 2 minutes ago?)")

        def store_them():
            try:
                enrolled = self.gate.enrol(name, body["unit"].strip(), capture.embeddings,
                                           [q.value for q in capture.qualities],
                                           [f"touchscreen capture {n + 1}" for n in range(len(capture.embeddings))],
                                           valid_until=time.time() + hours * 3600 if hours else None)
            except EnrolmentError as error:
                return {"ok": False, "error": str(error)}
            resident_id, checked = enrolled.resident_id, enrolled.review
            self.gate.record(EventKind.action, {"action": "enrolled", "guard": session.guard_id,
                                                "resident_id": resident_id, "name": name,
                                                **({"visitor_hours": hours} if hours else {}),
                                                "templates": len(checked.kept), **checked.as_dict()})
            return {"ok": True, "resident_id": resident_id, "templates": len(checked.kept), "warnings": checked.warnings}

        result = await self._on_loop(store_them)
        return web.json_response(result, status=200 if result["ok"] else 422)


def _refusal(check: PinCheck) -> web.Response | None:
    shown = "locked_out" if check.reason == "locked_out" else "wrong_pin"
    return None if check.ok else web.json_response({"ok": False, "error": shown}, status=403)


def _page(name: str, settings: dict) -> web.Response:
    """A page of the screen with its settings in it; never cached, so a new release or a new setting shows at once."""
    html = (STATIC / name).read_text(encoding="utf-8")  # pragma: no mutate (Python runs in UTF-8 mode)
    html = html.replace("/*SETTINGS*/", f"window.GATEPOST = {script_json(settings)};")
    return web.Response(text=html, content_type="text/html", headers=NEVER_STORED)
