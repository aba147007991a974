"""The gate at rest: CPU while nobody is near, and how soon it decides once someone comes.

    python bench/idle.py [--seconds S] [--runs K] [--json PATH] [--quick]

Each run plays the daemon's own code (simulated drivers, face, thermal and QR stages; MQTT and
the touchscreen off) at 640x480 and 25 frames/s in real time, before an empty scene that does
not keep still: the light rises and falls by 15 % every 30 s, a soft shadow drifts across, leaves
flutter in a corner (or rain falls across the view) and the camera adds its own noise. After S
seconds of that, residents walk up one at a time.

- **Idle CPU** is the process's CPU time (all threads) over the empty stretch (from 5 s after
  the start, once models are loaded, to the first arrival), as a share of one core. The
  simulated cameras' own cost (moving the world and drawing its frames, measured on the thread
  that does it) is shown apart: a real camera driver's capture cost takes its place.
- **Frames searched**: frames the face detector and the code search ran on in full; **still
  looks**: the still check's search for a face on a half-width copy, while nothing moves.
- **First decision**: world time from the moment a resident's walk brings the face across 1.2 m
  to the relay command, as in `gate_latency.py`; every resident counted.

Both are measured with presence gating on (the default) and off (`pipeline.presence.enabled:
false`, the face detector on every frame), in the same session, alternating runs.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import psutil
import yaml

from common import add_plot, bar_chart, ROOT, add_runs, finish, parser, peak_rss_mb, percentile, runs_wanted, spread, table

FACES = ROOT / "config" / "scenarios" / "faces"
RESIDENTS = {"Alice": "resident_a", "Bob": "resident_b", "Chen": "resident_c", "Dana": "resident_d"}
WARMUP_S = 5.0
ARRIVAL_EVERY_S = 8.0
SCENES = {
    "leaves": {"light_change": 0.15, "shadow": True, "clutter": "leaves", "noise_sd": 2.0},
    "rain": {"light_change": 0.15, "shadow": False, "clutter": "rain", "noise_sd": 3.0},
}


def write_scenario(directory: Path, scene: str, idle_s: float, arrivals: int, seed: int) -> Path:
    names = list(RESIDENTS)
    visitors = [{"at": idle_s + ARRIVAL_EVERY_S * k, "photo": f"{RESIDENTS[names[k % 4]]}/0{3 + k % 2}.jpg",
                 "identity": names[k % 4], "expect": "granted", "distance_m": 0.7} for k in range(arrivals)]
    scenario = {"name": f"idle before {scene}", "faces_dir": str(FACES), "tail_s": 2.0, "seed": seed,
                "scene": SCENES[scene],
                "residents": [{"name": name, "photos": [f"{folder}/01.jpg", f"{folder}/02.jpg"]}
                              for name, folder in RESIDENTS.items()],
                "visitors": visitors}
    path = directory / f"idle-{scene}-{seed}.yaml"
    path.write_text(yaml.safe_dump(scenario))
    return path


class IdleMeter:
    """Samples the process's CPU and the simulated cameras' own at the empty stretch's start and end."""

    def __init__(self, idle_end_s: float) -> None:
        self.idle_end_s = idle_end_s
        self.process = psutil.Process(os.getpid())
        self.start: tuple | None = None
        self.end: tuple | None = None
        self.woken_at_start: dict = {}
        self.wakes_at_start = 0
        self.looks_at_start = 0
        self.presence: dict = {}

    def sample(self, runtime) -> tuple:
        cpu = self.process.cpu_times()
        hardware = runtime.hardware
        camera_s = getattr(hardware.camera, "render_cpu_s", 0.0) + getattr(hardware.thermal, "render_cpu_s", 0.0)
        return time.perf_counter(), cpu.user + cpu.system, camera_s

    def __call__(self, runtime) -> bool:
        now = runtime.hardware.world.now
        if self.start is None and now >= WARMUP_S:
            self.start = self.sample(runtime)
            self.woken_at_start = dict(runtime.gate.presence.stats.woken)
            self.wakes_at_start = runtime.gate.presence.stats.wakes
            self.looks_at_start = runtime.gate.presence.stats.looks
        elif self.start is not None and self.end is None and now >= self.idle_end_s:
            self.end = self.sample(runtime)
            status = runtime.gate.presence.status()
            woken = {k: v - self.woken_at_start.get(k, 0) for k, v in status["woken"].items()}
            self.presence = {**status, "woken": woken, "wakes": status["wakes"] - self.wakes_at_start,
                             "looks": status["looks"] - self.looks_at_start}
        return False

    def figures(self) -> dict:
        assert self.start is not None and self.end is not None, "the run ended before the empty stretch did"
        wall = self.end[0] - self.start[0]
        process_share = 100.0 * (self.end[1] - self.start[1]) / wall
        camera_share = 100.0 * (self.end[2] - self.start[2]) / wall
        frames = wall * 25.0
        woken = self.presence.get("woken", {})
        searched = sum(woken.values())
        return {"seconds": wall, "process_cpu_percent": process_share, "camera_twin_cpu_percent": camera_share,
                "gate_cpu_percent": process_share - camera_share,
                "frames_searched_percent": 100.0 * searched / frames,
                "woken_by_motion_per_min": woken.get("motion", 0) / (wall / 60.0),
                "wakes_per_min": self.presence.get("wakes", 0) / (wall / 60.0),
                "looks_per_min": self.presence.get("looks", 0) / (wall / 60.0), "woken": woken}


