"""The resident's screen follows the prompt as a server-sent stream: open without login (a code and a flag, never a
name), bounded in how many screens follow it at once, and the kiosk on this box always among them."""

from __future__ import annotations

import asyncio
import json

from aiohttp import web

from edge.prompt import Prompt

MAX_PROMPT_CLIENTS = 16  # screens following the prompt at once, all sources together
PROMPT_CLIENTS_PER_SOURCE = 2  # from one address: the resident's screen, and a reload of it; the newest wins
LOCAL_SCREEN = ("127.0.0.1", "::1")  # the kiosk browser on this box


def prompt_data(prompt: Prompt) -> dict:
    return {"code": prompt.code, "guide": prompt.guide}


class PromptStreams:
    """Lives on the touchscreen's event loop; `publish` is called there."""

    def __init__(self) -> None:
        self._subscribers: dict[asyncio.Queue, str] = {}  # the screen's address, oldest first

    def publish(self, data: dict) -> None:
        for queue in list(self._subscribers):
            if queue.qsize() < 10:
                queue.put_nowait(data)

    async def serve(self, request: web.Request, current: Prompt) -> web.StreamResponse:
        """The prompt as it changes; open to the resident's screen (a code and a flag, never a name)."""
        source = request.remote or "unknown"
        if not self._make_room(source):
            raise web.HTTPTooManyRequests(text=json.dumps({"ok": False, "error": "prompt: too many screens"}),
                                          content_type="application/json")
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        await response.prepare(request)
        queue: asyncio.Queue = asyncio.Queue()
        self._subscribers[queue] = source
        try:
            await response.write(f"event: prompt\ndata: {json.dumps(prompt_data(current))}\n\n".encode())
            while True:
                try:
                    data = await asyncio.wait_for(queue.get(), timeout=15.0)
                except asyncio.TimeoutError:
                    await response.write(b": keep-alive\n\n")
                    continue
                if data is None:  # a newer stream took this one's place
                    break
                await response.write(f"event: prompt\ndata: {json.dumps(data)}\n\n".encode())
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            self._subscribers.pop(queue, None)
        return response

    def _make_room(self, source: str) -> bool:
        """The newest stream from an address wins: a closed tab is only noticed at the next write, and a kiosk that
        reloaded twice was refused its own prompt. Streams from elsewhere (an idle tab, a script) keep two places each
        and can never take the place of the screen on this box."""
        mine = [queue for queue, where in self._subscribers.items() if where == source]
        if len(mine) >= PROMPT_CLIENTS_PER_SOURCE:
            self._end(mine[0])
            return True
        if len(self._subscribers) < MAX_PROMPT_CLIENTS:
            return True
        if source not in LOCAL_SCREEN:
            return False
        elsewhere = [queue for queue, where in self._subscribers.items() if where not in LOCAL_SCREEN]
        if elsewhere:
            self._end(elsewhere[0])
        return True

    def _end(self, queue: asyncio.Queue) -> None:
        self._subscribers.pop(queue, None)
        queue.put_nowait(None)
