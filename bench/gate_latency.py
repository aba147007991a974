"""The whole gate on a simulated rush: decision latency, throughput, CPU, memory, accuracy.

    python bench/gate_latency.py [--visitors N] [--queue N] [--seeds K] [--slow-ms MS] [--gallery N] [--thermal-hz HZ] [--sub-pages N] [--camera WxH] [--refused-dwell S] [--cpus N] [--json PATH] [--quick]

Two runs through the daemon's own code (simulated drivers, relay, face, thermal and QR stages) at
640x480 and 25 frames/s in real time, the thermal twin at its sensor's own pace:

1. A rush of N visitors arriving every 1.5 s (residents, strangers, fevers, visitor passes,
   printed photos held up): decision latency, accuracy against ground truth, per-stage times,
   CPU and memory, and the alarms each person raised while at the gate (a fever, a photo: one
   each, however long they stay; `--refused-dwell` keeps them there). **Latency** is world
   time, not frame time: from the moment the visitor's walk brings the face across 1.2 m
   (where the thermal reading, the last check to become possible, first can be made; for a
   visitor pass, the moment it is shown if later) to the relay command, on the wall clock the
   simulator keeps in step with, so time the gate spent busy and frames it skipped count. Every
   opening is counted, unclamped: a decision made before the line (the face already recognised
   and a trusted reading just outside 1.2 m) is negative.
2. A queue of residents that never runs dry: the people per minute the gate lets through, and
   the time from stepping out of the queue to the gate opening (what a person waits). One at a
   time: the next person steps up (2.6 m to 0.7 m in 1 s) once the one in front has passed (0.6 s
   after the opening). The queue runs again with every opening delayed by `--slow-ms` on
   purpose: the difference is what the gate's own speed contributes to the people per minute;
   the rest is walking.

Each seed is its own world: thermal physics drawn from published ranges (the gate is not told
them: drivers/sim/thermal_model.py), healthy people's temperatures around that world's mean,
sensor noise, and who arrives when. A person the screen asks to step closer does so a second
later (drivers/sim/world.py). Figures are the median over seeds with the range beside it.

`--cpus 1` runs it all on one core, `--cpus 0.5` on half of one (a CPU quota): a Pi-class budget.
The simulator's rendering shares that budget, as a camera driver's capture would.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import psutil
import yaml

from common import ROOT, add_cpus, add_plot, bar_chart, finish, limit_cpus, parser, peak_rss_mb, percentile, spread, table

FACES = ROOT / "config" / "scenarios" / "faces"
RESIDENTS = {"Alice": "resident_a", "Bob": "resident_b", "Chen": "resident_c", "Dana": "resident_d"}
STRANGERS = ["stranger_e", "stranger_f"]
ARRIVAL_EVERY_S = 1.5
# Refused visitors read the red screen and step aside; strangers wait out the decision window
# (they might still show a pass).
DWELL_S = {"fever": 2.0, "photo": 2.0, "stranger": 4.0}
PERSON_ALARMS = ("fever", "spoof", "no_reading")  # raised once per person at the gate (edge/alarm_memory.py)


def build_rush(count: int, rng, directory: Path, *, every_s: float = ARRIVAL_EVERY_S,
               kinds: list[str] | None = None, seed: int = 1, refused_dwell_s: float = 0.0) -> Path:
    from edge.mqtt.auth import generate_key
    from edge.qr.passes import issue_pass

    private, public = generate_key()
    now = time.time()
    token, _ = issue_pass(private, "bench", site="demo-site", gates=["*"], holder="courier", valid_from=now - 60,
                          valid_until=now + 86400, uses=10**6, kind="courier")
    kinds = kinds or ["resident"] * 10 + ["stranger"] * 3 + ["fever"] * 2 + ["pass"] * 2 + ["photo"] * 2 + ["resident_far"]
    visitors = []
    for index in range(count):
        kind = kinds[int(rng.integers(len(kinds)))]
        at = round(every_s * index, 2)
        if kind in ("resident", "fever", "photo", "resident_far"):
            name = list(RESIDENTS)[int(rng.integers(4))]
            photo = f"{RESIDENTS[name]}/0{int(rng.integers(3, 5))}.jpg"
            # a healthy temperature drawn by the world, around its people's mean (drivers/sim/thermal_model.py)
            visitor = {"at": at, "photo": photo, "identity": name, "distance_m": 0.7, "expect": "granted",
                       "dwell_s": 4.0}
            if kind == "fever":
                visitor.update(temperature_c=round(float(rng.uniform(37.8, 39.0)), 2), expect="denied")
            if kind == "photo":
                visitor.update(presentation="photo", expect="denied")
            if kind == "resident_far":
                visitor["distance_m"] = 1.0
        else:
            stranger = STRANGERS[int(rng.integers(2))]
            visitor = {"at": at, "photo": f"{stranger}/0{int(rng.integers(1, 3))}.jpg", "expect": "denied",
                       "dwell_s": 4.0}
            if kind == "pass":
                visitor.update(qr={"payload": token, "via": "scanner"}, expect="granted")
        visitor["dwell_s"] = refused_dwell_s if refused_dwell_s and kind in ("fever", "photo") else \
            DWELL_S.get(kind, visitor["dwell_s"])
        visitors.append(visitor)
    scenario = {"name": f"rush of {count}", "faces_dir": str(FACES), "tail_s": 3.0, "seed": seed, "physics": "drawn",
                "config": {"qr": {"passes": {"public_keys": {"bench": public}}}},
                "residents": [{"name": name, "photos": [f"{folder}/01.jpg", f"{folder}/02.jpg"]}
                              for name, folder in RESIDENTS.items()],
                "visitors": visitors}
    path = directory / f"rush-{count}-{every_s}-{seed}.yaml"
    path.write_text(yaml.safe_dump(scenario, sort_keys=False))
    return path


def grow_gallery(state_dir: Path, residents: int) -> int:
    """Enrol `residents` people of the development face sets (bench/face_data.py) before the gate starts.

    Their templates come from the same detector, quality gate and embedder as any enrolment
    (bench/face_embeddings.py caches them); the scenario's own residents are enrolled on top.
    """
    import numpy as np

    from edge.config import FaceConfig
    from edge.face.setup import build_engine
    from edge.store import Gallery, Store
    from face_embeddings import SAME_PERSON_AT, concat, load_set, same_people
    from face_identification import default_data
    from models import MODELS_DIR

    if residents <= 0:
        return 0
    folders = [f for f in default_data() if "shared" not in f.parts]
    if not folders:
        raise SystemExit("gate_latency: --gallery needs the development face sets; see bench/face_data.py")
    engine = build_engine(FaceConfig(), Gallery(np.zeros((0, 0), np.float32), np.zeros(0, np.int64),
                                                np.zeros(0, bool), {}, 0))
    faces = concat([load_set(f, engine, models_dir=MODELS_DIR, progress=False) for f in folders])
    usable = faces.select(~faces.refused & (faces.poses != "profile"))
    aliases = same_people(usable)
    identities = np.array([aliases.get(i, i) for i in usable.identities])
    # the scenario's own people (celebrities, some also in the development sets) must not be enrolled twice
    scenario = np.stack([embedding for p in sorted(FACES.glob("*/*.jpg"))
                         if (embedding := _embed_or_none(engine, p)) is not None])
    same_as_scenario = set(identities[(usable.embeddings @ scenario.T).max(axis=1) >= SAME_PERSON_AT].tolist())
    people = sorted(set(identities.tolist()) - same_as_scenario)[:residents]
    if len(people) < residents:
        print(f"gate_latency: the development sets hold {len(people)} people besides the scenario's "
              f"({len(same_as_scenario)} of them left out); enrolling all of them", file=sys.stderr)
    with Store(state_dir) as store:
        for person in people:
            first = int(np.flatnonzero(identities == person)[0])
            store.add_resident(person, "", [usable.embeddings[first]], [0.0], ["development set"])
    return len(people)


def _embed_or_none(engine, path: Path):
    from edge.images import read_image
    from edge.errors import EnrolmentError

    try:
        return engine.template_from_photo(read_image(path), source=path.name)[0]
    except EnrolmentError:  # a scenario photo with a second face behind (the tailgater's)
        return None


HARDWARE: dict = {}  # --thermal-hz, --sub-pages, --camera: the devices every run uses


def simulate(scenario: Path, state_dir: Path, *, gallery: int = 0) -> tuple[dict, float, float]:
    """(report, wall seconds, CPU % of one core) for one real-time run."""
    from edge.config import parse_config
    from edge.simulate import run_simulation

    grown = grow_gallery(state_dir, gallery)
    process = psutil.Process(os.getpid())
    config = parse_config({"mqtt": {"enabled": False}, "ui": {"enabled": False}, "hardware": HARDWARE})
    cpu_before, wall_before = process.cpu_times(), time.perf_counter()
    report = run_simulation(config, scenario, realtime=True, state_dir=state_dir)
    report["extra_residents"] = grown
    cpu_after, wall = process.cpu_times(), time.perf_counter() - wall_before
    cpu = 100.0 * ((cpu_after.user - cpu_before.user) + (cpu_after.system - cpu_before.system)) / wall
    return report, wall, cpu


FAR_KIND = "resident stopping at 1 m"  # beyond where the canthi are resolved: asked to step closer


def kind_of(visit: dict) -> str:
    if visit["expect"] == "granted" and visit["identity"]:
        return FAR_KIND if visit["stopped_at_m"] > 0.9 else "resident"
    if visit["expect"] == "granted":
        return "visitor pass"
    if visit["presentation"] != "live":
        return "photo"
    return "fever" if visit["identity"] else "stranger"


def rush_figures(report: dict, wall: float) -> dict:
    visits = report["visits"]
    opened = [v for v in visits if v["relay_pulsed"] and v["latency_ms"] is not None]
    latencies = [v["latency_ms"] for v in opened]
    false_accepts = [v for v in visits if v["expect"] == "denied" and v["decision"] == "granted"]
    false_rejects = [v for v in visits if v["expect"] == "granted" and v["decision"] != "granted"]
    refused_residents = [v for v in false_rejects if v["identity"]]
    by_reason: dict[str, int] = {}  # residents refused, by the machine code of each failing check
    for visit in refused_residents:
        failing = [check["code"] for check in visit["checks"].values() if check["status"] != "pass"]
        reason = ",".join(failing) or "no decision"
        by_reason[reason] = by_reason.get(reason, 0) + 1
    by_kind: dict[str, dict] = {}
    for kind in ("resident", FAR_KIND, "visitor pass", "stranger", "fever", "photo"):
        group = [v for v in visits if kind_of(v) == kind]
        decided = [v["latency_ms"] for v in group if v["latency_ms"] is not None]
        let_in = [v["latency_ms"] for v in group if v["latency_ms"] is not None and v["relay_pulsed"]]
        person_alarms = sum(1 for v in group for alarm in v.get("alarms", ()) if alarm in PERSON_ALARMS)
        by_kind[kind] = {"visitors": len(group), "correct": sum(v["correct"] for v in group),
                         "person_alarms": person_alarms,
                         "decision_ms_p50": percentile(decided, 50), "decision_ms_p95": percentile(decided, 95),
                         "opened_ms_p95": percentile(let_in, 95)}
    return {
        "visitors": len(visits), "correct": report["correct"],
        "latency_ms": {q: percentile(latencies, int(q[1:])) for q in ("p50", "p95", "p99")},
        "latency_min_ms": min(latencies, default=float("nan")), "latency_max_ms": max(latencies, default=float("nan")),
        "openings": sum(1 for v in visits if v["relay_pulsed"]), "openings_timed": len(opened),
        "decided_before_the_line": sum(1 for v in opened if v["latency_ms"] < 0),
        "by_kind": by_kind,
        "false_accepts": len(false_accepts), "false_rejects": len(refused_residents),
        "false_rejects_of_passes": len(false_rejects) - len(refused_residents),
        "residents_expected": sum(1 for v in visits if v["expect"] == "granted" and v["identity"]),
        "false_rejects_by_reason": by_reason, "mistakes": false_accepts + false_rejects,
        "stage_ms_p50": report["stage_ms_p50"], "stage_ms_p95": report["stage_ms_p95"],
        "visitors_per_minute_handled": len(visits) / (wall / 60.0), "seconds": wall,
        "frames_per_second": report["frames"] / wall, "region_share": region_share(report["detection"]),
    }


def region_share(detection: dict | None) -> float:
    """The share of the frames searched on which the detector looked only around the faces already tracked."""
    looked = detection["whole_frames"] + detection["region_frames"] if detection else 0
    return detection["region_frames"] / looked if looked else float("nan")


def alarms_per_person(kind: dict) -> float:
    return kind["person_alarms"] / kind["visitors"] if kind["visitors"] else float("nan")


def queue_figures(report: dict) -> dict:
    """Residents let through per minute, from the first passage to the last."""
    passages = sorted(v["passed_at"] for v in report["visits"] if v["passed_at"] is not None)
    span = passages[-1] - passages[0] if len(passages) > 1 else float("nan")
    walk_up = [v["opened_at"] - v["stepped_up_at"] for v in report["visits"]
               if v["opened_at"] is not None and v["stepped_up_at"] is not None]
    return {"residents": len(report["visits"]), "passed": len(passages), "correct": report["correct"],
            "people_per_minute": 60.0 * (len(passages) - 1) / span if span == span and span > 0 else float("nan"),
            "step_up_to_open_s": {"p50": percentile(walk_up, 50), "p95": percentile(walk_up, 95)}}


class SlowedOpenings:
    """Every opening delayed on purpose (benchmark only): what the gate's own speed is worth in people a minute."""

    def __init__(self, delay_s: float) -> None:
        self.delay_s = delay_s

    def __enter__(self) -> "SlowedOpenings":
        from edge.turnstile import Turnstile

        self._original = Turnstile.open

        def slow_open(turnstile, *args, **kwargs):
            time.sleep(self.delay_s)
            return self._original(turnstile, *args, **kwargs)

        Turnstile.open = slow_open
        return self

    def __exit__(self, *exc: object) -> None:
        from edge.turnstile import Turnstile

        Turnstile.open = self._original


