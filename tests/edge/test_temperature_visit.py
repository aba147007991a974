"""A visit's temperature as a whole: readings fused, uncertainty measured, the site learned, one alarm a person."""

import math
import time

import numpy as np
import pytest
import yaml

from drivers.sim.scenario import load_scenario
from drivers.sim.thermal_model import render
from edge.app import Runtime
from edge.config import ChecksConfig, RecheckLearningConfig, ThermalBaselineConfig, ThermalConfig, parse_config
from edge.decision import Policy, Visit
from edge.events import EventKind
from edge.readings import ThermalReading
from edge.stages.thermal import ThermalStage
from edge.store import Store
from edge.thermal_baseline import PopulationBaseline
from edge.thermal_calibration import RecheckRefused, SiteCalibration
from edge.thermal_fusion import VisitTemperature
from tests.conftest import SCENARIOS
from tests.edge.test_thermal import BLACKBODY, face_at, frame

TEMPERATURE_ONLY = ChecksConfig.model_validate({"face": {"mode": "off"}, "qr": {"mode": "off"}})


def reading(value, u=0.15, *, shared=0.0, live=True, **fields) -> ThermalReading:
    return ThermalReading(True, value, u, live=live, correlated_c=shared, **fields)


# fusion

def test_independent_uncertainty_shrinks_with_readings_and_the_shared_part_does_not():
    visit = VisitTemperature()
    for _ in range(16):
        visit.add(reading(36.6, 0.2))
    assert visit.estimate().uncertainty_c == pytest.approx(0.05, abs=0.002)  # 0.2 / sqrt(16)
    shared = VisitTemperature()
    for _ in range(16):
        shared.add(reading(36.6, 0.2, shared=0.12))
    assert shared.estimate().uncertainty_c == pytest.approx(np.hypot(0.16 / 4, 0.12), abs=0.002)


def test_sharper_readings_weigh_more_and_an_outlier_is_left_out():
    visit = VisitTemperature()
    for value, u in ((36.4, 0.4), (36.8, 0.1), (36.8, 0.1), (38.9, 0.1)):
        visit.add(reading(value, u))
    estimate = visit.estimate()
    assert estimate.rejected == 1 and estimate.readings == 3
    assert estimate.temperature_c == pytest.approx((36.4 / 0.16 + 2 * 36.8 / 0.01) / (1 / 0.16 + 2 / 0.01), abs=1e-6)


def test_the_stated_interval_carries_the_part_no_reading_can_average_away():
    visit = VisitTemperature()
    for _ in range(50):
        visit.add(reading(36.6, 0.1, systematic_c=0.3))
    low, high = visit.estimate().interval_95
    assert high - low == pytest.approx(2 * 1.96 * np.hypot(0.1 / np.sqrt(50), 0.3), abs=1e-3)


def test_liveness_is_a_vote_and_a_spoof_needs_two_readings_and_a_majority():
    votes = VisitTemperature()
    votes.add(reading(36.6, live=False))
    assert votes.liveness() is None
    votes.add(reading(36.6, live=True))
    votes.add(reading(36.6, live=True))
    assert votes.liveness() is True
    spoof = VisitTemperature()
    for _ in range(2):
        spoof.add(ThermalReading(True, None, None, live=False))
    assert spoof.liveness() is False


# measured uncertainty

def test_a_readings_uncertainty_follows_what_the_frame_shows():
    face, landmarks, distance = face_at(0.55)
    clean = ThermalStage(ThermalConfig()).measure(frame(face), landmarks, distance, now=0.0)
    noisy_frame = render((160, 120), 22.0, [face], blackbody_c=35.0, blackbody_box=BLACKBODY, offset_c=0.8,
                         noise_c=0.25, rng=np.random.default_rng(3))
    noisy = ThermalStage(ThermalConfig()).measure(noisy_frame, landmarks, distance, now=0.0)
    assert noisy.uncertainty_c > clean.uncertainty_c + 0.1  # the noise measured on the reference
    small, small_landmarks, small_distance = face_at(0.8)
    blurred = ThermalStage(ThermalConfig()).measure(frame(small), small_landmarks, small_distance, now=0.0)
    assert blurred.correlated_c > clean.correlated_c + 0.05  # fewer pixels between the eyes: blur
    assert clean.uncertainty_c <= 0.15 and clean.systematic_c >= 0.2


