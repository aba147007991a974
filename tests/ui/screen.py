"""A browser's requests to the touchscreen's server over HTTP or HTTPS (http.client): its cookie, and the Origin a
page of this server sends. For tests that need no page, only the answers."""

from __future__ import annotations

import http.client
import json
import ssl
import time

PIN = "2468"  # the PIN the tests give their guards


class Screen:
    """One browser: its address, its cookie, and the Origin a page of this server sends."""

    def __init__(self, port: int, tls: ssl.SSLContext | None = None, *, cookie: str = "") -> None:
        self.port = port
        self.tls = tls
        self.scheme = "https" if tls else "http"
        self.cookie = cookie

    def connect(self) -> http.client.HTTPConnection:
        if self.tls is not None:
            return http.client.HTTPSConnection("127.0.0.1", self.port, timeout=10, context=self.tls)
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)

    def request(self, method: str, path: str, body=None, *, host: str | None = None, origin: str | None = "own",
                content_type: str = "application/json") -> tuple[int, dict | str | bytes, http.client.HTTPResponse]:
        connection = self.connect()
        headers = {"Host": host or f"127.0.0.1:{self.port}"}
        if method == "POST":
            headers["Content-Type"] = content_type
            if origin is not None:
                headers["Origin"] = f"{self.scheme}://127.0.0.1:{self.port}" if origin == "own" else origin
        if self.cookie:
            headers["Cookie"] = self.cookie
        data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
        connection.request(method, path, body=data, headers=headers)
        response = connection.getresponse()
        raw = response.read()
        connection.close()
        kind = response.getheader("Content-Type", "")
        if kind.startswith("image/"):
            return response.status, raw, response
        text = raw.decode("utf-8", "replace")
        return response.status, json.loads(text) if kind.startswith("application/json") else text, response

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


class Stream:
    """A long answer (events, the live view) read as it comes, on a connection of its own."""

    def __init__(self, port: int, path: str, cookie: str = "") -> None:
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        headers = {"Host": f"127.0.0.1:{port}", **({"Cookie": cookie} if cookie else {})}
        self.connection.request("GET", path, headers=headers)
        self.response = self.connection.getresponse()

    def event(self, kind: str, *, within: float = 10.0) -> dict | None:
        """The next server-sent event of `kind`, or None if the stream ended or none came in time."""
        deadline = time.monotonic() + within
        name = None
        while time.monotonic() < deadline:
            line = self.response.readline().decode()
            if not line:
                return None
            if line.startswith("event: "):
                name = line[len("event: "):].strip()
            elif line.startswith("data: ") and name == kind:
                return json.loads(line[len("data: "):])
        return None

    def ended(self, *, within: float = 10.0) -> bool:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if not self.response.read(4096):
                return True
        return False

    def close(self) -> None:
        self.connection.close()


def read_part(live: Stream) -> bytes:
    """One JPEG of the live view, its framing checked."""
    head = b""
    while not head.endswith(b"\r\n\r\n"):
        head += live.response.read(1)
    lines = head.split(b"\r\n")
    assert lines[:2] == [b"--frame", b"Content-Type: image/jpeg"] and lines[2].startswith(b"Content-Length: ")
    jpeg = live.response.read(int(lines[2].split(b": ")[1]))
    assert jpeg[:2] == b"\xff\xd8" and live.response.read(2) == b"\r\n"
    return jpeg
