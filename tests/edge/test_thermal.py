"""Thermal measurement, liveness and registration."""

import subprocess
import sys

import cv2
import numpy as np
import pytest
import yaml

from drivers.sim.thermal_model import ThermalFace, render
from drivers.thermal import ThermalFrame
from edge.config import ChecksConfig, ThermalConfig
from edge.overrides import load
from edge.decision import Policy, Visit
from edge.stages.thermal import ThermalStage
from tests.conftest import ROOT

BLACKBODY = (148, 2, 10, 10)


def face_at(distance_m: float, core: float = 36.6, kind: str = "live"):
    face_px = 520 * 0.15 / distance_m
    eye_px = 0.42 * face_px
    centre = np.array([320.0, 220.0])
    eyes = np.array([[centre[0] - eye_px / 2, centre[1] - 0.1 * face_px], [centre[0] + eye_px / 2, centre[1] - 0.1 * face_px]])
    landmarks = np.vstack([eyes, [centre[0], centre[1] + 0.15 * face_px], [centre[0] - 10, centre[1] + 30],
                           [centre[0] + 10, centre[1] + 30]])
    box = (centre[0] - face_px / 2, centre[1] - 0.55 * face_px, centre[0] + face_px / 2, centre[1] + 0.65 * face_px)
    return ThermalFace(tuple(v / 4 for v in box), eyes / 4, core, kind), landmarks, distance_m


def frame(face, *, ambient=22.0, blackbody=True, offset=0.8, seed=0):
    return render((160, 120), ambient, [face], blackbody_c=35.0 if blackbody else None,
                  blackbody_box=BLACKBODY if blackbody else None, offset_c=offset, noise_c=0.05,
                  rng=np.random.default_rng(seed))


def measure(face, landmarks, distance, **kwargs):
    stage = ThermalStage(ThermalConfig())
    return stage.measure(frame(face, **kwargs), landmarks, distance)


@pytest.mark.parametrize("ambient", [8.0, 22.0, 33.0])
def test_canthus_reading_corrected_by_the_blackbody_and_for_the_air(ambient):
    reading = measure(*face_at(0.7, 36.9), ambient=ambient, offset=1.4)
    assert reading.available and reading.live
    assert abs(reading.temperature_c - 36.9) <= 0.2
    assert reading.uncertainty_c <= 0.3


def test_untrusted_readings_are_unavailable_with_the_reason():
    far = measure(*face_at(1.6))
    assert not far.available and "too far" in far.flags
    no_reference = measure(*face_at(0.7), blackbody=False)
    assert not no_reference.available and no_reference.reason == "reading not trusted: blackbody missing"
    face, landmarks, distance = face_at(0.7)
    broken = frame(face)
    broken[60, 80] = np.nan
    assert ThermalStage(ThermalConfig()).measure(broken, landmarks, distance).reason.startswith("thermal frame holds NaN")


def test_small_face_falls_back_to_the_face_maximum_with_more_uncertainty():
    reading = measure(*face_at(1.15, 36.6))
    assert "face maximum" in reading.flags
    assert reading.uncertainty_c >= 0.6
    assert "too small" in reading.flags  # a step closer resolves the eye corners: the screen asks for it


def test_a_face_is_not_asked_closer_when_the_eye_corners_would_resolve_only_inside_the_closest_distance():
    face, landmarks, distance = face_at(1.15, 36.6)
    reading = ThermalStage(ThermalConfig(min_distance_m=1.0)).measure(frame(face), landmarks, distance)
    assert "face maximum" in reading.flags and "too small" not in reading.flags
    assert "too small" not in measure(*face_at(0.7)).flags


def test_photo_and_screen_are_not_live():
    for kind in ("photo", "screen"):
        reading = measure(*face_at(0.7, kind=kind))
        assert reading.live is False, kind


def test_liveness_is_not_judged_out_of_reading_range():
    """A live face at 2 m is a few pixels blurred into the background: flat, like a photo. Judged there, a
    resident walking up was refused as a spoof on the first frame her face was found (seen at 1080p)."""
    policy = Policy(ChecksConfig.model_validate({"face": {"mode": "off"}, "qr": {"mode": "off"}}), window_s=3)
    for kind in ("live", "photo"):
        far = measure(*face_at(2.0, kind=kind))
        assert far.live is None and not far.available, kind
        outcome = policy.outcomes(Visit(None, 0.0, 0.0, thermal=far))["temperature"]
        assert outcome.status == "pending" and outcome.code == "temperature_unavailable", kind
    close = measure(*face_at(0.1, kind="photo"))
    assert "too close" in close.flags and close.live is None
    assert measure(*face_at(0.7, kind="photo")).live is False