def test_a_briefly_hidden_reference_is_held_with_growing_uncertainty_then_readings_stop():
    stage = ThermalStage(ThermalConfig(blackbody_hold_s=2.0))
    face, landmarks, distance = face_at(0.6)
    seen = stage.measure(frame(face), landmarks, distance, now=0.0)
    hidden = frame(face, blackbody=False)
    held = stage.measure(hidden, landmarks, distance, now=1.0)
    assert held.available and held.correlated_c > seen.correlated_c + 0.03
    lost = stage.measure(hidden, landmarks, distance, now=2.5)
    assert not lost.available and lost.code == "blackbody_missing"


@pytest.mark.parametrize("fault, code", [("nan", "nan"), ("lost", "blackbody_missing"), ("stalled", "sensor_frozen")])
def test_a_sensor_or_reference_fault_mid_visit_is_no_reading_never_normal(fault, code):
    """The gate's own stage over a visit: a first reading that is not yet clearly normal, then the fault."""
    from drivers.camera import Frame
    from drivers.thermal import ThermalFrame
    from edge.face.engine import FaceResult, SeenFace
    from edge.stages.base import FrameContext

    stage = ThermalStage(ThermalConfig(frozen_after_s=0.5, blackbody_hold_s=0.3))
    policy = Policy(TEMPERATURE_ONLY, window_s=3.0)
    face, landmarks, distance = face_at(0.6, 37.25)  # close to the threshold: one reading does not settle it
    visit = Visit(1, 0.0, 0.0)
    decision = None
    for n, now in enumerate(np.arange(0.0, 3.2, 0.115)):
        celsius = frame(face, seed=n)
        if now >= 0.2:
            if fault == "nan":
                celsius[60, 80] = np.nan
            elif fault == "lost":
                celsius = frame(face, blackbody=False, seed=n)
            else:
                celsius = frame(face, seed=1)  # the same frame again and again
        seen = SeenFace(1, [0, 0, 1, 1], landmarks, 0.9, None, distance, None, primary=True)
        context = FrameContext(frame=Frame(np.zeros((480, 640, 3), np.uint8), now, n), now=now,
                               face=FaceResult([seen]), thermal_frame=ThermalFrame(celsius, now))
        stage.process(context)
        visit.add_reading(context.thermal)
        decision = policy.evaluate(visit, now)
        if decision is not None:
            break
    assert decision is not None and not decision.granted
    assert decision.reason_codes == ["temperature_no_reading"]
    assert decision.checks["temperature"]["params"]["why"] == code


def test_in_warm_air_liveness_is_not_judged_so_nobody_passes_and_nobody_is_called_a_spoof():
    """A drawn world whose skin warms fast with the air: in 34.5 °C air a live face is nearly flat."""
    from drivers.sim.thermal_model import ThermalPhysics

    world = ThermalPhysics(canthus_offset_c=0.41, canthus_ambient_slope=0.048, skin_offset_c=1.72,
                           skin_ambient_slope=0.145, emissivity=0.976, person_sd_c=0.0, normal_core_c=36.6)
    face, landmarks, distance = face_at(0.6, 36.6)
    warm = render((160, 120), 34.5, [face], blackbody_c=35.0, blackbody_box=BLACKBODY, offset_c=0.0, noise_c=0.1,
                  rng=np.random.default_rng(2), physics=world)
    reading_ = ThermalStage(ThermalConfig()).measure(warm, landmarks, distance)
    assert reading_.live is None and "warm air" in reading_.flags
    photo, _, _ = face_at(0.6, kind="photo")
    for ambient in (10.0, 22.0):
        cool = render((160, 120), ambient, [photo], blackbody_c=35.0, blackbody_box=BLACKBODY, offset_c=0.0,
                      noise_c=0.1, rng=np.random.default_rng(4))
        assert ThermalStage(ThermalConfig()).measure(cool, landmarks, distance).live is False
    visit = Visit(None, 0.0, 0.0)
    for _ in range(5):
        visit.add_reading(reading_)
    decision = Policy(TEMPERATURE_ONLY, window_s=3.0).evaluate(visit, 3.0)
    assert decision.reason_codes == ["temperature_no_reading"]
    assert decision.checks["temperature"]["params"] == {"why": "warm_air"}


