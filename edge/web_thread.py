"""An aiohttp application served on a thread and event loop of its own, beside the frame loop (the touchscreen, the
integrators' API) or the collector's (the fleet view). A port that cannot be had is one `error` line, not an
exception: the gate runs on without it."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable

from aiohttp import web

from edge.web_checks import server_tls

STOP_GRACE_S = 2.0  # open streams (live view, events) are cut this long after a stop: a quiet one would hold it 60 s


class WebThread:
    def __init__(self, name: str, build: Callable[[], web.Application], *, host: str, port: int,
                 tls_cert: str = "", tls_key: str = "") -> None:
        self.name, self._build = name, build
        self.host, self.port = host, port
        self._tls = (tls_cert, tls_key)
        self.error: str | None = None
        self.loop: asyncio.AbstractEventLoop | None = None  # None until served, and for good when it cannot be
        self._runner: web.AppRunner | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, name=name, daemon=True)

    def start(self) -> None:
        """Returns once it listens (`port` the one it got) or could not (`error` says why)."""
        self._thread.start()
        self._ready.wait(10)

    def stop(self) -> None:
        loop = self.loop
        if loop is not None and loop.is_running() and self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), loop).result(10)
            loop.call_soon_threadsafe(loop.stop)
        if self._thread.is_alive():  # a stop before the start, or a second one, has nothing to wait for
            self._thread.join(timeout=10)

    def _serve(self) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        self._runner = web.AppRunner(self._build(), access_log=None, shutdown_timeout=STOP_GRACE_S)
        try:
            loop.run_until_complete(self._runner.setup())
            site = web.TCPSite(self._runner, self.host, self.port, ssl_context=server_tls(*self._tls))
            loop.run_until_complete(site.start())
            server = site._server
            if isinstance(server, asyncio.Server):
                self.port = server.sockets[0].getsockname()[1]
        except (OSError, ValueError) as error:
            self.error = f"{self.name}: cannot listen on {self.host}:{self.port} ({error})"
            self._ready.set()
            loop.close()
            return
        self.loop = loop
        self._ready.set()
        loop.run_forever()
        loop.close()
