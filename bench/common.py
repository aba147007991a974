"""Shared by the benchmarks: arguments, a readable table, the same figures as JSON."""

from __future__ import annotations

import argparse
import json
import platform
import resource
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def parser(description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--json", metavar="PATH", help="also write the figures as JSON")
    parser.add_argument("--quick", action="store_true", help="a short run (under a minute)")
    return parser


def add_runs(parser: argparse.ArgumentParser, default: int = 3) -> None:
    parser.add_argument("--runs", type=int, default=None,
                        help=f"repeat the measurement and print median (min to max) (default {default}, quick 1)")
    parser.set_defaults(default_runs=default)


def runs_wanted(args: argparse.Namespace) -> int:
    return args.runs or (1 if args.quick else args.default_runs)


def machine() -> dict:
    import os

    return {"machine": platform.machine(), "cpus": os.cpu_count(), "python": platform.python_version(),
            "processor": platform.processor() or platform.machine()}


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, int(round(q / 100.0 * (len(ordered) - 1)))))
    return ordered[index]


def spread(values: list) -> str:
    """median (min-max) of one figure over repeated runs; n/a where no run had it."""
    import statistics

    values = [v for v in values if isinstance(v, (int, float)) and v == v]
    if not values:
        return "n/a"
    if len(values) == 1:
        return _number(values[0])
    return f"{_number(statistics.median(values))} ({_number(min(values))} to {_number(max(values))})"


def _number(value: float) -> str:
    if abs(value) >= 100 or float(value).is_integer():
        return f"{value:.0f}"
    return f"{value:.1f}" if abs(value) >= 10 else f"{value:.3g}"


def table(title: str, rows: list[tuple], headers: tuple) -> str:
    cells = [tuple(str(c) for c in headers)] + [tuple(_fmt(c) for c in row) for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = [title, "  ".join(h.ljust(w) for h, w in zip(cells[0], widths)),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths)) for row in cells[1:]]
    return "\n".join(lines)


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.3f}" if abs(value) < 10 else f"{value:.1f}"
    return str(value)


def finish(args: argparse.Namespace, figures: dict) -> None:
    figures = {"machine": machine(), **figures}
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2))
        print(f"\nfigures written to {args.json}")


def add_cpus(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--cpus", type=float, default=None,
                        help="run on this many cores: pinned to the first ceil(N), and held to N cores' time by a "
                             "CPU quota (a control group; e.g. 1, or 0.5 for half a core)")


def limit_cpus(cpus: float | None) -> str:
    """Pin this process to ceil(cpus) cores and hold it to `cpus` cores' time; what was done, in words.

    The quota comes from a control group of its own (cgroup v2 `cpu.max`, else v1 `cpu.cfs_quota_us`), which
    needs root. Without one the run stops: a figure labelled half a core must not come from more."""
    import math
    import os

    if cpus is None:
        return "all cores"
    if cpus <= 0:
        raise SystemExit("--cpus: must be more than 0")
    cores = sorted(os.sched_getaffinity(0))[:math.ceil(cpus)]
    os.sched_setaffinity(0, cores)
    period = 100_000
    quota = int(round(cpus * period))
    name = f"gatepost-bench-{os.getpid()}"
    for root, marker, limit in ((Path("/sys/fs/cgroup/unified"), "cgroup.controllers", "cpu.max"),
                                (Path("/sys/fs/cgroup"), "cgroup.controllers", "cpu.max"),
                                (Path("/sys/fs/cgroup/cpu"), "cpu.cfs_quota_us", "cpu.cfs_quota_us")):
        if not (root / marker).exists():
            continue  # not a control group hierarchy here (a plain folder would take any file written to it)
        group = root / name
        for stale in root.glob("gatepost-bench-*"):  # left by earlier runs; one still running is not empty
            try:
                stale.rmdir()
            except OSError:
                pass
        try:
            group.mkdir(exist_ok=True)
            if limit == "cpu.max":
                (group / "cpu.max").write_text(f"{quota} {period}")
            else:
                (group / "cpu.cfs_period_us").write_text(str(period))
                (group / "cpu.cfs_quota_us").write_text(str(quota))
            (group / "cgroup.procs").write_text(str(os.getpid()))
            return f"cores {cores}, quota {cpus:g} of a core ({group})"
        except OSError:
            try:
                group.rmdir()
            except OSError:
                pass
    raise SystemExit(f"--cpus {cpus:g}: no control group with a CPU quota could be made here (run as root, on a "
                     f"machine with the cpu controller)")