# screening mode: relative rule, elevated readings, the air, restarts

def baseline(**config) -> PopulationBaseline:
    return PopulationBaseline(ThermalBaselineConfig(**{"min_samples": 5, "window": 50, "recent": 5, **config}))


def test_elevated_readings_never_enter_the_baseline_and_the_relative_rule_uses_recent_normal_people():
    line = baseline(deviation_c=1.0)
    for value in (36.2, 36.3, 36.4, 36.3, 36.3):
        line.add(value)
    assert line.recent_average_c == pytest.approx(36.3)
    assert line.elevated(37.4) and not line.elevated(37.2)
    line.add(38.5)  # a fever: not a sample
    assert line.samples == 5
    assert line.relative_limit_at(None) == pytest.approx(37.3)


def test_the_baseline_learns_how_its_readings_follow_the_air():
    line = baseline(window=200)
    rng = np.random.default_rng(1)
    for air in rng.uniform(5.0, 35.0, 120):  # the canthi cool 0.04 °C a degree more than the compensation assumed
        line.add(36.6 + 0.04 * (air - 20.0) + rng.normal(0, 0.2), air)
    assert line.slope == pytest.approx(0.04, abs=0.01)
    cold, warm = 36.6 + 0.04 * (8.0 - 20.0), 36.6 + 0.04 * (32.0 - 20.0)
    assert cold + line.shift_at(8.0) == pytest.approx(warm + line.shift_at(32.0), abs=0.1)
    steady = baseline(window=200)
    for _ in range(60):
        steady.add(36.4 + rng.normal(0, 0.2), 22.0 + rng.normal(0, 0.3))  # the air hardly moved: no slope to learn
    assert abs(steady.slope) <= 0.01


def test_the_baseline_status_says_how_many_and_how_old_and_survives_a_restart(tmp_path):
    clock = [1000.0]
    path = tmp_path / "thermal_baseline.json"

    def line():
        return PopulationBaseline(ThermalBaselineConfig(min_samples=5), path=path, settings="s", clock=lambda: clock[0])

    first = line()
    for value in (36.3, 36.4):
        first.add(value, 18.0)
        clock[0] += 60.0
    status = first.status()
    assert (status.samples, status.ready, status.min_samples) == (2, False, 5)
    assert status.newest_age_s == pytest.approx(60.0) and status.oldest_age_s == pytest.approx(120.0)
    again = line()
    assert again.samples == 2 and list(again._ambients) == [18.0, 18.0]


def test_the_stage_learns_the_raw_reading_not_the_shifted_one():
    """Learning a reading with the shift already in it pulls the shift towards half its size: a fever near the
    threshold reads 0.3 °C low and passes."""
    stage = ThermalStage(ThermalConfig(baseline={"min_samples": 5, "window": 20}))
    face, landmarks, distance = face_at(0.6, 36.0)  # people who read 0.7 °C under the reference
    for n in range(40):
        stage.learn(stage.measure(frame(face, seed=n), landmarks, distance))
    assert stage.baseline.shift_c == pytest.approx(0.6, abs=0.05)  # the bound: the full shift, not half of it


# learning from the guard's rechecks

CLOCK = [1_000_000.0]


@pytest.fixture
def store(tmp_path):
    CLOCK[0] = 1_000_000.0
    with Store(tmp_path / "state", clock=lambda: CLOCK[0]) as opened:
        yield opened