def one_seed(seed: int, count: int, queue: int, slow_ms: float, gallery: int, refused_dwell_s: float = 0.0) -> dict:
    """One world (drawn thermal physics, noise, who comes when) through the rush and both queues."""
    import numpy as np

    with tempfile.TemporaryDirectory() as scratch:
        directory = Path(scratch)
        rush_report, rush_wall, cpu = simulate(
            build_rush(count, np.random.default_rng(8 + 100 * seed), directory, seed=seed,
                       refused_dwell_s=refused_dwell_s),
            directory / "rush-state", gallery=gallery)
        # arrivals every 0.5 s: always someone waiting, so the gate sets the pace
        queue_scenario = build_rush(queue, np.random.default_rng(9 + 100 * seed), directory, every_s=0.5,
                                    kinds=["resident"], seed=seed)
        queue_report, _, _ = simulate(queue_scenario, directory / "queue-state", gallery=gallery)
        with SlowedOpenings(slow_ms / 1000.0):
            slowed_report, _, _ = simulate(queue_scenario, directory / "slowed-state", gallery=gallery)
    return {"seed": seed, "rush": rush_figures(rush_report, rush_wall), "queue": queue_figures(queue_report),
            "queue_slowed": {**queue_figures(slowed_report), "delay_ms": slow_ms}, "cpu_percent": cpu,
            "extra_residents": rush_report["extra_residents"]}


