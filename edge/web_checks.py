"""What every page served here checks before a handler runs: the touchscreen and the fleet view.

Only the page's own address may be used (Host, against DNS rebinding), a POST must come from the
page itself (Origin) with a JSON body, and a body is bounded JSON with the fields a handler names;
a malformed request is answered 400 naming the field, and changes nothing.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from aiohttp import web

from edge.untrusted import UntrustedInput, load_json


SCRIPT_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026"}  # pragma: no mutate (a hex digit's case is one escape)


class BadRequest(Exception):
    """A malformed request: answered 400 with the field at fault, changes nothing."""


def request_checks(allowed_host: Callable[[str], bool], *, scheme: Callable[[web.Request], str], whose: str,
                   origins: tuple[str, ...] = ()):
    """Middleware: Host, then for a POST its Origin and content type. `whose` words the refusals; `origins`: the
    page's public origins besides its own address (behind a TLS reverse proxy the browser says https://...)."""

    @web.middleware
    async def check(request: web.Request, handler):
        if not allowed_host(request.host):
            return web.json_response({"ok": False, "error": f"host: not this {whose}'s address"}, status=421)
        if request.method == "POST":
            if request.headers.get("Origin") not in (f"{scheme(request)}://{request.host}", *origins):
                return web.json_response({"ok": False, "error": f"origin: requests come from this {whose} only"},
                                         status=403)
            if request.content_type != "application/json":
                return web.json_response({"ok": False, "error": "content-type: application/json expected"},
                                         status=415)
        return await handler(request)

    return check


@web.middleware
async def bad_requests(request: web.Request, handler):
    try:
        return await handler(request)
    except BadRequest as error:
        return web.json_response({"ok": False, "error": str(error)}, status=400)


async def json_body(request: web.Request, fields: dict[str, type | tuple[type, ...]], *,
                    max_bytes: int) -> dict[str, Any]:
    """The body as a JSON object holding `fields` of the given types (a bool is never a number)."""
    try:
        body = load_json(await request.read(), max_bytes=max_bytes, what="body")
    except UntrustedInput as error:
        raise BadRequest(str(error)) from None
    if not isinstance(body, dict):
        raise BadRequest("body: expected a JSON object")
    for name, kind in fields.items():
        value = body.get(name)
        if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
            raise BadRequest(f"{name}: expected {kind.__name__ if isinstance(kind, type) else 'a number'}")
    return body


def script_json(value: object) -> str:
    """JSON to put inside <script>: no "</script>" (or "<!--") can end it, whatever a site's name holds."""
    text = json.dumps(value)
    for character, escape in SCRIPT_ESCAPES.items():
        text = text.replace(character, escape)
    return text


def server_tls(cert: str, key: str):
    """The server side of HTTPS from a PEM certificate and its key; None when no certificate is configured."""
    if not cert:
        return None
    import ssl

    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context