def decided(store, visit_id: str, estimate: float, offset: float = 0.0) -> None:
    from edge.events import Event

    body = {"visit_id": visit_id, "granted": False,
            "temperature": {"estimate_c": estimate, "site_offset_c": offset}}
    store.record_event(Event(EventKind.decision, body), "t")


def test_rechecks_move_the_site_offset_a_bounded_step_a_day_and_can_be_reverted(store):
    clock = CLOCK  # the store's clock too
    calibration = SiteCalibration(store, RecheckLearningConfig(min_pairs=3, max_step_c_per_day=0.1))
    for n in range(3):
        decided(store, f"v{n}", 37.6)
        result = calibration.recheck(f"v{n}", 37.0, "guard-1", threshold_c=37.3)  # the gate reads 0.6 high
    assert result.change is not None and result.change.offset_c == pytest.approx(-0.1)  # a day's step, no more
    assert calibration.offset_c == pytest.approx(-0.1)
    decided(store, "v3", 37.6)
    assert calibration.recheck("v3", 37.0, "guard-1", threshold_c=37.3).change is None  # the same day: held
    clock[0] += 86400.0 + 1
    decided(store, "v4", 37.5, offset=-0.1)
    moved = calibration.recheck("v4", 37.0, "guard-1", threshold_c=37.3).change
    assert moved is not None and moved.offset_c == pytest.approx(-0.2)
    reverted = calibration.revert(moved.id, "admin")
    assert reverted.offset_c == pytest.approx(-0.1) and reverted.reason == f"revert of {moved.id}"
    assert [c.reason for c in store.offset_changes()][0] == f"revert of {moved.id}"


def test_the_sites_offset_states_how_well_its_pairs_know_it_and_how_far_it_still_has_to_go(store):
    calibration = SiteCalibration(store, RecheckLearningConfig(min_pairs=4, max_step_c_per_day=0.1))
    asked = [-0.5, -0.7, -0.6, -0.6]  # the gate reads 0.6 high, give or take
    for n, gap in enumerate(asked[:3]):
        decided(store, f"v{n}", 37.0 - gap)
        calibration.recheck(f"v{n}", 37.0, "guard-1", threshold_c=37.3)
    assert calibration.uncertainty_c is None  # three pairs: too few to say
    decided(store, "v3", 37.6)
    calibration.recheck("v3", 37.0, "guard-1", threshold_c=37.3)
    noise = 1.25 * float(np.std(asked)) / 2
    assert calibration.offset_c == pytest.approx(-0.1)  # a day's step of the 0.6 asked
    assert calibration.uncertainty_c == pytest.approx(math.hypot(noise, 0.5))  # the 0.5 still to go counts
    assert SiteCalibration(store, RecheckLearningConfig(enabled=False)).uncertainty_c is None


def test_a_recheck_that_disagrees_wildly_or_names_no_visit_is_refused_with_the_field(store):
    calibration = SiteCalibration(store, RecheckLearningConfig(max_disagreement_c=1.5))
    decided(store, "v1", 37.6)
    with pytest.raises(RecheckRefused, match="^temperature_c: 39.9 °C is 2.3 °C from the gate's 37.6"):
        calibration.recheck("v1", 39.9, "g", threshold_c=37.3)
    with pytest.raises(RecheckRefused, match="^temperature_c: a clinical reading between 34 and 43"):
        calibration.recheck("v1", float("nan"), "g", threshold_c=37.3)
    with pytest.raises(RecheckRefused, match="^visit_id: no visit 'nope'"):
        calibration.recheck("nope", 37.0, "g", threshold_c=37.3)
    assert store.rechecks(10) == []


