"""Fire alarm to every lane free: the time from the fire panel's contact opening to the relay held on, with the
gate's frame loop stalled.

    python bench/fire_release.py [--trials N] [--stall S] [--runs R] [--json PATH] [--quick]

A simulated gate (morning scenario, real time, 25 frames/s) with a normally-closed fire input (debounce 20 ms)
on the simulated I/O board. Each trial stalls the frame loop for `--stall` seconds (default 10, quick 2), opens
the fire contact at a random moment within the stall, and times until the relay reads on, on the monotonic
clock: the clock starts when the contact opens and stops when the relay twin holds the new state. Then the
contact closes, the hold (0.2 s) passes and the lanes are released before the next trial. Every trial counts.
"""

from __future__ import annotations

import random
import sys
import tempfile
import threading
import time
from pathlib import Path

from common import ROOT, add_runs, finish, parser, peak_rss_mb, percentile, runs_wanted, spread, table

DEBOUNCE_MS = 20


def one_run(trials: int, stall_s: float, seed: int, scratch: Path) -> list[float]:
    sys.path.insert(0, str(ROOT))
    from edge.app import Runtime
    from edge.config import parse_config

    config = parse_config({
        "state_dir": str(scratch / f"state-{seed}"), "mqtt": {"enabled": False}, "ui": {"enabled": False},
        "simulation": {"scenario": str(ROOT / "config/scenarios/morning.yaml"), "realtime": True, "loop": True},
        "hardware": {"io": {"driver": "sim", "fire_release_hold_s": 0.2,
                            "inputs": {"fire_alarm": {"contact": "normally_closed", "debounce_ms": DEBOUNCE_MS}}}}})
    runtime = Runtime(config, control=False, ui=False)
    stop = threading.Event()
    loop = threading.Thread(target=runtime.run, args=(stop.is_set,), daemon=True)
    loop.start()
    io, relay, rng = runtime.site_io.io, runtime.hardware.world.relay, random.Random(seed)
    times = []
    try:
        for _ in range(trials):
            stalled = threading.Event()
            runtime.gate.call_soon(lambda stalled=stalled: (stalled.set(), time.sleep(stall_s)))
            stalled.wait(30)
            time.sleep(rng.uniform(0.0, stall_s / 2))
            opened = time.monotonic()
            io.close_contact("fire_alarm", False)
            while not relay.state:
                time.sleep(0.0005)
            times.append((time.monotonic() - opened) * 1000.0)
            io.close_contact("fire_alarm", True)
            while relay.state or runtime.site_io.fire:
                time.sleep(0.01)
    finally:
        stop.set()
        loop.join(timeout=stall_s + 30)
        runtime.close()
    return times


def main() -> int:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--trials", type=int, default=None, help="fire alarms per run (default 10, quick 5)")
    p.add_argument("--stall", type=float, default=None, help="seconds the frame loop stalls (default 10, quick 2)")
    add_runs(p)
    args = p.parse_args()
    trials = args.trials or (5 if args.quick else 10)
    stall_s = args.stall or (2.0 if args.quick else 10.0)
    with tempfile.TemporaryDirectory(prefix="gatepost-fire-") as scratch:
        runs = [one_run(trials, stall_s, seed, Path(scratch)) for seed in range(1, runs_wanted(args) + 1)]
    rows = [("trials", f"{trials} a run, {len(runs)} run(s), every one counted"),
            ("contact open to relay on, p50 ms", spread([percentile(r, 50) for r in runs])),
            ("contact open to relay on, p95 ms", spread([percentile(r, 95) for r in runs])),
            ("contact open to relay on, max ms", spread([max(r) for r in runs])),
            ("of which the debounce, ms", DEBOUNCE_MS),
            ("peak RSS MB", peak_rss_mb())]
    print(table(f"Fire alarm to every lane free, the frame loop stalled {stall_s:g} s; median (min to max) over runs",
                rows, ("figure", "value")))
    finish(args, {"trials": trials, "stall_s": stall_s, "debounce_ms": DEBOUNCE_MS, "runs_ms": runs})
    return 0


if __name__ == "__main__":
    sys.exit(main())
