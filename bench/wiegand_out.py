"""Wiegand output timing, as this code achieves it: pulse widths and bit intervals on the twin.

    python bench/wiegand_out.py [--frames N] [--runs R] [--json PATH] [--quick]

The twin (drivers/wiegand_out.py) runs the same timing loop as the GPIO driver, in the same process
of its own (the "wire"), and notes the clock where the GPIO driver would set a line, so what is
measured is the timing of this loop, not of the wire (a libgpiod set_value adds a few µs on a Pi).
Random 26-bit frames at the defaults (50 µs pulses, 2 ms apart), with nothing else running and
beside a running simulated gate (25 frames/s, the face detector on its empty scene), each with the
wire at real-time priority (SCHED_FIFO, where this user may ask for it) and without.
Each pulse and each interval counts; out of the Wiegand spec means a pulse outside 20-100 µs or
an interval outside 200 µs-20 ms. Frames read back are decoded as a controller would.
"""

from __future__ import annotations

import random
import sys
import tempfile
import threading
import time
from pathlib import Path

import yaml

from common import ROOT, add_runs, finish, parser, percentile, runs_wanted, spread, table

sys.path.insert(0, str(ROOT))


def send_frames(count: int, seed: int, realtime: bool) -> dict:
    from drivers.wiegand import encode
    from drivers.wiegand_out import SimWiegandOutput

    rng = random.Random(seed)
    sent = [(rng.randrange(256), rng.randrange(65536)) for _ in range(count)]
    with SimWiegandOutput(realtime=realtime) as output:
        granted = output.realtime
        for facility, card in sent:
            output.send(encode(facility, card, 26))
            output.wait_idle(10)
        pulses = list(output.pulses)
        read = [(c.facility, c.card) if c else None for c in output.cards()]
    widths = [(end - start) * 1e6 for _, start, end in pulses]
    intervals = [(pulses[i + 1][1] - pulses[i][1]) * 1e6 for i in range(len(pulses) - 1) if (i + 1) % 26]
    return {"widths_us": widths, "intervals_us": intervals, "frames": count, "realtime": granted,
            "read_back": sum(1 for a, b in zip(read, sent) if a == b),
            "out_of_spec": sum(1 for w in widths if not 20 <= w <= 100) +
            sum(1 for i in intervals if not 200 <= i <= 20000)}


def beside_a_gate(count: int, seed: int, scratch: Path, realtime: bool) -> dict:
    from edge.app import Runtime
    from edge.config import parse_config

    scenario = scratch / f"empty-{seed}.yaml"
    scenario.write_text(yaml.safe_dump({"faces_dir": str(ROOT / "config/scenarios/faces"), "tail_s": 3600,
                                        "residents": [{"name": "Chen", "photos": ["resident_c/01.jpg"]}],
                                        "visitors": [{"at": 3600.0, "photo": "resident_c/04.jpg", "identity": "Chen",
                                                      "expect": "granted"}]}))
    config = parse_config({"state_dir": str(scratch / f"state-{seed}"), "mqtt": {"enabled": False},
                           "ui": {"enabled": False}, "pipeline": {"presence": {"enabled": False}},
                           "simulation": {"scenario": str(scenario), "realtime": True, "loop": True}})
    runtime = Runtime(config, control=False, ui=False)
    stop = threading.Event()
    loop = threading.Thread(target=runtime.run, args=(stop.is_set,), daemon=True)
    loop.start()
    try:
        while runtime.gate.stats.frames < 25:
            time.sleep(0.01)
        return send_frames(count, seed, realtime)
    finally:
        stop.set()
        loop.join(timeout=30)
        runtime.close()


def rows_for(name: str, runs: list[dict]) -> list[tuple]:
    return [(name, "real-time scheduling granted", ", ".join(sorted({"yes" if r["realtime"] else "no" for r in runs}))),
            (name, "pulses", spread([len(r["widths_us"]) for r in runs])),
            (name, "pulse width µs, min", spread([min(r["widths_us"]) for r in runs])),
            (name, "pulse width µs, p50", spread([percentile(r["widths_us"], 50) for r in runs])),
            (name, "pulse width µs, p99", spread([percentile(r["widths_us"], 99) for r in runs])),
            (name, "pulse width µs, max", spread([max(r["widths_us"]) for r in runs])),
            (name, "interval µs, p50", spread([percentile(r["intervals_us"], 50) for r in runs])),
            (name, "interval µs, p99", spread([percentile(r["intervals_us"], 99) for r in runs])),
            (name, "interval µs, max", spread([max(r["intervals_us"]) for r in runs])),
            (name, "pulses or intervals out of spec", spread([r["out_of_spec"] for r in runs])),
            (name, "pulses above 100 µs", spread([sum(1 for w in r["widths_us"] if w > 100) for r in runs])),
            (name, "intervals above 20 ms", spread([sum(1 for i in r["intervals_us"] if i > 20000) for r in runs])),
            (name, "frames read back wrong", spread([r["frames"] - r["read_back"] for r in runs]))]


def main() -> int:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--frames", type=int, default=None, help="frames a run and condition (default 200, quick 40)")
    add_runs(p)
    args = p.parse_args()
    frames = args.frames or (40 if args.quick else 200)
    seeds = range(1, runs_wanted(args) + 1)
    figures, rows = {"frames": frames}, []
    for realtime in (True, False):
        label = "SCHED_FIFO asked" if realtime else "ordinary scheduling"
        alone = [send_frames(frames, seed, realtime) for seed in seeds]
        with tempfile.TemporaryDirectory(prefix="gatepost-wiegand-") as scratch:
            busy = [beside_a_gate(frames, seed, Path(scratch), realtime) for seed in seeds]
        rows += rows_for(f"alone, {label}", alone) + rows_for(f"beside a running gate, {label}", busy)
        figures[label] = {"alone": alone, "beside_a_gate": busy}
    print(table(f"Wiegand 26 output on the twin, {frames} frames a run, {len(seeds)} run(s); median (min to max) "
                "over runs", rows, ("condition", "figure", "value")))
    finish(args, figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
