"""A local control socket: `gatepost open` on the gate itself reaches the running daemon.

JSON lines over a Unix socket in the state directory (mode 0600, root or the gatepost user).
The daemon's loop polls it between frames; it never blocks the loop.
"""

from __future__ import annotations

import json
import logging
import os
import socket
from pathlib import Path

from edge.errors import GatepostError
from edge.untrusted import UntrustedInput, load_json

log = logging.getLogger(__name__)

SOCKET_NAME = "control.sock"
MAX_REQUEST = 4096


class ControlServer:
    def __init__(self, state_dir: str | Path, handler) -> None:
        self.path = Path(state_dir) / SOCKET_NAME
        self._handler = handler
        if self.path.exists():
            self.path.unlink()
        self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._socket.bind(str(self.path))
        os.chmod(self.path, 0o600)
        self._socket.listen(4)
        self._socket.setblocking(False)

    def poll(self) -> None:
        while True:
            try:
                connection, _ = self._socket.accept()
            except BlockingIOError:
                return
            with connection:
                connection.settimeout(0.2)
                try:
                    data = connection.recv(MAX_REQUEST)
                    request = load_json(data, max_bytes=MAX_REQUEST, what="request")
                    if not isinstance(request, dict):
                        raise UntrustedInput("request: must be a JSON object")
                    reply = self._handler(request)
                except UntrustedInput as error:
                    reply = {"ok": False, "error": f"malformed {error}"}
                except OSError:
                    continue
                except Exception as error:  # a handler bug answers, and the loop goes on
                    log.exception("control request failed")
                    reply = {"ok": False, "error": f"internal error: {type(error).__name__}"}
                try:
                    connection.sendall(json.dumps(reply).encode())
                except OSError:
                    pass

    def close(self) -> None:
        self._socket.close()
        self.path.unlink(missing_ok=True)


def send(state_dir: str | Path, request: dict, *, timeout: float = 3.0) -> dict:
    path = Path(state_dir) / SOCKET_NAME
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
        client.settimeout(timeout)
        try:
            client.connect(str(path))
            client.sendall(json.dumps(request).encode())
            client.shutdown(socket.SHUT_WR)
            return json.loads(client.recv(65536).decode() or "{}")
        except (OSError, ValueError) as error:
            raise GatepostError(f"cannot reach the gatepost daemon at {path} ({error}); is it running?") from None
