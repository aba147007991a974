"""Where a gate's memory goes: resident memory after each part of starting and running it.

    python bench/memory.py [--scenario PATH] [--json PATH] [--quick]

One process does what `gatepost run` does with simulated hardware, one step at a time, and reads
its resident set size (RSS) after each: the interpreter, numpy and OpenCV, onnxruntime, the gate's
own modules with their libraries, then a scenario played through the daemon's code (MQTT and the
touchscreen off): the face models loaded and the simulated world made (at the first frame), and
the whole run's peak. Default scenario: config/scenarios/morning.yaml, as fast as the gate can
go (quick: the first 15 s of it).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import psutil

from common import ROOT, finish, parser, peak_rss_mb, table


def rss_mb() -> float:
    return psutil.Process().memory_info().rss / 2**20


def main() -> int:
    arguments = parser(__doc__.splitlines()[0])
    arguments.add_argument("--scenario", default=str(ROOT / "config" / "scenarios" / "morning.yaml"))
    args = arguments.parse_args()
    steps: list[tuple[str, float]] = [("interpreter", rss_mb())]
    import cv2  # noqa: F401
    import numpy  # noqa: F401
    steps.append(("numpy, OpenCV", rss_mb()))
    import onnxruntime  # noqa: F401
    steps.append(("onnxruntime", rss_mb()))
    import edge.app  # noqa: F401
    from edge.config import parse_config
    from edge.simulate import run_simulation
    steps.append(("the gate's modules and their libraries (pydantic, paho-mqtt, cryptography, pyzbar, ...)",
                  rss_mb()))
    seen: dict[str, float] = {}

    def watch(runtime) -> bool:
        if "first" not in seen:
            seen["first"] = rss_mb()
        return bool(args.quick and runtime.hardware.world.now >= 15.0)

    config = parse_config({"mqtt": {"enabled": False}, "ui": {"enabled": False}})
    with tempfile.TemporaryDirectory(prefix="gatepost-memory-") as scratch:
        run_simulation(config, args.scenario, state_dir=Path(scratch) / "state", watch=watch)
    steps.append(("face models loaded, store opened, simulated world made (first frame)", seen.get("first", rss_mb())))
    steps.append(("after the scenario", rss_mb()))
    rows = [(name, f"{value:.0f}", f"{value - (steps[k - 1][1] if k else 0):+.0f}") for k, (name, value) in
            enumerate(steps)]
    rows.append(("peak over the whole run", f"{peak_rss_mb():.0f}", ""))
    print(table(f"Resident memory of one gate process, {Path(args.scenario).name}", rows, ("after", "RSS MB", "step MB")))
    finish(args, {"scenario": args.scenario, "steps_mb": dict(steps), "peak_mb": peak_rss_mb()})
    return 0


if __name__ == "__main__":
    sys.exit(main())
