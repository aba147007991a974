"""Webhooks through a receiver outage and a power cut: nothing lost, duplicates only as at-least-once allows.

    python bench/webhook_outage.py [--outage-min M] [--json PATH] [--quick]

A real daemon (`gatepost run`, simulated rush in real time, MQTT off) posts every event to a receiver on loopback.
The receiver is down from the start for M minutes (default 10, quick 0.5): the gate keeps deciding and queues.
Halfway through the outage the daemon is SIGKILLed and started again (as systemd would). Then the receiver comes
up while the gate runs on, and the bench waits for the queue to drain (at most 10 minutes: the sender's back-off
reaches 5). Lost: an event the gate recorded that the receiver never took and that is not still queued. Twice:
deliveries beyond the first of an event (at-least-once: the id says which). Every delivery's signature is checked.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import yaml

from common import ROOT, finish, parser, table

SECRET = "outage-bench-secret"


class Receiver:
    """A webhook receiver on a fixed port that can be taken down and brought back."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.taken: dict[str, int] = {}
        self.bad_signatures = 0
        self._server: ThreadingHTTPServer | None = None

    def up(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802 - the standard library's name
                body = self.rfile.read(int(self.headers["Content-Length"]))
                stamp, _, signature = self.headers.get("X-Gatepost-Signature", "").partition(",v1=")
                expected = hmac.new(SECRET.encode(), stamp.removeprefix("t=").encode() + b"." + body,
                                    hashlib.sha256).hexdigest()
                if not hmac.compare_digest(expected, signature):
                    receiver.bad_signatures += 1
                event_id = json.loads(body)["event_id"]
                receiver.taken[event_id] = receiver.taken.get(event_id, 0) + 1
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        ThreadingHTTPServer.allow_reuse_address = True
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def down(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def run(outage_s: float, work: Path) -> dict:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from gate_latency import build_rush

    receiver = Receiver(free_port())
    visitors = int(outage_s / 1.5) + 20
    scenario = build_rush(visitors, np.random.default_rng(5), work)
    data = yaml.safe_load(scenario.read_text())
    config = {"state_dir": str(work / "state"), "ui": {"enabled": False}, "mqtt": {"enabled": False},
              "webhooks": [{"name": "platform", "url": f"http://127.0.0.1:{receiver.port}/hook",
                            "secret_env": "OUTAGE_SECRET", "kinds": ["decision", "alarm", "passage", "action",
                                                                     "status"]}],
              "simulation": {"scenario": str(scenario), "realtime": True, "loop": True}}
    for key, value in data.pop("config", {}).items():
        config.setdefault(key, {}).update(value)
    scenario.write_text(yaml.safe_dump(data, sort_keys=False))
    (work / "gate.yaml").write_text(yaml.safe_dump(config))
    cli = [sys.executable, "-m", "edge.cli", "-c", str(work / "gate.yaml")]
    env = {**os.environ, "OUTAGE_SECRET": SECRET}
    log = open(work / "daemon.log", "a")
    start = lambda: subprocess.Popen(cli + ["run"], cwd=ROOT, stdout=log, stderr=log, env=env)  # noqa: E731
    daemon = start()
    began = time.time()
    time.sleep(outage_s / 2)
    daemon.send_signal(signal.SIGKILL)
    daemon.wait()
    killed_at = time.time() - began
    daemon = start()
    time.sleep(max(0.0, began + outage_s - time.time()))
    receiver.up()
    up_at = time.time()
    deadline = up_at + 600  # the sender's back-off is at most 5 min: it tries again within that
    while time.time() < deadline and backlog(work) != 0:
        time.sleep(0.5)
    drained_s = time.time() - up_at
    daemon.send_signal(signal.SIGTERM)
    daemon.wait(timeout=60)
    receiver.down()
    log.close()
    from edge.store import Store

    with Store(work / "state") as store:
        recorded = {e["event_id"] for e in store.events(limit=10_000_000)}
        queued = {event_id for _, event_id, _ in store.webhook_batch("platform", 10_000_000)}
    lost = recorded - set(receiver.taken) - queued
    return {"outage_s": outage_s, "killed_at_s": round(killed_at, 1), "events_recorded": len(recorded),
            "events_lost": len(lost), "still_queued": len(queued),
            "deliveries_beyond_first": sum(n - 1 for n in receiver.taken.values()),
            "bad_signatures": receiver.bad_signatures, "drained_s": round(drained_s, 1)}


def backlog(work: Path) -> int | None:
    """Events waiting for the receiver, read beside the running daemon (read-only); None while unreadable."""
    import sqlite3

    try:
        with sqlite3.connect(f"file:{work / 'state' / 'gatepost.db'}?mode=ro", uri=True, timeout=1) as db:
            return int(db.execute("SELECT COUNT(*) FROM webhook_queue").fetchone()[0])
    except sqlite3.Error:
        return None


def main() -> int:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--outage-min", type=float, default=None, help="minutes the receiver is down (default 10, "
                                                                   "quick 0.5)")
    args = p.parse_args()
    outage_s = 60.0 * (args.outage_min if args.outage_min is not None else 0.5 if args.quick else 10.0)
    with tempfile.TemporaryDirectory(prefix="gatepost-webhook-outage-") as scratch:
        figures = run(outage_s, Path(scratch))
    rows = [("receiver down", f"{figures['outage_s'] / 60:.1f} min; the gate SIGKILLed at {figures['killed_at_s']} s"),
            ("events the gate recorded", figures["events_recorded"]),
            ("of them neither delivered nor still queued (lost)", figures["events_lost"]),
            ("still queued at the end (the daemon's own stop, say)", figures["still_queued"]),
            ("deliveries beyond the first (at-least-once)", figures["deliveries_beyond_first"]),
            ("deliveries with a bad signature", figures["bad_signatures"]),
            ("receiver up to every event delivered", f"{figures['drained_s']} s")]
    print(table("webhooks through an outage and a SIGKILL", rows, ("figure", "value")))
    finish(args, figures)
    return 0 if figures["events_lost"] == 0 and figures["bad_signatures"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