def one_run(scene: str, idle_s: float, arrivals: int, seed: int, gating: bool, directory: Path) -> dict:
    from edge.config import parse_config
    from edge.simulate import run_simulation

    scenario = write_scenario(directory, scene, idle_s, arrivals, seed)
    config = parse_config({"mqtt": {"enabled": False}, "ui": {"enabled": False},
                           "pipeline": {"presence": {"enabled": gating}}})
    meter = IdleMeter(idle_s)
    report = run_simulation(config, scenario, realtime=True, state_dir=directory / f"state-{scene}-{seed}-{gating}",
                            watch=meter)
    figures = meter.figures()
    residents = [v for v in report["visits"] if v["identity"]]
    latencies = [v["latency_ms"] for v in residents if v["latency_ms"] is not None and v["relay_pulsed"]]
    figures.update(residents=len(residents), let_in=sum(1 for v in residents if v["decision"] == "granted"),
                   first_decision_ms=latencies, missed=sum(1 for v in residents if v["decision"] is None))
    return figures


def main() -> int:
    arguments = parser(__doc__.splitlines()[0])
    arguments.add_argument("--seconds", type=float, default=None, help="length of the empty stretch (default 300, "
                                                                       "quick 12, of which the first 5 s are not "
                                                                       "counted)")
    arguments.add_argument("--scene", choices=sorted(SCENES), action="append", help="scene(s) to run (default both)")
    add_runs(arguments, default=2)
    add_plot(arguments, "idle")
    args = arguments.parse_args()
    idle_s = args.seconds or (12.0 if args.quick else 300.0)
    arrivals = 2 if args.quick else 4
    scenes = args.scene or (["leaves"] if args.quick else sorted(SCENES))
    runs = runs_wanted(args)
    results: dict[str, list[dict]] = {}
    with tempfile.TemporaryDirectory(prefix="gatepost-idle-") as scratch:
        for run in range(runs):
            for scene in scenes:
                for gating in (True, False):  # alternating: a slow minute of the machine hits both alike
                    figures = one_run(scene, idle_s, arrivals, 1 + run, gating, Path(scratch))
                    results.setdefault(f"{scene}, gating {'on' if gating else 'off'}", []).append(figures)
                    print(f"  {scene} run {run + 1} gating {'on' if gating else 'off'}: "
                          f"{figures['gate_cpu_percent']:.1f} % gate, {figures['camera_twin_cpu_percent']:.1f} % "
                          f"camera twin", file=sys.stderr)
    rows = []
    for name, group in results.items():
        latencies = [ms for figures in group for ms in figures["first_decision_ms"]]
        rows.append((name, spread([g["gate_cpu_percent"] for g in group]),
                     spread([g["camera_twin_cpu_percent"] for g in group]),
                     spread([g["frames_searched_percent"] for g in group]),
                     spread([g["wakes_per_min"] for g in group]), spread([g["looks_per_min"] for g in group]),
                     f"{sum(g['let_in'] for g in group)} of {sum(g['residents'] for g in group)}",
                     percentile(latencies, 50), percentile(latencies, 95)))
    ratio = {}
    for scene in scenes:
        on = [ms for g in results.get(f"{scene}, gating on", []) for ms in g["first_decision_ms"]]
        off = [ms for g in results.get(f"{scene}, gating off", []) for ms in g["first_decision_ms"]]
        if on and off:
            ratio[scene] = percentile(on, 95) / percentile(off, 95) if percentile(off, 95) > 0 else float("nan")
    print(table(f"The gate at rest: {idle_s:.0f} s of an empty, lively scene at 25 frames/s, then {arrivals} "
                f"residents; {runs} run(s) each, median (min to max)",
                rows, ("run", "gate CPU % of a core", "camera twin %", "frames searched %", "wakes/min",
                       "still looks/min", "residents let in", "first decision p50 ms", "p95 ms")))
    for scene, value in ratio.items():
        print(f"first decision p95, gating on over off ({scene}): {value:.2f}")
    print(f"peak RSS {peak_rss_mb():.0f} MB")
    bar_chart(args.plot, f"The gate at rest: its CPU over {idle_s:.0f} s of an empty scene at 25 frames/s (the "
                         f"simulator's rendering apart), {runs} run(s); whiskers: lowest to highest run",
              "% of one core",
              {scene: {f"gating {state}": [g["gate_cpu_percent"] for g in results.get(f"{scene}, gating {state}", [])]
                       for state in ("on", "off")} for scene in scenes})
    return finish(args, {"idle_s": idle_s, "runs": results, "p95_ratio_on_over_off": ratio,
                         "peak_rss_mb": peak_rss_mb()})


if __name__ == "__main__":
    sys.exit(main())