def test_the_cli_shows_the_history_and_reverts(tmp_path):
    import subprocess
    import sys

    from tests.conftest import ROOT

    state = tmp_path / "state"
    with Store(state) as opened:
        first = opened.change_offset(-0.1, 5, "learned from 5 rechecks", "gate")
    run = [sys.executable, "-m", "edge.cli", "thermal", "calibration", "--state-dir", str(state)]
    shown = subprocess.run(run, cwd=ROOT, capture_output=True, text=True)
    assert shown.returncode == 0 and "site offset in force: -0.10 °C" in shown.stdout
    assert "learned from 5 rechecks" in shown.stdout
    undone = subprocess.run(run + ["--revert", str(first.id), "--actor", "admin"], cwd=ROOT, capture_output=True,
                            text=True)
    assert undone.returncode == 0, undone.stderr
    with Store(state) as opened:
        assert opened.site_offset()[1] == 0.0
    missing = subprocess.run(run + ["--revert", "99"], cwd=ROOT, capture_output=True, text=True)
    assert missing.returncode == 1 and missing.stderr.strip().splitlines()[-1] == "gatepost: change: no offset change 99"


# the gate: one alarm a person, no reading to the guard

def scenario_runtime(tmp_path, visitors, **extra):
    scenario = tmp_path / "s.yaml"
    scenario.write_text(yaml.safe_dump({"faces_dir": str(SCENARIOS / "faces"), "tail_s": 1.0,
                                        "residents": [{"name": "Alice", "photos": ["resident_a/01.jpg"]}],
                                        "visitors": visitors, **extra}))
    return Runtime(parse_config({"mqtt": {"enabled": False}, "ui": {"enabled": False}}), state_dir=tmp_path / "state",
                   scenario=load_scenario(scenario), realtime=False, loop=False, control=False, ui=False)


def test_a_feverish_person_who_stays_and_whose_track_breaks_raises_one_alarm(tmp_path):
    runtime = scenario_runtime(tmp_path, [{"at": 0.2, "photo": "resident_a/03.jpg", "identity": "Alice",
                                           "temperature_c": 38.4, "walks_through": False, "dwell_s": 7.0,
                                           "expect": "denied"}])
    world = runtime.hardware.world
    decisions = []
    runtime.gate.on_decision = lambda decision, pulsed: decisions.append((world.now, decision))

    def camera_blinks() -> bool:  # the face is lost twice for longer than a visit lasts unseen: three visits
        world.camera_dropped = any(at + 0.5 <= world.now < at + 2.0 for at, _ in decisions[:2])
        return False

    try:
        runtime.run(camera_blinks)
        alarms = runtime.store.events(kind=EventKind.alarm.value)
    finally:
        runtime.close()
    assert len(decisions) >= 2 and all(d.reason_codes == ["fever"] for _, d in decisions)
    assert [a["alarm"] for a in alarms if a["alarm"] != "device_fault"] == ["fever"]


def test_two_feverish_people_one_after_the_other_each_raise_their_alarm(tmp_path):
    runtime = scenario_runtime(tmp_path, [
        {"at": 0.2, "photo": "resident_a/03.jpg", "identity": "Alice", "temperature_c": 38.4, "dwell_s": 2.0,
         "expect": "denied"},
        {"at": 0.3, "photo": "stranger_e/01.jpg", "temperature_c": 38.6, "dwell_s": 2.0, "expect": "denied"}])
    try:
        runtime.run(lambda: False)
        alarms = runtime.store.events(kind=EventKind.alarm.value)
    finally:
        runtime.close()
    assert [a["alarm"] for a in alarms if a["alarm"] != "device_fault"] == ["fever", "fever"]


def test_a_visit_that_ends_without_a_reading_goes_to_the_guard_as_no_reading(tmp_path):
    runtime = scenario_runtime(tmp_path, [{"at": 0.2, "photo": "resident_a/03.jpg", "identity": "Alice",
                                           "distance_m": 1.0, "follows_prompts": False, "expect": "denied"}])
    try:
        runtime.run(lambda: False)
        alarms = runtime.store.events(kind=EventKind.alarm.value)
        decisions = runtime.store.events(kind=EventKind.decision.value)
    finally:
        runtime.close()
    assert decisions[0]["reason_codes"] == ["temperature_no_reading"]
    [alarm] = [a for a in alarms if a["alarm"] != "device_fault"]
    assert alarm["alarm"] == "no_reading" and alarm["why"] == "face_maximum_only"


