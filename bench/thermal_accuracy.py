"""Thermal screening accuracy on simulated readings: error, fever sensitivity/specificity, liveness.

    python bench/thermal_accuracy.py [--readings N] [--json PATH] [--quick]

Each reading is a face at 0.4-2 m in 5-35 °C air, rendered by the simulator's thermal model
(drivers/sim/thermal_model.py) on a 160x120 sensor with noise and a slowly drifting offset, with
and without the blackbody reference in view; 10 % are printed photos and 10 % phone screens.
The measurement is the gate's own ThermalStage; the decision rule is the gate's Policy.
"""

from __future__ import annotations

import math
import sys
import time

import numpy as np

from common import finish, parser, percentile, table

FOCAL_PX = 520.0
THRESHOLD = 37.3


def scene(rng, index: int, blackbody: bool):
    from drivers.sim.thermal_model import ThermalFace, render

    distance = rng.uniform(0.4, 2.0)
    ambient = rng.uniform(5.0, 35.0)
    kind = rng.choice(["live"] * 8 + ["photo", "screen"])
    core = rng.uniform(37.5, 39.5) if rng.random() < 0.15 else float(np.clip(rng.normal(36.6, 0.25), 35.8, 37.0))
    face_px = FOCAL_PX * 0.15 / distance
    eye_px = 0.42 * face_px
    centre = np.array([320.0, 200.0]) + rng.normal(0, 20, 2)
    eyes = np.array([[centre[0] - eye_px / 2, centre[1] - 0.1 * face_px], [centre[0] + eye_px / 2, centre[1] - 0.1 * face_px]])
    landmarks = np.vstack([eyes, [centre[0], centre[1] + 0.15 * face_px], [centre[0] - 0.3 * eye_px, centre[1] + 0.35 * face_px],
                           [centre[0] + 0.3 * eye_px, centre[1] + 0.35 * face_px]])
    box = (centre[0] - face_px / 2, centre[1] - 0.55 * face_px, centre[0] + face_px / 2, centre[1] + 0.65 * face_px)
    scale = 0.25
    face = ThermalFace(tuple(v * scale for v in box), eyes * scale, core, kind)
    drift = 0.8 + 0.6 * math.sin(index / 150.0)  # slow drift of the uncorrected sensor offset
    frames = [render((160, 120), ambient, [face], blackbody_c=35.0 if blackbody else None,
                     blackbody_box=(148, 2, 10, 10) if blackbody else None, offset_c=drift,
                     noise_c=0.08, rng=rng) for _ in range(4)]
    detected = landmarks + rng.normal(0, 0.8, landmarks.shape)  # detector jitter, colour pixels
    return {"distance": distance, "ambient": ambient, "kind": kind, "core": core, "frames": frames,
            "landmarks": detected, "face_distance": FOCAL_PX * 0.15 / (np.linalg.norm(detected[0] - detected[1]) / 0.42)}


def run(count: int, blackbody: bool, seed: int) -> dict:
    from edge.config import ChecksConfig, ThermalConfig
    from edge.decision import Policy, Visit

    rng = np.random.default_rng(seed)
    config = ThermalConfig(blackbody_c=35.0 if blackbody else None)
    from edge.stages.thermal import ThermalStage

    policy = Policy(ChecksConfig.model_validate({"face": {"mode": "off"}, "qr": {"mode": "off"}}), window_s=3.0)
    rows = []
    times = []
    for index in range(count):
        sample = scene(rng, index, blackbody)
        stage = ThermalStage(config)
        reading = None
        for frame in sample["frames"]:
            started = time.perf_counter()
            reading = stage.measure(frame, sample["landmarks"], sample["face_distance"])
            times.append((time.perf_counter() - started) * 1000)
        visit = Visit(None, 0.0, 0.0, thermal=reading)
        outcome = policy.outcomes(visit)["temperature"]
        rows.append({**{k: sample[k] for k in ("distance", "ambient", "kind", "core")},
                     "available": reading.available, "estimate": reading.temperature_c, "live": reading.live,
                     "flags": reading.flags, "outcome": outcome.status, "code": outcome.code})
    return summarise(rows, times)