def main() -> int:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--visitors", type=int, default=None, help="visitors in the rush (default 200, quick 12)")
    p.add_argument("--queue", type=int, default=None, help="residents in the endless queue (default 80, quick 3)")
    p.add_argument("--seeds", type=int, default=None, help="worlds run, each its own thermal physics, noise and "
                                                          "arrivals (default 3, quick 1)")
    p.add_argument("--slow-ms", type=float, default=300.0, help="delay added to every opening in the second queue run")
    p.add_argument("--gallery", type=int, default=0,
                   help="enrol this many people of the development face sets too (e.g. 1000; bench/face_data.py)")
    p.add_argument("--thermal-hz", type=float, default=0.0,
                   help="the thermal twin's frame rate (e.g. 4, an MLX90640's; default its sensor's own, 8.7)")
    p.add_argument("--sub-pages", type=int, default=0, choices=(0, 1, 2),
                   help="parts the twin measures a frame in, each handed over as it arrives (2: an MLX90640's "
                        "chess pattern; default its sensor's own, 1)")
    p.add_argument("--camera", default="640x480", help="colour frame size, e.g. 1280x720")
    p.add_argument("--refused-dwell", type=float, default=0.0,
                   help="seconds a feverish person or a photo holder stays at the gate after stepping up (default "
                        f"{DWELL_S['fever']:g}: they read the red screen and step aside; e.g. 20 to see one alarm a "
                        "person)")
    add_cpus(p)
    add_plot(p, "gate_latency")
    args = p.parse_args()
    cpus = limit_cpus(args.cpus)
    width, height = (int(v) for v in args.camera.lower().split("x"))
    HARDWARE.update({"camera": {"width": width, "height": height},
                     "thermal": {"rate_hz": args.thermal_hz, "sub_pages": args.sub_pages}})
    count = args.visitors or (12 if args.quick else 200)
    queue = args.queue or (3 if args.quick else 80)
    seeds = list(range(1, 1 + (args.seeds or (1 if args.quick else 3))))
    runs = [one_seed(seed, count, queue, args.slow_ms, args.gallery, args.refused_dwell) for seed in seeds]

    def over(pick) -> str:
        return spread([pick(run) for run in runs])

    rows = [("visitors", count),
            ("decisions matching ground truth", over(lambda r: r["rush"]["correct"])),
            ("openings", over(lambda r: r["rush"]["openings"])),
            ("  of which decided before the 1.2 m line (negative)", over(lambda r: r["rush"]["decided_before_the_line"])),
            ("line to relay command p50 ms", over(lambda r: r["rush"]["latency_ms"]["p50"])),
            ("line to relay command p95 ms", over(lambda r: r["rush"]["latency_ms"]["p95"])),
            ("line to relay command p99 ms", over(lambda r: r["rush"]["latency_ms"]["p99"])),
            ("line to relay command min ms", over(lambda r: r["rush"]["latency_min_ms"])),
            ("line to relay command max ms", over(lambda r: r["rush"]["latency_max_ms"])),
            ("false accepts (strangers, photos, fevers)", over(lambda r: r["rush"]["false_accepts"])),
            ("false rejects of residents", over(lambda r: r["rush"]["false_rejects"])),
            ("false rejects of visitor passes", over(lambda r: r["rush"]["false_rejects_of_passes"])),
            (f"alarms (fever, spoof, no reading) per feverish person, staying {args.refused_dwell or DWELL_S['fever']:g} s",
             over(lambda r: alarms_per_person(r["rush"]["by_kind"]["fever"]))),
            (f"the same per photo held up, staying {args.refused_dwell or DWELL_S['photo']:g} s",
             over(lambda r: alarms_per_person(r["rush"]["by_kind"]["photo"]))),
            ("residents expected", over(lambda r: r["rush"]["residents_expected"])),
            ("visitors handled per minute (arrivals every 1.5 s)",
             over(lambda r: r["rush"]["visitors_per_minute_handled"])),
            ("people per minute sustained (endless queue of residents)", over(lambda r: r["queue"]["people_per_minute"])),
            (f"  the same with every opening {args.slow_ms:.0f} ms later",
             over(lambda r: r["queue_slowed"]["people_per_minute"])),
            ("  queue: residents let through", over(lambda r: r["queue"]["passed"])),
            ("  queue: stepping out of the queue to the gate opening, p50 s",
             over(lambda r: r["queue"]["step_up_to_open_s"]["p50"])),
            ("  queue: stepping out of the queue to the gate opening, p95 s",
             over(lambda r: r["queue"]["step_up_to_open_s"]["p95"])),
            ("frames processed per second (rush; the camera gives 25)",
             over(lambda r: r["rush"]["frames_per_second"])),
            ("frames searched looking only around the faces tracked, % (rush)",
             over(lambda r: 100.0 * r["rush"]["region_share"])),
            ("CPU, % of one core (rush)", over(lambda r: r["cpu_percent"])), ("peak RSS MB (all runs)", peak_rss_mb())]
    print(table(f"Gate under a rush: {count} visitors every {ARRIVAL_EVERY_S} s, {width}x{height} at 25 frames/s, "
                f"thermal at {f'{args.thermal_hz:g} Hz' if args.thermal_hz else 'its sensor rate'}"
                f"{' in two sub-pages' if args.sub_pages == 2 else ''}, real time, "
                f"{runs[0]['extra_residents']} development-set residents besides the scenario's; {cpus}; "
                f"{len(seeds)} seeds: median (min-max)", rows, ("figure", "value")))
    print()
    kinds = list(runs[0]["rush"]["by_kind"])
    print(table("Line to relay command, by visitor (ms, world time; strangers wait out the window for a pass); "
                "median (min-max) over seeds",
                [(kind, over(lambda r, k=kind: r["rush"]["by_kind"].get(k, {}).get("visitors")),
                  over(lambda r, k=kind: r["rush"]["by_kind"].get(k, {}).get("correct")),
                  over(lambda r, k=kind: r["rush"]["by_kind"].get(k, {}).get("decision_ms_p50")),
                  over(lambda r, k=kind: r["rush"]["by_kind"].get(k, {}).get("decision_ms_p95")),
                  over(lambda r, k=kind: r["rush"]["by_kind"].get(k, {}).get("opened_ms_p95"))) for kind in kinds],
                ("visitor", "count", "correct", "p50", "p95", "p95 of those let in")))
    print()
    stages = list(runs[0]["rush"]["stage_ms_p50"])
    print(table("Per-stage milliseconds per frame, median (min-max) over seeds",
                [(name, over(lambda r, n=name: r["rush"]["stage_ms_p50"][n]),
                  over(lambda r, n=name: r["rush"]["stage_ms_p95"][n])) for name in stages], ("stage", "p50", "p95")))
    bar_chart(args.plot, f"Line to relay command by visitor: {count} visitors, {len(seeds)} world(s), "
                         f"{args.cpus or 'all'} CPU(s); whiskers: lowest to highest world", "ms (world time)",
              {kind: {"decision p50": [r["rush"]["by_kind"].get(kind, {}).get("decision_ms_p50") for r in runs],
                      "decision p95": [r["rush"]["by_kind"].get(kind, {}).get("decision_ms_p95") for r in runs],
                      "p95 of those let in": [r["rush"]["by_kind"].get(kind, {}).get("opened_ms_p95") for r in runs]}
               for kind in kinds})
    for run in runs:
        for visit in run["rush"].pop("mistakes"):
            print(f"  seed {run['seed']} #{visit['index']} expect {visit['expect']} got {visit['decision']}: "
                  f"{'; '.join(visit['reasons'])}")
        print(f"  seed {run['seed']} residents refused, by reason:", run["rush"]["false_rejects_by_reason"] or "none")
    finish(args, {"hardware": HARDWARE, "cpus": cpus, "seeds": seeds, "runs": runs, "peak_rss_mb": peak_rss_mb()})
    return 0


if __name__ == "__main__":
    sys.exit(main())