def test_the_decision_event_carries_the_visits_readings_and_combined_estimate(tmp_path):
    runtime = scenario_runtime(tmp_path, [{"at": 0.2, "photo": "resident_a/03.jpg", "identity": "Alice",
                                           "expect": "granted"}])
    try:
        runtime.run(lambda: False)
        [decision] = runtime.store.events(kind=EventKind.decision.value)
        status = runtime.service.status()
    finally:
        runtime.close()
    temperature = decision["temperature"]
    assert temperature["readings"] >= 1 and temperature["samples"]
    low, high = temperature["interval_95_c"]
    assert low < temperature["estimate_c"] < high and decision["temperature_c"] == temperature["estimate_c"]
    assert status.thermal["baseline"]["samples"] == 1 and status.thermal["baseline"]["ready"] is False


def test_a_guard_recheck_through_the_service_pairs_with_the_visit_and_is_recorded(tmp_path):
    runtime = scenario_runtime(tmp_path, [{"at": 0.2, "photo": "resident_a/03.jpg", "identity": "Alice",
                                           "expect": "granted"}])
    try:
        runtime.run(lambda: False)
        [decision] = runtime.store.events(kind=EventKind.decision.value)
        result = runtime.service.recheck(decision["visit_id"], 36.7, "guard-7")
        assert result.gate_c == pytest.approx(decision["temperature"]["estimate_c"])
        actions = runtime.store.events(kind=EventKind.action.value)
    finally:
        runtime.close()
    [recheck] = [a for a in actions if a["action"] == "fever_recheck"]
    assert recheck["guard"] == "guard-7" and recheck["clinical_temperature_c"] == 36.7
    assert recheck["gate_temperature_c"] == pytest.approx(decision["temperature"]["estimate_c"], abs=0.01)
    assert time.time() - recheck["time"] < 60


def test_a_visit_without_a_trusted_reading_says_why_for_machines():
    assert VisitTemperature().why_none() == "no_face_reading"
    far = VisitTemperature()
    far.add(ThermalReading(False, code="too_far"))
    assert far.why_none() == "too_far"
    spoof = VisitTemperature()
    spoof.add(reading(36.6, live=False))
    assert spoof.why_none() == "not_live"
    blurred = VisitTemperature()
    blurred.add(reading(36.1, live=None, flags=["face maximum"]))
    assert blurred.why_none() == "face_maximum_only"
    warm = VisitTemperature()
    warm.add(reading(36.6, live=False, flags=["warm air"]))
    assert warm.why_none() == "warm_air"  # liveness could not be judged: the guard decides


def test_the_event_carries_the_newest_thirty_readings_rounded():
    visit = VisitTemperature()
    visit.add(ThermalReading(False, code="too_far", time=1.0))  # no reading: not a sample
    for n in range(31):
        visit.add(reading(36.67891, 0.123456, time=100.0 + n + 0.12345))
    visit.add(ThermalReading(True, None, None, live=False, time=200.5))
    samples = visit.samples()
    assert len(samples) == 30 and samples[0] == [102.123, 36.68, 0.123] and samples[-1] == [200.5, None, None]
    assert visit.samples(limit=2) == [[130.123, 36.68, 0.123], [200.5, None, None]]


def test_the_estimate_is_told_with_each_figure_at_its_precision():
    from edge.thermal_fusion import TemperatureEstimate

    estimate = TemperatureEstimate(36.87654, 0.0456789, 0.123456, 12, 2, 36.54321, 37.23456, "canthus", 0.1234567,
                                   0.2345678, 0.3456789)
    low, high = estimate.interval_95
    assert estimate.as_dict() == {
        "estimate_c": 36.88, "uncertainty_c": 0.046, "systematic_c": 0.123, "interval_95_c": [round(low, 2),
                                                                                              round(high, 2)],
        "readings": 12, "rejected": 2, "kind": "canthus", "relative_limit_c": 37.23, "raw_c": 36.54,
        "shift_c": 0.123, "site_offset_c": 0.235, "personal_c": 0.346}
    assert [round(low, 2), round(high, 2)] == [36.62, 37.13]
    assert TemperatureEstimate(36.5, 0.1, 0.2, 1, 0, 36.5, None).as_dict()["relative_limit_c"] is None


