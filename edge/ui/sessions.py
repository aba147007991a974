"""Guards' sessions at the touchscreen: a cookie's token, until it expires, the guard is removed or their PIN
changes."""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass

from aiohttp import web

from edge.guards import GuardBook

SESSION_COOKIE = "gatepost_session"


@dataclass
class Session:
    guard_id: str
    name: str
    expires: float
    pin_hash: bytes  # the PIN this session was opened with: a new PIN ends the session


class Sessions:
    def __init__(self, guards: GuardBook, *, hours: float) -> None:
        self.guards = guards
        self.hours = hours
        self._open: dict[str, Session] = {}

    def open(self, guard_id: str, name: str, pin_hash: bytes) -> str:
        token = secrets.token_urlsafe(24)
        self._open[token] = Session(guard_id, name, time.time() + self.hours * 3600, pin_hash)
        return token

    def of(self, request: web.Request) -> Session:
        """The guard logged in on this screen; 401 if none, expired, removed, or their PIN has changed since."""
        token = request.cookies.get(SESSION_COOKIE, "")  # pragma: no mutate (no token is ever "" or made up)
        session = self._open.get(token)
        if session is None or not self.still_valid(session):
            self._open.pop(token, None)
            raise web.HTTPUnauthorized(text=json.dumps({"ok": False, "error": "login required"}),
                                       content_type="application/json")
        return session

    def still_valid(self, session: Session) -> bool:
        """Not expired, and its guard still there with the same PIN: what keeps a stream going too."""
        if session.expires < time.time():  # its last second included
            return False
        guard = self.guards.get(session.guard_id)
        return guard is not None and guard.pin_hash == session.pin_hash

    def close(self, request: web.Request) -> None:
        token = request.cookies.get(SESSION_COOKIE, "")  # pragma: no mutate (likewise)
        self._open.pop(token, None)
