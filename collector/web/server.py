"""`gatepost collector web`: the operators' fleet view over the collector's database.

Every gate with its status, last contact, open faults and outbox; a live alarm feed with
acknowledgement; per-site and per-gate charts by hour (server-side SVG); a search of events.
Administrators log in with a name and password (scrypt hashes in the `operators` table, made by
`gatepost collector operators add`); every read and every action is written to the `audit` table
with who did it. The same aiohttp stack and the same request checks as the gate's touchscreen:
Host and Origin are checked, bodies are bounded JSON, database calls run off the event loop.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import time
import urllib.parse
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from aiohttp import web

from collector.db import CollectorDB
from collector.export import events_csv
from collector.web import charts
from edge.config import is_loopback
from edge.errors import ConfigError
from edge.lockouts import Lockouts
from edge.messages import catalogue as gate_catalogue
from edge.passwords import hash_secret, secret_matches
from edge.web_checks import BadRequest, bad_requests, json_body, request_checks, script_json
from edge.web_thread import WebThread

log = logging.getLogger(__name__)

STATIC = Path(__file__).with_name("static")
SESSION_COOKIE = "gatepost_fleet"
MAX_BODY = 8 * 1024
MAX_FAILURES = 5
LOCKOUT_S = 300.0
OFFLINE_AFTER_S = 180.0  # no status change but no telemetry either for this long: shown as silent
CHART_HOURS = (24, 48, 168)
CHARTS = ("entries", "denials", "alarms", "decision_p95", "stage_p95")
EXPORT_ROWS = 100_000  # one CSV export at most: a month of a busy gate
LANGUAGES = ("zh", "en")
NEVER_STORED = {"Cache-Control": "no-store"}  # pragma: no mutate (HTTP reads a header's name in any case)
DOWNLOAD = {**NEVER_STORED, "Content-Disposition": 'attachment; filename="gatepost-events.csv"'}  # pragma: no mutate


@dataclass
class Session:
    operator: str
    expires: float


@lru_cache(maxsize=1)
def fleet_catalogue() -> dict[str, Any]:
    return json.loads((STATIC / "messages.json").read_text(encoding="utf-8"))


def words(language: str, group: str, code: str) -> str:
    """The fleet view's words, then the gate's (denial reasons are the gate's outcome codes)."""
    found = fleet_catalogue().get(language, {}).get(group, {}).get(code)
    if found is None:
        found = gate_catalogue().get(language, {}).get(group, {}).get(code)
    return (found or code).split("{")[0].strip(" :") or code


class FleetServer:
    def __init__(self, db: CollectorDB, *, host: str = "127.0.0.1", port: int = 8090, language: str = "zh",
                 session_h: float = 8.0, allowed_hosts: tuple[str, ...] = (), public_url: str = "",
                 tls: tuple[str, str] | None = None) -> None:
        """`public_url`: the address operators use through a TLS reverse proxy (https://fleet.example), whose
        Origin and Host the page accepts; `tls`: (certificate, key) to serve HTTPS itself. Off loopback, one of
        them is required: an operator's password never crosses the network in the clear."""
        if not is_loopback(host) and not tls:
            raise ConfigError(f"host: {host} is reachable from the network; serve HTTPS (--tls-cert, --tls-key) or "
                              "listen on loopback behind a TLS reverse proxy (--public-url)")
        self.db = db
        self.host = host
        self.language = language
        self.session_h = session_h
        public = urllib.parse.urlsplit(public_url) if public_url else None
        if public is not None and (public.scheme not in ("http", "https") or not public.netloc):
            raise ConfigError(f"public_url: {public_url!r} is not an http(s) address")
        self.public_origin = f"{public.scheme}://{public.netloc}" if public else ""  # pragma: no mutate (any text no browser sends)
        self.allowed_hosts = allowed_hosts + ((public.netloc,) if public else ())
        self._sessions: dict[str, Session] = {}
        self.lockouts = Lockouts(max_failures=MAX_FAILURES, lockout_s=LOCKOUT_S)
        tls_cert, tls_key = tls or ("", "")
        self.served = WebThread("fleet-web", self.app, host=host, port=port, tls_cert=tls_cert, tls_key=tls_key)

    # life cycle

    @property
    def port(self) -> int:
        """The port asked for, or the one given for 0 once it serves."""
        return self.served.port

    @property
    def error(self) -> str | None:
        return self.served.error

    def app(self) -> web.Application:
        checks = request_checks(self._allowed, scheme=lambda request: request.scheme, whose="page",
                                origins=(self.public_origin,) if self.public_origin else ())
        app = web.Application(client_max_size=MAX_BODY, middlewares=[checks, bad_requests])
        app.router.add_get("/", self._index)
        app.router.add_static("/static/", STATIC)
        app.router.add_get("/api/health", self._health)
        app.router.add_post("/api/login", self._login)
        app.router.add_post("/api/logout", self._logout)
        app.router.add_get("/api/gates", self._gates)
        app.router.add_get("/api/alarms", self._alarms)
        app.router.add_post("/api/alarms/ack", self._ack)
        app.router.add_get("/api/hourly", self._hourly)
        app.router.add_get("/api/chart.svg", self._chart)
        app.router.add_get("/api/events", self._events)
        app.router.add_get("/api/events.csv", self._events_csv)
        app.router.add_get("/api/snapshots/{event_id}.jpg", self._snapshot)
        return app

    def start(self) -> None:
        """Serve on a thread of its own (the CLI waits for a signal meanwhile); returns once it listens, or could not
        (`error` says why)."""
        self.served.start()

    def stop(self) -> None:
        self.served.stop()

    # request checks

    def _allowed(self, host: str) -> bool:
        names = {"127.0.0.1", "localhost", "[::1]", self.host, *self.allowed_hosts}
        return host in {f"{name}:{self.port}" for name in names} or host in set(self.allowed_hosts)

    def _session(self, request: web.Request) -> Session:
        token = request.cookies.get(SESSION_COOKIE, "")  # pragma: no mutate (no cookie, no session: any default)
        session = self._sessions.get(token)
        if session is None or session.expires < time.time():
            self._sessions.pop(token, None)
            raise web.HTTPUnauthorized(text=json.dumps({"ok": False, "error": "login required"}),
                                       content_type="application/json")
        return session

    async def _db(self, function, *args, **kwargs):
        return await asyncio.get_running_loop().run_in_executor(None, lambda: function(*args, **kwargs))

    async def _audited(self, request: web.Request, action: str, detail: dict[str, Any]) -> Session:
        session = self._session(request)
        await self._db(self.db.audit, session.operator, action, detail, time.time())
        return session

    async def _body(self, request: web.Request, fields: dict[str, type | tuple[type, ...]]) -> dict[str, Any]:
        return await json_body(request, fields, max_bytes=MAX_BODY)

    # pages

    async def _index(self, request: web.Request) -> web.Response:
        html = (STATIC / "fleet.html").read_text(encoding="utf-8")  # pragma: no mutate (Python runs in UTF-8 mode)
        gate_words = gate_catalogue()
        settings = {"language": self.language, "messages": fleet_catalogue(),
                    "outcome": {lang: gate_words[lang]["outcome"] for lang in gate_words}, "hours": CHART_HOURS}
        html = html.replace("/*SETTINGS*/", f"window.FLEET = {script_json(settings)};")
        return web.Response(text=html, content_type="text/html", headers=NEVER_STORED)

    async def _health(self, request: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    async def _login(self, request: web.Request) -> web.Response:
        body = await self._body(request, {"name": str, "password": str})
        name = body["name"][:64]
        source = request.remote or "unknown"  # pragma: no mutate (a request over TCP always has its peer's address)
        ok, known, started = await self._db(self._check_password, name, body["password"][:256], source)
        if known or started:  # a flood of guesses at unknown names writes no row per guess
            await self._db(self.db.audit, name, "login" if ok == "ok" else "login_refused",
                           {"result": ok, "source": source[:64],  # pragma: no mutate (an address is never longer)
                            "locked_out": started}, time.time())
        if ok != "ok":
            return web.json_response({"ok": False, "error": ok}, status=403)
        token = secrets.token_urlsafe(24)
        self._sessions[token] = Session(name, time.time() + self.session_h * 3600)
        response = web.json_response({"ok": True, "operator": name})
        response.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="Strict",
                            secure=request.secure or self.public_origin.startswith("https:"),
                            max_age=int(self.session_h * 3600))
        return response

    def _check_password(self, name: str, password: str, source: str) -> tuple[str, bool, bool]:
        """(ok | locked_out | wrong_password, whether the name is an operator's, whether a lockout began): the same
        answer for an unknown name; lockouts per name and source (edge/lockouts.py), so nobody can lock an
        operator out of their own desk from elsewhere."""
        stored = self.db.operator(name)

        def matches() -> bool:
            if stored is None:
                hash_secret(password)  # the same work: no timing hint that the name is unknown
                return False
            return secret_matches(password, *stored)

        ok, started = self.lockouts.attempt(name, source, matches)
        return ("locked_out" if ok is None else "ok" if ok else "wrong_password"), stored is not None, started

    async def _logout(self, request: web.Request) -> web.Response:
        session = self._sessions.pop(request.cookies.get(SESSION_COOKIE, ""), None)  # pragma: no mutate (as above)
        if session is not None:
            await self._db(self.db.audit, session.operator, "logout", {}, time.time())
        response = web.json_response({"ok": True})
        response.del_cookie(SESSION_COOKIE)
        return response

    # reads

    async def _gates(self, request: web.Request) -> web.Response:
        session = await self._audited(request, "read_gates", {})
        gates = await self._db(self.db.gates)
        now = time.time()
        rows = []
        for gate in gates:
            state = gate.status
            if state == "online" and now - gate.last_seen > OFFLINE_AFTER_S:
                state = "silent"  # connected, says the broker, but no telemetry lately
            rows.append({**asdict(gate), "state": state})
        summary = {state: sum(1 for r in rows if r["state"] == state)
                   for state in ("online", "offline", "silent", "unknown")}
        summary["with_faults"] = sum(1 for r in rows if r["faults"])
        summary["outbox"] = sum(r["outbox"] or 0 for r in rows)
        return web.json_response({"gates": rows, "summary": summary, "operator": session.operator, "now": now})

    async def _alarms(self, request: web.Request) -> web.Response:
        await self._audited(request, "read_alarms", {})
        alarms = await self._db(self.db.alarms, since=time.time() - 7 * 86400)
        return web.json_response({"alarms": alarms})

    async def _ack(self, request: web.Request) -> web.Response:
        body = await self._body(request, {"event_id": str})
        session = await self._audited(request, "acknowledge_alarm", {"event_id": body["event_id"][:64]})
        done = await self._db(self.db.acknowledge_alarm, body["event_id"][:64], session.operator, time.time())
        if not done:
            raise BadRequest("event_id: no open alarm with that id")
        return web.json_response({"ok": True})

    def _scope(self, request: web.Request) -> tuple[str | None, str | None, int]:
        site = request.query.get("site") or None
        gate = request.query.get("gate") or None
        try:
            hours = int(request.query.get("hours", "24"))
        except ValueError:
            raise BadRequest("hours: a whole number") from None
        if hours not in CHART_HOURS:
            raise BadRequest(f"hours: one of {', '.join(map(str, CHART_HOURS))}")
        return site, gate, hours

    def _hourly_figures(self, site: str | None, gate: str | None, hours: int) -> dict[str, Any]:
        now_hour = int(time.time()) // 3600 * 3600
        axis = [now_hour - 3600 * i for i in range(hours - 1, -1, -1)]
        index = {hour: i for i, hour in enumerate(axis)}
        counts: dict[str, list[float]] = {}
        for hour, metric, count in self.db.hourly_counts(site=site, gate=gate,
                                                         since=axis[0]):  # pragma: no mutate (a bound on what is read)
            if hour in index:
                counts.setdefault(metric, [0.0] * len(axis))[index[hour]] = count
        stages: dict[str, list[float | None]] = {}
        for _, _, hour, stage, _, p95 in self.db.stage_timings(site=site, gate=gate,
                                                               since=axis[0]):  # pragma: no mutate (likewise)
            if hour in index:
                points = stages.setdefault(stage, [None] * len(axis))
                points[index[hour]] = max(points[index[hour]] or 0.0, p95)
        return {"hours": axis, "counts": counts, "p95_ms": stages}

    async def _hourly(self, request: web.Request) -> web.Response:
        site, gate, hours = self._scope(request)
        await self._audited(request, "read_hourly", {"site": site, "gate": gate, "hours": hours})
        return web.json_response(await self._db(self._hourly_figures, site, gate, hours))

    async def _chart(self, request: web.Request) -> web.Response:
        site, gate, hours = self._scope(request)
        chart = request.query.get("chart", "entries")
        if chart not in CHARTS:
            raise BadRequest(f"chart: one of {', '.join(CHARTS)}")
        language = self._language(request)
        await self._audited(request, "read_chart", {"site": site, "gate": gate, "hours": hours, "chart": chart})
        figures = await self._db(self._hourly_figures, site, gate, hours)
        svg = draw(chart, figures, language)
        return web.Response(text=svg, content_type="image/svg+xml", headers=NEVER_STORED)

    async def _events(self, request: web.Request) -> web.Response:
        filters, limit = self._search(request, most=500)
        await self._audited(request, "search_events", {**filters, "limit": limit})
        events = await self._db(self.db.search, **filters, limit=limit)
        pictured = await self._db(self.db.with_snapshots, [str(e["event_id"]) for e in events])
        return web.json_response({"events": [{**e, "snapshot": True} if e.get("event_id") in pictured else e
                                             for e in events]})

    async def _snapshot(self, request: web.Request) -> web.Response:
        """The face a gate sent with a decision (where it was configured to), for an operator logged in; audited."""
        event_id = request.match_info["event_id"][:64]
        await self._audited(request, "view_snapshot", {"event_id": event_id})
        jpeg = await self._db(self.db.snapshot, event_id)
        if jpeg is None:
            return web.json_response({"ok": False, "error": "no snapshot for this event"}, status=404)
        return web.Response(body=jpeg, content_type="image/jpeg", headers=NEVER_STORED)

    async def _events_csv(self, request: web.Request) -> web.Response:
        """The search, as a spreadsheet: newest first, up to 100,000 rows, in the page's language."""
        filters, limit = self._search(request, most=EXPORT_ROWS, default=EXPORT_ROWS)
        language = self._language(request)
        await self._audited(request, "export_events", {**filters, "limit": limit})
        events = await self._db(self.db.search, **filters, limit=limit)
        text = events_csv(events, lambda group, code: words(language, group, code))
        return web.Response(text=text, content_type="text/csv", headers=DOWNLOAD)  # UTF-8, as any text

    def _language(self, request: web.Request) -> str:
        """The language a chart or an export is asked in (the page's), or the server's."""
        language = request.query.get("lang")
        return language if language in LANGUAGES else self.language

    @staticmethod
    def _search(request: web.Request, *, most: int, default: int = 100) -> tuple[dict[str, Any], int]:
        query = request.query
        filters: dict[str, Any] = {name: (query.get(name) or None) for name in ("site", "gate", "kind", "resident")}
        filters["pass_id"] = query.get("pass") or None
        for name in ("since", "until"):
            if query.get(name):
                try:
                    filters[name] = float(query[name])
                except ValueError:
                    raise BadRequest(f"{name}: seconds since 1970") from None
        try:
            limit = int(query.get("limit", str(default)))
        except ValueError:
            raise BadRequest("limit: a whole number") from None
        if not 1 <= limit <= most:
            raise BadRequest(f"limit: 1 to {most}")
        return {k: v for k, v in filters.items() if v is not None}, limit


def draw(chart: str, figures: dict[str, Any], language: str) -> str:
    hours, counts = figures["hours"], figures["counts"]
    empty = words(language, "ui", "no_data")
    title = words(language, "chart", chart)
    zeros = [0.0] * len(hours)
    if chart == "entries":
        return charts.bars(title, hours, {words(language, "metric", "entries"): counts.get("entries", zeros)},
                           empty=empty)
    if chart == "denials":
        reasons = sorted((m for m in counts if m.startswith("denial:")), key=lambda m: -sum(counts[m]))
        shown = {words(language, "outcome", m.removeprefix("denial:")): counts[m] for m in reasons[:5]}
        rest = [sum(counts[m][i] for m in reasons[5:]) for i in range(len(hours))]
        if any(rest):
            shown[words(language, "metric", "other")] = rest
        return charts.bars(title, hours, shown or {words(language, "metric", "denials"): zeros}, empty=empty)
    if chart == "alarms":
        kinds = sorted(m for m in counts if m.startswith("alarm:"))
        return charts.bars(title, hours, {words(language, "alarm", m.removeprefix("alarm:")): counts[m] for m in kinds}
                           or {words(language, "metric", "alarms"): zeros}, empty=empty)
    stages = figures["p95_ms"]
    if chart == "decision_p95":
        return charts.lines(title, hours, {words(language, "stage", "decision"): stages.get("decision", [None] * len(hours))},
                            unit=" ms", empty=empty)
    return charts.lines(title, hours, {words(language, "stage", s): v for s, v in sorted(stages.items())
                                       if s != "decision"}, unit=" ms", empty=empty)
