"""The integrators' API under a running gate: how long `status` and an event page of 100 take.

    python bench/api_latency.py [--requests N] [--runs R] [--json PATH] [--quick]

A simulated gate (morning scenario, real time, 25 frames/s: the frame loop competes for the CPU as at a site)
serves the API on loopback with 2,000 events recorded. One client on a kept-alive connection calls each operation N
times (default 300, quick 60); the clock runs from sending the request to the last byte of the answer. Every call
counts; the first ten of each operation (connection set-up, caches) too.
"""

from __future__ import annotations

import http.client
import json
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

from common import ROOT, add_runs, finish, parser, peak_rss_mb, percentile, runs_wanted, spread, table

OPERATIONS = {"status": "/api/v1/status", "events page of 100": "/api/v1/events?after=0&limit=100"}


def one_run(requests: int, scratch: Path) -> dict[str, list[float]]:
    sys.path.insert(0, str(ROOT))
    from edge.api_tokens import issue
    from edge.app import Runtime
    from edge.config import parse_config
    from edge.events import EventKind

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = parse_config({"state_dir": str(scratch), "mqtt": {"enabled": False}, "ui": {"enabled": False},
                           "api": {"enabled": True, "port": port, "requests_per_minute": 100_000},
                           "simulation": {"scenario": str(ROOT / "config/scenarios/morning.yaml"), "realtime": True,
                                          "loop": True}})
    runtime = Runtime(config, control=False)
    for n in range(2000):
        runtime.gate.record(EventKind.action, {"action": "bench", "n": n})
    token = issue(runtime.store, "bench", ["status:read", "events:read"])
    stop = threading.Event()
    loop = threading.Thread(target=runtime.run, args=(stop.is_set,), daemon=True)
    loop.start()
    timings: dict[str, list[float]] = {name: [] for name in OPERATIONS}
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        for name, path in OPERATIONS.items():
            for _ in range(requests):
                started = time.perf_counter()
                connection.request("GET", path, headers={"Authorization": f"Bearer {token}"})
                response = connection.getresponse()
                body = response.read()
                timings[name].append((time.perf_counter() - started) * 1000.0)
                assert response.status == 200 and json.loads(body)["ok"], body[:200]
    finally:
        connection.close()
        stop.set()
        loop.join(timeout=30)
        runtime.close()
    return timings


def main() -> int:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--requests", type=int, default=None, help="calls of each operation per run (default 300, quick 60)")
    add_runs(p)
    args = p.parse_args()
    requests = args.requests or (60 if args.quick else 300)
    runs = []
    for _ in range(runs_wanted(args)):
        with tempfile.TemporaryDirectory(prefix="gatepost-api-") as scratch:
            runs.append(one_run(requests, Path(scratch)))
    rows = [(name, spread([percentile(r[name], 50) for r in runs]), spread([percentile(r[name], 95) for r in runs]),
             spread([max(r[name]) for r in runs])) for name in OPERATIONS]
    print(table(f"API calls under a running gate, {requests} of each a run, {len(runs)} run(s); ms, median (min to "
                "max) over runs", rows, ("operation", "p50", "p95", "max")))
    print(f"peak RSS {peak_rss_mb():.0f} MB")
    finish(args, {"requests": requests, "runs": runs})
    return 0


if __name__ == "__main__":
    sys.exit(main())
