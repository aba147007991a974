"""Thermal screening accuracy per visit, in worlds the gate was not told about.

    python bench/thermal_accuracy.py [--visits N] [--seeds K] [--json PATH] [--quick]

Each seed draws a world from published ranges (drivers/sim/thermal_model.py `draw_physics`: how
far the canthi read below core and how they cool with the air, how people differ, skin emissivity,
the healthy mean), a sensor (offset, its drift, noise) and a queue of visits. A visit is one
person walking up from 1.6 m to where they stop (0.4-2 m) in 5-35 °C air and standing there (a
person the screen asks to step closer does so a second later, to 0.7 m, as in the gate's
simulator), seen by the thermal sensor at 8.7 frames a second through the 3 s decision window
from the start of the walk-up: 15 % with a
fever (37.5-39.5 °C core), 10 % holding up a printed photo, 10 % a phone screen, the rest healthy
around the world's mean. The gate is measured with its shipped settings, which know nothing of
the world: fixed compensation; screening mode (the default), which calibrates to the people it
reads; and screening mode with four defective pixels on each face's hottest spots (the most an
MLX90640 may have, in the worst place, filled in as its driver does). The measurement is the
gate's own ThermalStage, the combination its VisitTemperature, the decision its Policy, frame by
frame as the gate decides: a visit is decided as soon as the policy can. The last mode adds the
guard: every visit denied on temperature is rechecked with a clinical thermometer (core ± 0.1 °C),
and so is each pass the gate draws for a spot check, one in `--passed-rechecked` (10, the gate's own
`recheck.spot_check_every`, drawn by edge/spot_checks.py); the gate learns its
site's offset from those pairs (edge/thermal_calibration.py, shipped settings: at most 0.1 °C a
day). Its visits are spread over `DAYS` days so that the offset can move.

Everything is counted per visit: healthy people passed, fevers not passed, photos and screens
passed, live faces called spoof, visits with no trusted reading ("no reading", their own count),
the error of the visit's estimate, and how often the gate's stated 95 % interval holds the truth.
Figures are the median over seeds with the range beside it.
"""

from __future__ import annotations

import sys
import time

import numpy as np

from common import finish, parser, percentile, spread, table

FOCAL_PX = 520.0
THRESHOLD = 37.3
REACH_M = 1.1  # the simulated sensor's reach is 1.2 m; a little inside it, by the face's measured size
THERMAL_HZ = 8.7
WINDOW_S = 3.0
WALK_FROM_M = 1.6
WALK_S = 0.8
DEFECTIVE = 4  # the most an MLX90640 EEPROM may mark and the driver interpolates
MODES = ("fixed compensation", "screening mode", f"screening, {DEFECTIVE} defective pixels",
         "screening, residents' own", "the same, guard's rechecks")
CLINICAL_SD_C = 0.1  # a clinical thermometer's own error
DAYS = 10.0  # a world's visits with the guard's rechecks are spread over this many days
VISITS_PER_RESIDENT = 15  # the visits of a world come from this many fewer residents, each coming back
PROFILE_VISITS = 9  # edge/thermal_profiles.py: a resident's offset rests on this many visits at most
FIRST_VISITS = 50  # a new gate's first visitors: screening mode has read fewer than its 30 people for most of them


def draw_sensor(rng) -> dict:
    """An uncorrected offset within the ±2 °C that small radiometric cores are sold with, drifting, and noise."""
    return {"offset_c": float(rng.uniform(-2.0, 2.0)), "drift_c": float(rng.uniform(0.2, 1.0)),
            "period": float(rng.uniform(80.0, 300.0)), "noise_c": float(rng.uniform(0.04, 0.12))}


