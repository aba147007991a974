"""Webhook throughput: events a gate hands one receiver per second, signed, one POST each, taken and cleared.

    python bench/webhooks.py [--events N] [--runs R] [--json PATH] [--quick]

N events (default 5,000, quick 1,000) are recorded into a state database with their webhook queue entries first;
then one sender delivers them to a receiver on loopback (Python's threading HTTP server, keep-alive, answering
200 at once). The clock starts when the sender starts and stops when the queue is empty: every event is counted,
the queue's reads and deletions included. The receiver shares this machine's two cores with the sender.
"""

from __future__ import annotations

import os
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from common import ROOT, add_runs, finish, parser, peak_rss_mb, runs_wanted, spread, table


def receiver() -> tuple[ThreadingHTTPServer, list[int]]:
    taken = [0]

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:  # noqa: N802 - the standard library's name
            self.rfile.read(int(self.headers["Content-Length"]))
            taken[0] += 1
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, taken


def one_run(count: int, scratch: Path) -> dict:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("GATEPOST_WEBHOOK_SECRET", "bench")  # signing costs what it costs at a site
    from edge.config import WebhookConfig
    from edge.events import Event, EventKind
    from edge.store import Store
    from edge.webhooks import WebhookSender

    server, taken = receiver()
    url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    with Store(scratch) as store:
        for n in range(count):
            event = Event(EventKind.alarm, {"alarm": "tamper", "n": n}, site_id="demo-site", gate_id="gate-1")
            store.record_event(event, "gatepost/demo-site/gate-1/alarm", ("bench",))
        sender = WebhookSender(WebhookConfig(name="bench", url=url, max_waiting=10_000_000), store, gate_name="bench")
        started = time.perf_counter()
        sender.start()
        while store.webhook_backlog("bench"):
            time.sleep(0.01)
        elapsed = time.perf_counter() - started
        sender.stop()
    server.shutdown()
    server.server_close()
    return {"events": count, "seconds": round(elapsed, 3), "per_second": round(count / elapsed, 1),
            "received": taken[0]}


def main() -> int:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--events", type=int, default=None, help="events per run (default 5000, quick 1000)")
    add_runs(p)
    args = p.parse_args()
    count = args.events or (1000 if args.quick else 5000)
    runs = []
    for _ in range(runs_wanted(args)):
        with tempfile.TemporaryDirectory(prefix="gatepost-webhooks-") as scratch:
            runs.append(one_run(count, Path(scratch)))
    print(table(f"Webhook delivery to one receiver on loopback, {count} events a run; median (min to max) over runs",
                [("events per second", spread([r["per_second"] for r in runs])),
                 ("seconds for all", spread([r["seconds"] for r in runs])),
                 ("received (duplicates count twice)", spread([r["received"] for r in runs])),
                 ("peak RSS MB", peak_rss_mb())], ("figure", "value")))
    finish(args, {"events": count, "runs": runs})
    return 0


if __name__ == "__main__":
    sys.exit(main())
