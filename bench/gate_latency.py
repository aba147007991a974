"""The whole gate on a simulated rush: decision latency, throughput, CPU, memory, accuracy.

    python bench/gate_latency.py [--visitors N] [--json PATH] [--quick]

Plays a scenario of N visitors arriving every 1.5 s (residents, strangers, fevers, visitor
passes, printed photos held up) at 640x480 and 25 frames/s in real time through the daemon's
own code (simulated drivers, relay, face, thermal and QR stages). Latency runs from the first
frame that shows the visitor fully in view within reading range (1.2 m) to the relay command.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import psutil
import yaml

from common import ROOT, finish, parser, peak_rss_mb, percentile, table

FACES = ROOT / "config" / "scenarios" / "faces"
RESIDENTS = {"Alice": "resident_a", "Bob": "resident_b", "Chen": "resident_c", "Dana": "resident_d"}
STRANGERS = ["stranger_e", "stranger_f"]


def build_scenario(count: int, rng, directory: Path) -> tuple[Path, str]:
    from edge.mqtt.auth import generate_key
    from edge.qr.passes import issue_pass

    private, public = generate_key()
    now = time.time()
    token, _ = issue_pass(private, "bench", site="demo-site", gates=["*"], holder="courier", valid_from=now - 60,
                          valid_until=now + 86400, uses=10**6, kind="courier")
    visitors = []
    kinds = ["resident"] * 10 + ["stranger"] * 3 + ["fever"] * 2 + ["pass"] * 2 + ["photo"] * 2 + ["resident_far"]
    for index in range(count):
        kind = kinds[int(rng.integers(len(kinds)))]
        at = round(1.5 * index, 2)
        if kind in ("resident", "fever", "photo", "resident_far"):
            name = list(RESIDENTS)[int(rng.integers(4))]
            photo = f"{RESIDENTS[name]}/0{int(rng.integers(3, 5))}.jpg"
            visitor = {"at": at, "photo": photo, "identity": name, "distance_m": 0.7, "expect": "granted",
                       "temperature_c": round(float(rng.uniform(36.2, 36.9)), 2), "dwell_s": 4.0}
            if kind == "fever":
                visitor.update(temperature_c=round(float(rng.uniform(37.8, 39.0)), 2), expect="denied")
            if kind == "photo":
                visitor.update(presentation="photo", expect="denied")
            if kind == "resident_far":
                visitor["distance_m"] = 1.0
        else:
            stranger = STRANGERS[int(rng.integers(2))]
            visitor = {"at": at, "photo": f"{stranger}/0{int(rng.integers(1, 3))}.jpg", "expect": "denied",
                       "dwell_s": 4.0, "temperature_c": 36.6}
            if kind == "pass":
                visitor.update(qr={"payload": token, "via": "scanner"}, expect="granted")
        visitors.append(visitor)
    scenario = {"name": f"rush of {count}", "faces_dir": str(FACES), "tail_s": 3.0,
                "config": {"qr": {"passes": {"public_keys": {"bench": public}}}},
                "residents": [{"name": name, "photos": [f"{folder}/01.jpg", f"{folder}/02.jpg"]}
                              for name, folder in RESIDENTS.items()],
                "visitors": visitors}
    path = directory / "rush.yaml"
    path.write_text(yaml.safe_dump(scenario, sort_keys=False))
    return path, token


def main() -> int:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--visitors", type=int, default=None, help="visitors (default 200, quick 16)")
    args = p.parse_args()
    count = args.visitors or (16 if args.quick else 200)
    import numpy as np

    from edge.config import parse_config
    from edge.simulate import run_simulation

    rng = np.random.default_rng(8)
    process = psutil.Process(os.getpid())
    with tempfile.TemporaryDirectory() as scratch:
        scenario, _ = build_scenario(count, rng, Path(scratch))
        config = parse_config({"mqtt": {"enabled": False}, "ui": {"enabled": False}})
        cpu_before, wall_before = process.cpu_times(), time.perf_counter()
        report = run_simulation(config, scenario, realtime=True, state_dir=Path(scratch) / "state")
        cpu_after, wall = process.cpu_times(), time.perf_counter() - wall_before
    cpu = 100.0 * ((cpu_after.user - cpu_before.user) + (cpu_after.system - cpu_before.system)) / wall
    visits = report["visits"]
    latencies = [v["latency_ms"] for v in visits if v["latency_ms"] is not None]
    granted = [v for v in visits if v["decision"] == "granted"]
    false_accepts = [v for v in visits if v["expect"] == "denied" and v["decision"] == "granted"]
    false_rejects = [v for v in visits if v["expect"] == "granted" and v["decision"] != "granted"]
    residents_expected = [v for v in visits if v["expect"] == "granted" and v["identity"]]
    by_reason: dict[str, int] = {}
    for visit in false_rejects:
        reason = ",".join(c for check in visit["checks"].values() for c in [check["reason"]] if check["status"] != "pass")
        by_reason[reason or "no decision"] = by_reason.get(reason or "no decision", 0) + 1
    p50, p95, p99 = (percentile(latencies, q) for q in (50, 95, 99))
    capacity = 60.0 / (max(p95, 0) / 1000.0 + 0.6 + 1.0)  # decision + walk through + next one stepping up
    rows = [("visitors", len(visits)), ("decisions matching ground truth", f"{report['correct']}/{len(visits)}"),
            ("decision latency p50 ms", p50), ("decision latency p95 ms", p95), ("decision latency p99 ms", p99),
            ("granted visitors per minute achieved", len(granted) / (wall / 60.0)),
            ("people per minute the gate could sustain", capacity),
            ("false accepts (strangers, photos, fevers)", len(false_accepts)),
            ("false rejects of residents", f"{len(false_rejects)} of {len(residents_expected)}"),
            ("CPU, % of one core", cpu), ("peak RSS MB", peak_rss_mb())]
    print(table(f"Gate under a rush: {count} visitors every 1.5 s, 640x480 at 25 frames/s, real time", rows,
                ("figure", "value")))
    print()
    print(table("Per-stage milliseconds per frame", [(name, report["stage_ms_p50"][name], report["stage_ms_p95"][name])
                                                   for name in report["stage_ms_p50"]], ("stage", "p50", "p95")))
    for visit in false_accepts + false_rejects:
        print(f"  #{visit['index']} expect {visit['expect']} got {visit['decision']}: {'; '.join(visit['reasons'])}")
    if by_reason:
        print("false rejects by reason:", by_reason)
    finish(args, {"visitors": len(visits), "correct": report["correct"], "latency_ms": {"p50": p50, "p95": p95, "p99": p99},
                  "stage_ms_p50": report["stage_ms_p50"], "stage_ms_p95": report["stage_ms_p95"],
                  "granted_per_minute": len(granted) / (wall / 60.0), "capacity_per_minute": capacity,
                  "false_accepts": len(false_accepts), "false_rejects": len(false_rejects),
                  "false_rejects_by_reason": by_reason, "cpu_percent": cpu, "peak_rss_mb": peak_rss_mb(),
                  "seconds": wall})
    return 0


if __name__ == "__main__":
    sys.exit(main())