def draw_visit(rng, physics, own_c: np.ndarray) -> dict:
    """A visit by one of the world's residents: their eye corners read as on every visit (`own_c`, the person's
    share of the spread, drivers/sim/thermal_model.py OWN_SHARE), plus the day's."""
    from drivers.sim.thermal_model import OWN_SHARE, healthy_core

    kind = str(rng.choice(["live"] * 8 + ["photo", "screen"]))
    fever = rng.random() < 0.15
    resident = int(rng.integers(len(own_c)))
    person_c = np.sqrt(OWN_SHARE) * own_c[resident] + np.sqrt(1 - OWN_SHARE) * float(rng.normal(0.0, physics.person_sd_c))
    return {"stop": float(rng.uniform(0.4, 2.0)), "ambient": float(rng.uniform(5.0, 35.0)), "kind": kind,
            "core": float(rng.uniform(37.5, 39.5)) if fever else healthy_core(physics, rng),
            "person_c": float(person_c), "resident": resident,
            "centre": np.array([320.0, 200.0]) + rng.normal(0, 20, 2)}


def face_geometry(distance: float, centre: np.ndarray) -> tuple[np.ndarray, tuple]:
    """(5 landmarks in colour pixels, face box in thermal pixels) of a face `distance` metres away."""
    face_px = FOCAL_PX * 0.15 / distance
    eye_px = 0.42 * face_px
    eyes = np.array([[centre[0] - eye_px / 2, centre[1] - 0.1 * face_px], [centre[0] + eye_px / 2, centre[1] - 0.1 * face_px]])
    landmarks = np.vstack([eyes, [centre[0], centre[1] + 0.15 * face_px], [centre[0] - 0.3 * eye_px, centre[1] + 0.35 * face_px],
                           [centre[0] + 0.3 * eye_px, centre[1] + 0.35 * face_px]])
    box = (centre[0] - face_px / 2, centre[1] - 0.55 * face_px, centre[0] + face_px / 2, centre[1] + 0.65 * face_px)
    return landmarks, tuple(v * 0.25 for v in box)


def distance_at(visit: dict, when: float) -> float:
    """Walking up to where they stop, then (asked by the screen) stepping closer, as the gate's simulator has it."""
    from drivers.sim.world import STEP_CLOSER_TO_M, STEP_SPEED_M_S

    if when < WALK_S and visit["stop"] < WALK_FROM_M:
        return visit["stop"] + (WALK_FROM_M - visit["stop"]) * (1.0 - when / WALK_S)
    asked = visit.get("stepping_at")
    if asked is None or when < asked:
        return visit["stop"]
    return max(min(STEP_CLOSER_TO_M, visit["stop"]), visit["stop"] - STEP_SPEED_M_S * (when - asked))


def frames_of(visit: dict, rng, physics, sensor: dict, index: int, *, blackbody: bool):
    """(time, distance, thermal frame, detected landmarks, face box) for each thermal frame of the visit."""
    from drivers.sim.thermal_model import ThermalFace, render

    offset = sensor["offset_c"] + sensor["drift_c"] * np.sin(index / sensor["period"])
    for n in range(int((WINDOW_S + 1.0) * THERMAL_HZ) + 1):  # the window, and a while after a decision
        when = n / THERMAL_HZ
        distance = distance_at(visit, when)
        landmarks, box = face_geometry(distance, visit["centre"])
        face = ThermalFace(box, landmarks[:2] * 0.25, visit["core"], visit["kind"], person_c=visit["person_c"])
        frame = render((160, 120), visit["ambient"], [face], blackbody_c=35.0 if blackbody else None,
                       blackbody_box=(148, 2, 10, 10) if blackbody else None, offset_c=offset,
                       noise_c=sensor["noise_c"], rng=rng, physics=physics)
        detected = landmarks + rng.normal(0, 0.8, landmarks.shape)  # detector jitter, colour pixels
        measured = FOCAL_PX * 0.15 / (np.linalg.norm(detected[0] - detected[1]) / 0.42)
        yield when, measured, frame, detected, box


def hottest_face_pixels(frame: np.ndarray, box: tuple, count: int) -> np.ndarray:
    """A defect map with `count` pixels, none side by side, on the face's hottest spots: the worst place a
    sensor's defective pixels can be."""
    x0, y0, x1, y1 = (int(round(v)) for v in box)
    height, width = frame.shape
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(max(x1, x0 + 1), width), min(max(y1, y0 + 1), height)
    mask = np.zeros(frame.shape, bool)
    for flat in np.argsort(frame[y0:y1, x0:x1], axis=None)[::-1]:
        row, column = divmod(int(flat), x1 - x0)
        row, column = row + y0, column + x0
        if not mask[max(row - 1, 0):row + 2, max(column - 1, 0):column + 2].any():
            mask[row, column] = True
            if mask.sum() == count:
                break
    return mask


