"""A browser's requests to the touchscreen's server over plain HTTP (http.client): its cookie, and the Origin a
page of this server sends. For tests that need no page, only the answers."""

from __future__ import annotations

import http.client
import json

PIN = "2468"  # the PIN the tests give their guards


class Screen:
    """One browser: its address, its cookie, and the Origin a page of this server sends."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.cookie = ""

    def request(self, method: str, path: str, body=None, *, host: str | None = None, origin: str | None = "own",
                content_type: str = "application/json") -> tuple[int, dict | str, http.client.HTTPResponse]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        headers = {"Host": host or f"127.0.0.1:{self.port}"}
        if method == "POST":
            headers["Content-Type"] = content_type
            if origin is not None:
                headers["Origin"] = f"http://127.0.0.1:{self.port}" if origin == "own" else origin
        if self.cookie:
            headers["Cookie"] = self.cookie
        data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
        connection.request(method, path, body=data, headers=headers)
        response = connection.getresponse()
        raw = response.read()
        connection.close()
        text = raw.decode("utf-8", "replace")
        answer = json.loads(text) if response.getheader("Content-Type", "").startswith("application/json") else text
        return response.status, answer, response

    def post(self, path: str, body, **options):
        status, answer, _ = self.request("POST", path, body, **options)
        return status, answer

    def get(self, path: str, **options):
        status, answer, _ = self.request("GET", path, **options)
        return status, answer

    def login(self, guard: str = "7", pin: str = PIN) -> tuple[int, dict, http.client.HTTPResponse]:
        status, answer, response = self.request("POST", "/api/login", {"guard": guard, "pin": pin})
        cookie = response.getheader("Set-Cookie") or ""
        if status == 200:
            self.cookie = cookie.split(";", 1)[0]
        return status, answer, response
