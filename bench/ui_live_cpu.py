"""What the touchscreen's live view costs: the daemon's CPU with and without a screen watching.

    python bench/ui_live_cpu.py [--seconds S] [--runs N] [--json PATH] [--quick]

Runs `gatepost run` on the simulated morning scenario (realtime, 25 frames/s), measures the
daemon's CPU use over a window with no client, then with one client reading the MJPEG live
view and the event stream, and prints the difference in percent of one core. Each run starts a
fresh daemon; the table gives the median and the range over the runs.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import psutil
import yaml

from common import ROOT, add_runs, finish, parser, runs_wanted, spread, table


def cpu_percent(process: psutil.Process, seconds: float) -> float:
    start = process.cpu_times()
    time.sleep(seconds)
    end = process.cpu_times()
    return 100.0 * ((end.user - start.user) + (end.system - start.system)) / seconds


def main() -> int:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=None)
    add_runs(p)
    args = p.parse_args()
    window = args.seconds or (8.0 if args.quick else 30.0)
    sys.path.insert(0, str(ROOT))
    runs = [one_run(window) for _ in range(runs_wanted(args))]
    rows = [("no screen watching", spread([r["idle_cpu_percent"] for r in runs])),
            ("one screen: live view + events", spread([r["watched_cpu_percent"] for r in runs])),
            ("live view cost", spread([r["live_view_cost_percent"] for r in runs])),
            ("live view delivered, KiB/s", spread([r["kib_per_s"] for r in runs]))]
    print(table(f"Daemon CPU, % of one core, {window:.0f} s windows, {len(runs)} run(s): median (min to max)",
                rows, ("condition", "value")))
    finish(args, {"window_s": window, "runs": runs})
    return 0


def one_run(window: float) -> dict:
    from tests.broker import free_port

    with tempfile.TemporaryDirectory() as scratch:
        port = free_port()
        config = Path(scratch) / "gate.yaml"
        config.write_text(yaml.safe_dump({
            "state_dir": f"{scratch}/state", "mqtt": {"enabled": False}, "ui": {"port": port},
            "simulation": {"scenario": str(ROOT / "config" / "scenarios" / "morning.yaml"), "realtime": True,
                           "loop": True}}))
        cli = [sys.executable, "-m", "edge.cli", "-c", str(config)]
        subprocess.run(cli + ["guards", "add", "--id", "1", "--name", "bench", "--pin", "1234"], cwd=ROOT, check=True,
                       capture_output=True)
        daemon = subprocess.Popen(cli + ["run"], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            url = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                try:
                    urllib.request.urlopen(url + "/api/health", timeout=1)
                    break
                except OSError:
                    time.sleep(0.2)
            login = urllib.request.Request(url + "/api/login", data=b'{"guard": "1", "pin": "1234"}', method="POST",
                                           headers={"Content-Type": "application/json", "Origin": url})
            with urllib.request.urlopen(login, timeout=5) as response:
                cookie = response.headers["Set-Cookie"].split(";")[0]
            process = psutil.Process(daemon.pid)
            cpu_percent(process, 3.0)  # warm-up
            idle = cpu_percent(process, window)
            stop = threading.Event()
            received = {"bytes": 0}

            def watch(path: str) -> None:
                try:
                    request = urllib.request.Request(url + path, headers={"Cookie": cookie})
                    with urllib.request.urlopen(request, timeout=10) as stream:
                        while not stop.is_set():
                            chunk = stream.read1(65536)
                            if not chunk:
                                break
                            received["bytes"] += len(chunk)
                except OSError:
                    pass  # the daemon went away at the end

            threads = [threading.Thread(target=watch, args=(path,), daemon=True)
                       for path in ("/api/live.mjpg", "/api/stream")]
            for thread in threads:
                thread.start()
            time.sleep(2.0)  # the streams settle; bytes are counted over the measured window only
            received["bytes"] = 0
            watched = cpu_percent(process, window)
            stop.set()
        finally:
            daemon.terminate()
            daemon.wait(timeout=30)
    return {"idle_cpu_percent": idle, "watched_cpu_percent": watched, "live_view_cost_percent": watched - idle,
            "kib_per_s": received["bytes"] / window / 1024}


if __name__ == "__main__":
    sys.exit(main())