def with_defects(frame: np.ndarray, mask: np.ndarray) -> np.ndarray:
    from drivers.mlx90640 import interpolate_defective

    return interpolate_defective(frame.ravel(), mask.ravel(), frame.shape).reshape(frame.shape)


def play_visit(visit: dict, stage, policy, rng, physics, sensor: dict, index: int, defective: int,
               times: list[float], profiles=None, guard=None) -> dict:
    """One visit through the stage and the policy, frame by frame, until the policy decides. With `profiles`, the
    resident is recognised (as the face check would) and judged against their own past visits too."""
    from drivers.sim.world import STEP_CLOSER_REACTION_S, WALK_THROUGH_S
    from edge.decision import Visit
    from edge.face.matcher import Match
    from edge.gate import LEARNED_FROM

    seen = Visit(None, 0.0, 0.0)
    if profiles is not None:
        seen.match = Match(visit["resident"] + 1, f"resident {visit['resident'] + 1}", 0.8, 0.2, "match", 0.5)
    decision, mask, decided_at = None, None, WINDOW_S
    for when, distance, frame, landmarks, box in frames_of(visit, rng, physics, sensor, index, blackbody=True):
        if defective:
            mask = hottest_face_pixels(frame, box, defective) if mask is None else mask
            frame = with_defects(frame, mask)
        started = time.perf_counter()
        reading = stage.measure(frame, landmarks, distance, now=index * 10.0 + when)
        seen.keep_if_sharper(reading)  # decided or not: the sharpest reading is what the gate learns from
        if decision is not None:
            if when >= decided_at + WALK_THROUGH_S:  # the gate opened (or refused): they walk on
                break
            continue
        seen.add_reading(reading)
        if visit.get("stepping_at") is None and {"too far", "too small"} & set(reading.flags):
            # the screen asks them closer: they read it, decide and move (drivers/sim/world.py)
            visit["stepping_at"] = max(when, WALK_S) + STEP_CLOSER_REACTION_S
        decision = policy.evaluate(seen, when)
        times.append((time.perf_counter() - started) * 1000)
        if decision is not None:
            decided_at = when
    if decision is None:
        decision = policy.evaluate(seen, WINDOW_S)
    outcome = decision.checks["temperature"]
    if profiles is not None:  # as the gate does when a resident leaves (edge/app.py _teach_temperature)
        fused = seen.temperature.estimate()
        if fused is not None:
            profiles.learn(visit["resident"] + 1, seen.visit_id, fused, live=seen.temperature.liveness(),
                           calibrated=stage.baseline.ready)
    if outcome["code"] in LEARNED_FROM:
        stage.learn(seen.sharpest)  # as the gate does when a person read live leaves
    if guard is not None and visit["kind"] == "live" and isinstance((decision.temperature or {}).get("estimate_c"), float):
        guard(visit, decision, rng)
    estimate = decision.temperature or {}
    return {**{k: visit[k] for k in ("stop", "ambient", "kind", "core", "resident")}, "code": outcome["code"],
            "status": outcome["status"], "estimate": estimate.get("estimate_c"),
            "interval": estimate.get("interval_95_c"), "readings": estimate.get("readings", 0),
            "decided_ms": decided_at * 1000.0}


def guard_rechecks(calibration, passed_rechecked: int):
    """The guard at the booth: a clinical reading of every person denied on temperature and of each pass the gate
    drew for a spot check (one in `passed_rechecked`, 0: none, as `recheck.spot_check_every` draws them), paired
    with the gate's estimate as `gatepost thermal recheck` pairs them."""
    from edge.spot_checks import SpotChecks
    from edge.thermal_calibration import RecheckRefused

    def recheck(visit: dict, decision, rng) -> None:
        SpotChecks(lambda: passed_rechecked, draw=rng.random).deciding(None, decision)  # as the gate marks it
        estimate, outcome = decision.temperature, decision.checks["temperature"]
        if outcome["code"] not in ("fever", "temperature_uncertain") and not estimate.get("spot_check"):
            return
        clinical = visit["core"] + float(rng.normal(0.0, CLINICAL_SD_C))
        try:
            calibration.pair("-", estimate["estimate_c"], estimate.get("site_offset_c", 0.0), clinical, "guard")
        except RecheckRefused:
            pass  # a likely typo to the gate: not kept
    return recheck