def seen_at(landmarks, distance, when, track_id=1):
    """A frame context with the primary face seen by the colour camera at `when`."""
    from drivers.camera import Frame
    from edge.face.engine import FaceResult, SeenFace
    from edge.stages.base import FrameContext

    face = SeenFace(track_id, [0, 0, 1, 1], landmarks, 0.9, None, distance, None, primary=True)
    return FrameContext(frame=Frame(np.zeros((480, 640, 3), np.uint8), when, 0), now=when, face=FaceResult([face]))


def test_the_face_is_read_where_it_was_when_the_thermal_frame_was_taken():
    """An MLX90640 at 4 Hz: the newest thermal frame is a quarter of a second old and the resident with a
    fever has walked on since. Read at where she is now, the canthus windows fell beside her face and the
    gate let a 37.8-39 °C fever through as 37.1 °C (seen in gate_latency --thermal-hz 4)."""
    fever, landmarks, distance = face_at(0.8, 38.4)
    thermal = frame(fever)
    moved = landmarks + np.array([60.0, 10.0])  # 15 thermal pixels to the side a quarter second later
    stage = ThermalStage(ThermalConfig())
    for when in np.arange(0.0, 0.25, 0.04):  # colour frames at 25 a second as she walks
        context = seen_at(landmarks + (moved - landmarks) * when / 0.24, distance, when)
        context.thermal_frame = ThermalFrame(thermal, 0.0)
        stage.process(context)
    reading = context.thermal
    assert reading.available and reading.live, reading
    assert abs(reading.temperature_c - 38.4) <= 0.3
    elsewhere = ThermalStage(ThermalConfig()).measure(thermal, moved, distance, age_s=0.24)
    assert not (elsewhere.available and elsewhere.live and elsewhere.temperature_c > 37.3)  # what she was read as
    later = seen_at(moved, distance, 0.5, track_id=2)  # someone else's track: no colour frame of them at 0.0
    later.thermal_frame = ThermalFrame(thermal, 0.0)
    stage.process(later)
    assert not later.thermal.available and "no colour frame" in later.thermal.reason


def test_a_frame_measured_in_halves_is_read_where_the_face_was_for_each_half():
    """An MLX90640 handing over each sub-page as it arrives: half the pixels are from now, the other half from
    125 ms before, when a person walking up was elsewhere. Read as one frame where she is now, or from the
    fresh half alone, a 38.4 °C fever read up to 0.5 °C low: a half whose face is not known is not trusted."""
    from drivers.sim.thermal_model import ThermalFace
    from drivers.thermal import chess_pattern

    fever, landmarks, distance = face_at(0.8, 38.4)
    as_one_frame, fresh_half_only = [], []
    for shift in np.arange(0.0, 64.0, 4.0):  # colour pixels she moved in the 125 ms between the halves
        moved = ThermalFace(tuple(np.add(fever.box, [shift / 4, 0, shift / 4, 0])), fever.eyes + [shift / 4, 0],
                            38.4, "live")
        now = landmarks + [shift, 0.0]
        for page in (0, 1):
            fresh = chess_pattern(120, 160) == page
            halves = np.where(fresh, frame(moved, seed=page + 10), frame(fever, seed=page))
            stage = ThermalStage(ThermalConfig())
            for when in np.arange(0.0, 0.126, 0.04):  # colour frames at 25 a second as she walks
                context = seen_at(landmarks + (now - landmarks) * min(1.0, when / 0.12), distance, when)
                context.thermal_frame = ThermalFrame(halves, 0.12, fresh=fresh, rest_time=0.0)
                stage.process(context)
            reading = context.thermal
            assert reading.available and reading.live, (shift, page, reading)
            assert abs(reading.temperature_c - 38.4) <= 0.15, (shift, page, reading)
            as_one_frame.append(ThermalStage(ThermalConfig()).measure(halves, now, distance).temperature_c)
            fresh_half_only.append(ThermalStage(ThermalConfig()).measure(
                halves, now, distance, halves=(fresh, None)).temperature_c)
    assert min(as_one_frame) < 38.1 and min(fresh_half_only) < 38.1  # why each half is read on its own

    healthy, landmarks, distance = face_at(0.8, 36.6)
    fresh = chess_pattern(120, 160) == 0
    left_over = np.where(fresh, frame(healthy, seed=1), frame(fever, seed=2))  # the sensor stalled after a fever
    stage = ThermalStage(ThermalConfig())
    for when in np.arange(0.0, 1.0, 0.04):
        context = seen_at(landmarks, distance, when)
        context.thermal_frame = ThermalFrame(left_over, 0.96, fresh=fresh, rest_time=0.2)  # 0.8 s older: stale
        stage.process(context)
    assert not context.thermal.available and context.thermal.reason == "reading not trusted: half frame"


def test_unstable_blackbody_is_flagged():
    stage = ThermalStage(ThermalConfig())
    face, landmarks, distance = face_at(0.7)
    readings = [stage.measure(frame(face, offset=offset, seed=n), landmarks, distance)
                for n, offset in enumerate([0.0, 1.0, 0.0, 1.0, 0.0, 1.0])]
    assert "blackbody unstable" in readings[-1].flags and not readings[-1].available