def summarise(rows: list[dict], times: list[float]) -> dict:
    live = [r for r in rows if r["kind"] == "live"]
    measured = [r for r in live if r["available"] and r["estimate"] is not None]
    canthus = [r for r in measured if "face maximum" not in r["flags"]]
    errors = [abs(r["estimate"] - r["core"]) for r in canthus]
    # what the sensor would have said, trusted or not: shows what the reference buys
    raw_errors = [abs(r["estimate"] - r["core"]) for r in live if r["estimate"] is not None
                  and "face maximum" not in r["flags"] and "too far" not in r["flags"]]
    fevers = [r for r in live if r["core"] >= 37.5]
    normals = [r for r in live if r["core"] <= 37.0]
    caught = [r for r in fevers if r["outcome"] != "pass"]
    fever_alarm_on_normal = [r for r in normals if r["code"] == "fever"]
    passed_normals = [r for r in normals if r["outcome"] == "pass"]
    attacks = {kind: [r for r in rows if r["kind"] == kind] for kind in ("photo", "screen")}
    judged = {kind: [r for r in items if r["live"] is not None] for kind, items in attacks.items()}
    live_judged = [r for r in live if r["live"] is not None]
    return {
        "readings": len(rows),
        "live_readings": len(live),
        "available": len(measured),
        "canthus_readings": len(canthus),
        "mae_c": float(np.mean(errors)) if errors else float("nan"),
        "p95_error_c": percentile(errors, 95),
        "mae_untrusted_c": float(np.mean(raw_errors)) if raw_errors else float("nan"),
        "fevers": len(fevers),
        "fever_sensitivity": len(caught) / len(fevers) if fevers else float("nan"),
        "normals": len(normals),
        "normals_flagged_fever": len(fever_alarm_on_normal) / len(normals) if normals else float("nan"),
        "normals_passed": len(passed_normals) / len(normals) if normals else float("nan"),
        "apcer": {kind: (sum(1 for r in items if r["live"]) / len(items) if items else float("nan"))
                  for kind, items in judged.items()},
        "bpcer": sum(1 for r in live_judged if not r["live"]) / len(live_judged) if live_judged else float("nan"),
        "thermal_ms_p50": percentile(times, 50),
        "thermal_ms_p95": percentile(times, 95),
        "availability_by_distance": {
            f"{low:.1f}-{low + 0.4:.1f} m": (sum(1 for r in live if low <= r["distance"] < low + 0.4 and r["available"])
                                            / max(1, sum(1 for r in live if low <= r["distance"] < low + 0.4)))
            for low in (0.4, 0.8, 1.2, 1.6)},
    }


def main() -> int:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--readings", type=int, default=None, help="readings per run (default 1200, quick 300)")
    args = p.parse_args()
    count = args.readings or (300 if args.quick else 1200)
    results = {"with_blackbody": run(count, True, 11), "without_blackbody": run(count, False, 11)}
    rows = []
    for name in ("mae_c", "p95_error_c", "mae_untrusted_c", "fever_sensitivity", "normals_flagged_fever", "normals_passed", "bpcer",
                 "thermal_ms_p50", "thermal_ms_p95", "available", "canthus_readings"):
        rows.append((name, results["with_blackbody"][name], results["without_blackbody"][name]))
    for kind in ("photo", "screen"):
        rows.append((f"apcer_{kind}", results["with_blackbody"]["apcer"][kind], results["without_blackbody"]["apcer"][kind]))
    print(table(f"Thermal screening, {count} simulated readings per column (threshold {THRESHOLD} °C)", rows,
                ("figure", "blackbody in view", "no blackbody")))
    print("\nMAE and p95 are over trusted readings of live faces at the inner canthi; mae_untrusted_c is what the")
    print("sensor said without the reference, which the gate does not trust. Fever sensitivity counts a fever as caught")
    print("when the reading is not passed as normal (a fever alarm, or uncertain/unavailable: no entry, recheck).")
    print("availability by distance (blackbody in view):",
          ", ".join(f"{k} {v:.0%}" for k, v in results["with_blackbody"]["availability_by_distance"].items()))
    finish(args, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