def test_outliers_are_judged_from_the_weighted_median_not_a_lower_quantile():
    visit = VisitTemperature()
    for value in (36.0, 36.5, 37.0):
        visit.add(reading(value, 0.1))
    estimate = visit.estimate()
    assert (estimate.temperature_c, estimate.readings, estimate.rejected) == (36.5, 1, 2)


def test_a_visit_without_readings_has_no_fault():
    assert VisitTemperature().fault() is None
    visit = VisitTemperature()
    visit.add(ThermalReading(False, code="blackbody_missing", reason="no reference in view"))
    assert visit.fault() == ("blackbody_missing", "no reference in view")
    visit.add(ThermalReading(False, code="too_far"))  # where the person stands: not the sensor's fault
    assert visit.fault() is None


def test_a_face_maximum_is_fused_apart_from_the_eye_corners():
    visit = VisitTemperature()
    visit.add(reading(36.6, 0.1))
    visit.add(reading(35.9, 0.3, live=None, flags=["face maximum"]))  # never judged: too few pixels
    visit.add(reading(39.0, 0.3, live=False, flags=["face maximum"]))  # judged a spoof: not used
    visit.add(reading(39.0, 0.3, live=None))  # an eye corner not judged: not used
    canthus, face_maximum = visit.estimate(), visit.estimate("face maximum")
    assert (canthus.temperature_c, canthus.readings, canthus.kind) == (36.6, 1, "canthus")
    assert (face_maximum.temperature_c, face_maximum.readings, face_maximum.kind) == (35.9, 1, "face maximum")
    only_maximum = VisitTemperature()
    only_maximum.add(reading(35.9, 0.3, live=None, flags=["face maximum"]))
    assert only_maximum.estimate() is None


def test_a_long_visit_keeps_its_newest_two_hundred_readings():
    visit = VisitTemperature()
    for n in range(200):
        visit.add(reading(36.0 + n / 1000, time=float(n)))
    assert len(visit.readings) == 200 and visit.readings[0].time == 0.0
    visit.add(reading(36.5, time=200.0))
    assert len(visit.readings) == 200 and visit.readings[0].time == 1.0 and visit.newest.time == 200.0


@pytest.mark.parametrize("live, spoof, verdict", [(1, 1, None), (2, 2, None), (1, 2, False), (2, 1, True),
                                                  (0, 1, None), (1, 0, True)])
def test_liveness_is_a_majority_of_the_judged_readings_and_a_tie_is_no_verdict(live, spoof, verdict):
    visit = VisitTemperature()
    for _ in range(live):
        visit.add(reading(36.6, live=True))
    for _ in range(spoof):
        visit.add(reading(36.6, live=False))
    assert visit.liveness() is verdict


def test_a_reading_that_claims_no_uncertainty_weighs_as_a_near_certain_one():
    visit = VisitTemperature()
    visit.add(reading(36.0, 0.0))
    visit.add(reading(37.0, 0.5))
    assert visit.estimate().temperature_c == pytest.approx(36.0, abs=1e-3)


def test_the_estimate_names_the_shift_and_offset_it_includes_and_its_raw_value_without_them():
    visit = VisitTemperature()
    visit.add(reading(36.9, 0.1, baseline_shift_c=0.25, site_offset_c=0.1, relative_limit_c=37.4, systematic_c=0.2))
    estimate = visit.estimate()
    assert (estimate.shift_c, estimate.site_offset_c, estimate.kind) == (0.25, 0.1, "canthus")
    assert estimate.raw_c == pytest.approx(36.9 - 0.35) and estimate.temperature_c == 36.9
    assert (estimate.relative_limit_c, estimate.systematic_c) == (37.4, 0.2)
