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


def add_plot(parser: argparse.ArgumentParser, name: str) -> None:
    parser.add_argument("--plot", metavar="PNG", default=None,
                        help=f"also draw the figures as a PNG (docs/plots/{name}.png is the documentation's; "
                             "needs matplotlib: pip install -e '.[bench]')")


def bar_chart(path: str | None, title: str, ylabel: str, groups: dict[str, dict[str, list[float]]]) -> None:
    """Grouped bars, one group per label and one bar per series: the median of the runs, whiskers from the lowest
    to the highest run (the spread the tables print as min-max)."""
    if not path:
        return
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("no plot: matplotlib is not installed (pip install -e '.[bench]')")
        return
    import numpy as np

    labels = list(groups)
    series = list(dict.fromkeys(name for values in groups.values() for name in values))
    width = 0.8 / max(1, len(series))
    figure, axis = plt.subplots(figsize=(max(6.0, 1.2 * len(labels) + 2), 4.2))
    for index, name in enumerate(series):
        runs = [[float(v) for v in groups[label].get(name, []) if isinstance(v, (int, float)) and v == v]
                for label in labels]  # a world without such a visitor has no figure (None or NaN)
        middle = [float(np.median(r)) if r else 0.0 for r in runs]
        low = [m - min(r) if r else 0.0 for m, r in zip(middle, runs)]
        high = [max(r) - m if r else 0.0 for m, r in zip(middle, runs)]
        positions = [i + (index - (len(series) - 1) / 2) * width for i in range(len(labels))]
        axis.bar(positions, middle, width, yerr=[low, high], capsize=3, label=name)
    axis.set_xticks(range(len(labels)), labels, rotation=15, ha="right")
    axis.set_ylabel(ylabel)
    axis.set_title(title, fontsize=10)
    axis.grid(True, axis="y", alpha=0.3)
    if len(series) > 1:
        axis.legend(fontsize=8)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(figure)
    print(f"plot written to {path}")