def run(count: int, seed: int, *, screening: bool, defective: int = 0, personal: bool = False,
        rechecks: bool = False, passed_rechecked: int = 10) -> dict:
    import tempfile
    from pathlib import Path

    from drivers.sim.thermal_model import draw_physics
    from edge.config import ChecksConfig, RecheckLearningConfig, ThermalConfig
    from edge.decision import Policy
    from edge.stages.thermal import ThermalStage
    from edge.store import Store
    from edge.thermal_calibration import SiteCalibration
    from edge.thermal_profiles import ResidentProfiles

    world_rng = np.random.default_rng(seed)  # the world and the sensor: the same for every mode of a seed
    physics, sensor = draw_physics(world_rng), draw_sensor(world_rng)
    residents = max(5, count // VISITS_PER_RESIDENT)
    own_c = world_rng.normal(0.0, physics.person_sd_c, residents)
    rng = np.random.default_rng(seed + 1000)
    config = ThermalConfig(blackbody_c=35.0, baseline={"enabled": screening})
    checks = ChecksConfig.model_validate({"face": {"mode": "off"}, "qr": {"mode": "off"}})
    times: list[float] = []
    started, day = time.time(), [0.0]  # the store's clock: the visits' days
    with tempfile.TemporaryDirectory() as folder, Store(Path(folder), clock=lambda: started + day[0] * 86400.0) as store:
        calibration = SiteCalibration(store, RecheckLearningConfig()) if rechecks else None
        guard = guard_rechecks(calibration, passed_rechecked) if calibration is not None else None
        stage = ThermalStage(config, calibration=calibration)  # one gate, one baseline
        profiles = None
        if personal:
            for number in range(residents):
                store.add_resident(f"resident {number + 1}", "", [np.ones(8, np.float32) / np.sqrt(8)], [1.0], ["-"])
            profiles = ResidentProfiles(store, reference_c=config.baseline.reference_c, threshold_c=lambda: THRESHOLD)
        policy = Policy(checks, window_s=WINDOW_S, personal=profiles.offset if profiles is not None else None)
        # each visit's frames from a generator of its own: how long one visit lasts (a mode deciding sooner) does
        # not change the next, so the modes meet the same people in the same frames
        rows = []
        for index in range(count):
            day[0] = DAYS * index / count if rechecks else 0.0
            rows.append(play_visit(draw_visit(rng, physics, own_c), stage, policy, np.random.default_rng([seed, index]),
                                   physics, sensor, index, defective, times, profiles, guard))
        final_offset = calibration.offset_c if calibration is not None else 0.0
    figures = summarise(rows, times)
    figures["residents"] = residents
    figures["world"] = {"canthus_offset_c": round(physics.canthus_offset_c, 3),
                        "canthus_ambient_slope": round(physics.canthus_ambient_slope, 4),
                        "emissivity": round(physics.emissivity, 4), "person_sd_c": round(physics.person_sd_c, 3),
                        "normal_core_c": round(physics.normal_core_c, 2), **{k: round(v, 3) for k, v in sensor.items()}}
    figures["final_shift_c"] = round(stage.baseline.shift_c, 3)
    figures["final_site_offset_c"] = round(final_offset, 3)
    return figures


def share(rows: list[dict], test) -> float:
    return sum(1 for r in rows if test(r)) / len(rows) if rows else float("nan")


def holds_truth(row: dict) -> bool:
    return row["interval"][0] <= row["core"] <= row["interval"][1]


def summarise(rows: list[dict], times: list[float]) -> dict:
    live = [r for r in rows if r["kind"] == "live"]
    in_reach = [r for r in live if r["stop"] <= REACH_M]  # farther, no reading is trusted: not a fair test
    healthy = [r for r in in_reach if r["core"] <= 37.0]
    seen_before: dict[int, int] = {}
    for index, row in enumerate(rows):  # how many visits the resident had made before this one
        row["first"] = index < FIRST_VISITS
        row["ordinal"] = seen_before.get(row["resident"], 0)
        seen_before[row["resident"]] = row["ordinal"] + 1
    regulars = [r for r in healthy if r["ordinal"] >= PROFILE_VISITS]
    fevers = [r for r in in_reach if r["core"] >= 37.5]
    first_healthy, first_fevers = [r for r in healthy if r["first"]], [r for r in fevers if r["first"]]
    estimated = [r for r in live if r["estimate"] is not None]
    attacks = {kind: [r for r in rows if r["kind"] == kind and r["stop"] <= REACH_M] for kind in ("photo", "screen")}
    errors = [abs(r["estimate"] - r["core"]) for r in estimated]
    return {
        "visits": len(rows), "live_in_reach": len(in_reach), "healthy": len(healthy), "fevers": len(fevers),
        "healthy_passed": share(healthy, lambda r: r["status"] == "pass"),
        "healthy_called_fever": share(healthy, lambda r: r["code"] == "fever"),
        "regulars_passed": share(regulars, lambda r: r["status"] == "pass"), "regulars": len(regulars),
        "first_healthy_passed": share(first_healthy, lambda r: r["status"] == "pass"),
        "first_fevers_not_passed": share(first_fevers, lambda r: r["status"] != "pass"),
        "first_counts": [sum(1 for r in first_healthy if r["status"] == "pass"), len(first_healthy),
                         sum(1 for r in first_fevers if r["status"] != "pass"), len(first_fevers)],
        "healthy_uncertain": share(healthy, lambda r: r["code"] == "temperature_uncertain"),
        "healthy_no_reading": share(healthy, lambda r: r["code"] == "temperature_no_reading"),
        "fevers_not_passed": share(fevers, lambda r: r["status"] != "pass"),
        "fevers_called_fever": share(fevers, lambda r: r["code"] == "fever"),
        "live_called_spoof": share(in_reach, lambda r: r["code"] == "spoof"),
        "photos_passed": share(attacks["photo"], lambda r: r["status"] == "pass"),
        "screens_passed": share(attacks["screen"], lambda r: r["status"] == "pass"),
        "no_reading_in_reach": share(in_reach, lambda r: r["code"] == "temperature_no_reading"),
        "no_reading_beyond_reach": share([r for r in live if r["stop"] > 1.3],
                                         lambda r: r["code"] == "temperature_no_reading"),
        "mae_c": float(np.mean(errors)) if errors else float("nan"),
        "p95_error_c": percentile(errors, 95),
        "coverage_95": share(estimated, holds_truth),
        "intervals": len(estimated), "intervals_holding": sum(1 for r in estimated if holds_truth(r)),
        "readings_per_visit": float(np.median([r["readings"] for r in estimated])) if estimated else float("nan"),
        "decision_ms_p50_healthy": percentile([r["decided_ms"] for r in healthy if r["status"] == "pass"], 50),
        "thermal_ms_p95": percentile(times, 95),
    }


SHOWN = (("healthy_passed", "healthy people within 1.1 m passed, per visit"),
         ("regulars_passed", f"  on a resident's {PROFILE_VISITS + 1}th visit or later"),
         ("first_healthy_passed", f"  in the gate's first {FIRST_VISITS} visits"),
         ("healthy_called_fever", "  called fever"), ("healthy_uncertain", "  uncertain (denied, recheck)"),
         ("healthy_no_reading", "  no reading"),
         ("fevers_not_passed", "fevers (≥ 37.5 °C) within 1.1 m not passed"),
         ("first_fevers_not_passed", f"  in the gate's first {FIRST_VISITS} visits"),
         ("fevers_called_fever", "  of which called fever"),
         ("photos_passed", "photos passed"), ("screens_passed", "screens passed"),
         ("live_called_spoof", "live faces within 1.1 m called spoof"),
         ("no_reading_in_reach", "live visits within 1.1 m with no reading"),
         ("no_reading_beyond_reach", "live visits stopping beyond 1.3 m with no reading"),
         ("mae_c", "MAE of the visit's estimate (°C)"), ("p95_error_c", "p95 error of the visit's estimate (°C)"),
         ("coverage_95", "stated 95 % intervals holding the truth, per world"),
         ("readings_per_visit", "readings fused per visit (median)"),
         ("decision_ms_p50_healthy", "healthy passed: decided this long after the walk-up began, p50 ms"),
         ("thermal_ms_p95", "thermal work per frame, p95 (ms)"))


def pooled_coverage(worlds: list[dict]) -> float:
    """Of every visit's stated interval in every world, the share holding the truth (each world's own share is
    mostly its healthy mean against the reference, which no gate can know without a clinical thermometer)."""
    return sum(w["intervals_holding"] for w in worlds) / max(1, sum(w["intervals"] for w in worlds))


def first_visits(worlds: list[dict]) -> str:
    """Healthy passed and fevers not passed in every world's first visits together: few per world."""
    passed, healthy, stopped, fevers = (sum(w["first_counts"][k] for w in worlds) for k in range(4))
    return f"{passed}/{healthy} {stopped}/{fevers}"


def main() -> int:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--visits", type=int, default=None, help="visits per world (default 600, quick 80)")
    p.add_argument("--seeds", type=int, default=None, help="worlds drawn (default 5, quick 2)")
    p.add_argument("--passed-rechecked", type=int, default=10, metavar="N",
                   help="with the guard's rechecks: one passed visit in N is rechecked too (0: only those denied)")
    args = p.parse_args()
    count = args.visits or (80 if args.quick else 600)
    seeds = list(range(1, 1 + (args.seeds or (2 if args.quick else 5))))
    results = {mode: [run(count, seed, screening=mode != MODES[0], defective=DEFECTIVE if mode == MODES[2] else 0,
                          personal=mode in MODES[3:], rechecks=mode == MODES[4], passed_rechecked=args.passed_rechecked)
                      for seed in seeds] for mode in MODES}
    print(table("Worlds drawn (one per seed)", [(seed, *figures["world"].values())
                                                for seed, figures in zip(seeds, results[MODES[0]])],
                ("seed", *results[MODES[0]][0]["world"].keys())))
    print()
    print(table(f"Thermal screening per visit, {count} visits per world, {len(seeds)} worlds, blackbody in view "
                f"(threshold {THRESHOLD} °C): median (min-max) over worlds",
                [(label, *(spread([figures[key] for figures in results[mode]]) for mode in MODES)) for key, label in SHOWN],
                ("figure", *MODES)))
    print(f"\nThe visits come from {results[MODES[0]][0]['residents']} residents, about {VISITS_PER_RESIDENT} visits "
          "each; with residents' own, each is recognised and judged against their own past visits as well.")
    print("A fever counts as not passed when the visit is denied on it (a fever, uncertain, or no reading).")
    print("Stated 95 % intervals holding the truth, every world's visits together:",
          ", ".join(f"{mode} {pooled_coverage(results[mode]):.3f}" for mode in MODES))
    print(f"The gate's first {FIRST_VISITS} visits, every world together: healthy passed / fevers not passed:",
          ", ".join(f"{mode} {first_visits(results[mode])}" for mode in MODES))
    print("Screening mode's final shift per world:",
          ", ".join(f"{f['final_shift_c']:+.2f} °C" for f in results["screening mode"]))
    passed = f"one passed in {args.passed_rechecked}" if args.passed_rechecked > 0 else "none passed"
    print(f"With the guard's rechecks (every visit denied on temperature, {passed}; visits over {DAYS:g} days), the "
          "site's offset learned by the end, per world:",
          ", ".join(f"{f['final_site_offset_c']:+.2f} °C" for f in results[MODES[4]]))
    print(f"Defective pixels: the worst case, {DEFECTIVE} pixels (none side by side) on each face's hottest spots,")
    print("filled in as the MLX90640 driver does (the median of the diagonal neighbours, Melexis' chess-mode method).")
    finish(args, {"visits_per_world": count, "seeds": seeds, "runs": results, "passed_rechecked": args.passed_rechecked,
                  "coverage_95_pooled": {mode: pooled_coverage(results[mode]) for mode in MODES}})
    return 0


if __name__ == "__main__":
    sys.exit(main())
