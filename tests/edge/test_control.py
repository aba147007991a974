"""The local control socket: requests answered between frames, hostile ones refused, nothing blocks."""

import socket
import threading

import pytest

from edge.control import SOCKET_NAME, ControlServer, send
from edge.errors import GatepostError


def serve(server, stop):
    while not stop.is_set():
        server.poll()
        stop.wait(0.01)


@pytest.fixture()
def control(tmp_path):
    requests = []

    def handler(request):
        requests.append(request)
        if request.get("command") == "boom":
            raise RuntimeError("a bug")
        return {"ok": True, "echo": request.get("command")}

    server = ControlServer(tmp_path, handler)
    stop = threading.Event()
    thread = threading.Thread(target=serve, args=(server, stop), daemon=True)
    thread.start()
    yield tmp_path, requests
    stop.set()
    thread.join()
    server.close()


def raw(state_dir, data: bytes) -> bytes:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
        client.settimeout(3)
        client.connect(str(state_dir / SOCKET_NAME))
        client.sendall(data)
        client.shutdown(socket.SHUT_WR)
        return client.recv(65536)


def test_a_request_is_answered_and_the_socket_is_private(control):
    state_dir, requests = control
    assert send(state_dir, {"command": "status"}) == {"ok": True, "echo": "status"}
    assert (state_dir / SOCKET_NAME).stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize("data, expected", [(b"[" * 3000, "nested deeper"), (b'"text"', "JSON object"),
                                            (b"\xff", "not UTF-8"), (b'{"x": NaN}', "NaN")])
def test_hostile_requests_are_refused_and_the_server_goes_on(control, data, expected):
    state_dir, _ = control
    assert expected in raw(state_dir, data).decode()
    assert send(state_dir, {"command": "status"})["ok"]


def test_a_handler_bug_is_an_answer_not_a_crash(control):
    state_dir, _ = control
    assert send(state_dir, {"command": "boom"}) == {"ok": False, "error": "internal error: RuntimeError"}
    assert send(state_dir, {"command": "status"})["ok"]


def test_no_daemon_is_one_clear_line(tmp_path):
    with pytest.raises(GatepostError, match="cannot reach the gatepost daemon .* is it running"):
        send(tmp_path, {"command": "status"}, timeout=0.5)
