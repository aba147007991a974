"""A resident's card to the relay: the time from the card reader's last bit to the relay on, at a running gate.

    python bench/card_latency.py [--trials N] [--runs R] [--json PATH] [--quick]

A simulated gate in real time (25 frames/s, the face detector running on its empty scene; `checks.card.mode:
or_face`) with the card reader's twin. Each trial taps an enrolled card at a random moment (the twin hands the
number over at the next poll, as a serial reader's line or a Wiegand frame ends) and times, on the monotonic
clock, until the relay twin reads on; the pulse then ends and the passage is awaited before the next trial. The
temperature check is off here (a card holder is still screened at a gate that screens, and waits for it): the
figure is the card path alone. Every trial counts.
"""

from __future__ import annotations

import random
import sys
import tempfile
import threading
import time
from pathlib import Path

import yaml

from common import ROOT, add_runs, finish, parser, peak_rss_mb, percentile, runs_wanted, spread, table

NUMBER = "4242001"


def one_run(trials: int, seed: int, scratch: Path) -> list[float]:
    sys.path.insert(0, str(ROOT))
    from edge.app import Runtime
    from edge.cards import CardBook
    from edge.config import parse_config

    scenario = scratch / f"empty-{seed}.yaml"
    scenario.write_text(yaml.safe_dump({"faces_dir": str(ROOT / "config/scenarios/faces"), "tail_s": 3600,
                                        "residents": [{"name": "Chen", "photos": ["resident_c/01.jpg"]}],
                                        # nobody walks up while the cards are timed (a scenario needs one visitor)
                                        "visitors": [{"at": 3600.0, "photo": "resident_c/04.jpg", "identity": "Chen",
                                                      "expect": "granted"}]}))
    config = parse_config({
        "state_dir": str(scratch / f"state-{seed}"), "mqtt": {"enabled": False}, "ui": {"enabled": False},
        "checks": {"temperature": {"mode": "off"}, "card": {"mode": "or_face"}},
        "turnstile": {"pulse_ms": 300, "passage_timeout_s": 0.5},
        "hardware": {"card_reader": {"driver": "sim"}},
        "simulation": {"scenario": str(scenario), "realtime": True, "loop": True}})
    runtime = Runtime(config, control=False, ui=False)
    CardBook(runtime.store, scratch / f"state-{seed}").enrol(NUMBER, runtime.store.residents()[0].id)
    stop = threading.Event()
    loop = threading.Thread(target=runtime.run, args=(stop.is_set,), daemon=True)
    loop.start()
    world, rng, times = runtime.hardware.world, random.Random(seed), []
    try:
        while runtime.gate.stats.frames < 25:
            time.sleep(0.01)
        for _ in range(trials):
            time.sleep(rng.uniform(0.5, 1.0))
            tapped = time.monotonic()
            world.card_reader.present(NUMBER)
            while not world.relay.state:
                time.sleep(0.0005)
            times.append((time.monotonic() - tapped) * 1000.0)
            while world.relay.state or runtime.gate.turnstile.awaiting_passage:
                time.sleep(0.01)
            time.sleep(config.pipeline.leave_after_s + 0.2)  # this visit over: the next tap is a new one
    finally:
        stop.set()
        loop.join(timeout=30)
        runtime.close()
    return times


def main() -> int:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--trials", type=int, default=None, help="cards tapped per run (default 20, quick 6)")
    add_runs(p)
    args = p.parse_args()
    trials = args.trials or (6 if args.quick else 20)
    with tempfile.TemporaryDirectory(prefix="gatepost-card-") as scratch:
        runs = [one_run(trials, seed, Path(scratch)) for seed in range(1, runs_wanted(args) + 1)]
    rows = [("trials", f"{trials} a run, {len(runs)} run(s), every one counted"),
            ("card to relay on, p50 ms", spread([percentile(r, 50) for r in runs])),
            ("card to relay on, p95 ms", spread([percentile(r, 95) for r in runs])),
            ("card to relay on, max ms", spread([max(r) for r in runs])),
            ("peak RSS MB", peak_rss_mb())]
    print(table("A resident's card to the relay (temperature check off); median (min to max) over runs", rows,
                ("figure", "value")))
    finish(args, {"trials": trials, "runs_ms": runs})
    return 0


if __name__ == "__main__":
    sys.exit(main())