def test_frozen_sensor_is_a_fault():
    from edge.stages.base import FrameContext
    from drivers.camera import Frame

    stage = ThermalStage(ThermalConfig(frozen_after_s=1.0))
    face, _, _ = face_at(0.7)
    still = frame(face)
    image = Frame(np.zeros((480, 640, 3), np.uint8), 0.0, 0)
    for now in (0.0, 0.5, 1.2):
        stage.process(FrameContext(frame=image, now=now, thermal_frame=ThermalFrame(still, now)))
    assert stage.fault == "thermal sensor frozen (frames not changing)"


def test_policy_never_passes_an_uncertain_or_feverish_reading():
    from edge.readings import ThermalReading

    policy = Policy(ChecksConfig.model_validate({"face": {"mode": "off"}, "qr": {"mode": "off"}}), window_s=3)

    def outcome(estimate, uncertainty, available=True, readings=1):
        visit = Visit(None, 0.0, 0.0)
        for _ in range(readings):
            visit.add_reading(ThermalReading(available, estimate, uncertainty, True, correlated_c=uncertainty))
        return policy.outcomes(visit)["temperature"]

    assert outcome(36.6, 0.15).status == "pass"
    assert outcome(37.6, 0.15).code == "temperature_uncertain"  # one hot reading is not a fever yet
    assert outcome(37.6, 0.15, readings=3).code == "fever"
    assert outcome(37.0, 0.6, readings=10).code == "temperature_uncertain"
    assert outcome(36.6, 0.15, available=False).status == "pending"


def test_calibrate_from_points_writes_the_homography(tmp_path):
    truth = np.array([[0.26, 0.01, -4.0], [0.0, 0.25, 3.0], [0.0, 0.0, 1.0]])
    rgb = np.array([[50, 40], [600, 60], [580, 430], [70, 420], [320, 240]], np.float64)
    thermal = cv2.perspectiveTransform(rgb.reshape(-1, 1, 2), truth).reshape(-1, 2)
    points = tmp_path / "points.csv"
    points.write_text("rgb_x,rgb_y,thermal_x,thermal_y\n" + "".join(f"{a},{b},{c},{d}\n"
                                                                    for (a, b), (c, d) in zip(rgb, thermal)))
    config = tmp_path / "gate.yaml"
    operator = f"site: {{gate_id: gate-9}}  # the operator's comment\nstate_dir: {tmp_path / 'state'}\n"
    config.write_text(operator)
    result = subprocess.run([sys.executable, "-m", "edge.cli", "-c", str(config), "thermal", "calibrate",
                             "--points", str(points), "--write"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "mean reprojection error 0.00" in result.stdout
    assert config.read_text() == operator  # never rewritten
    written = load(config)
    assert written.site.gate_id == "gate-9"
    assert np.allclose(written.hardware.thermal.homography, truth, atol=1e-4)
    bad = tmp_path / "bad.csv"
    bad.write_text("rgb_x,rgb_y,thermal_x,thermal_y\n1,2,3,x\n")
    refused = subprocess.run([sys.executable, "-m", "edge.cli", "thermal", "calibrate", "--points", str(bad)],
                             cwd=ROOT, capture_output=True, text=True)
    assert refused.returncode == 1 and "line 2" in refused.stderr
    assert yaml.safe_load(config.read_text())["site"]["gate_id"] == "gate-9"


def test_calibrate_from_heated_target_frames(tmp_path):
    for n, (x, y) in enumerate([(100, 100), (540, 90), (520, 400), (120, 380), (320, 250)]):
        image = np.zeros((480, 640), np.uint8)
        cv2.circle(image, (x, y), 6, 255, -1)
        cv2.imwrite(str(tmp_path / f"p{n}.png"), image)
        celsius = np.full((120, 160), 22.0, np.float32)
        cv2.circle(celsius, (round(x / 4), round(y / 4)), 2, 60.0, -1)
        np.save(tmp_path / f"p{n}.npy", celsius)
    result = subprocess.run([sys.executable, "-m", "edge.cli", "thermal", "calibrate", "--targets", str(tmp_path)],
                            cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    matrix = np.array(yaml.safe_load(result.stdout.split("\n", 1)[1])["hardware"]["thermal"]["homography"])
    assert np.allclose(matrix[:2, :2], [[0.25, 0], [0, 0.25]], atol=0.02)


def test_a_stale_thermal_frame_is_not_used():
    stage = ThermalStage(ThermalConfig(max_frame_age_s=0.5))
    face, landmarks, distance = face_at(0.7)
    assert stage.measure(frame(face), landmarks, distance, age_s=0.3).available
    stale = stage.measure(frame(face), landmarks, distance, age_s=0.8)
    assert not stale.available and stale.reason == "thermal frame stale (0.80 s old)"
