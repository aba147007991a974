"""The thermal stage's arithmetic on scenes built pixel by pixel: where it reads, what it corrects, what it calls
live, and the uncertainty it states. The figures are worked out by hand from edge/stages/thermal.py's docstrings."""

import json
import math
from types import SimpleNamespace

import numpy as np
import pytest

from drivers.camera import Frame
from drivers.thermal import ThermalFrame
from edge.blackbody import Reference
from edge.config import ThermalBaselineConfig, ThermalConfig
from edge.face.engine import FaceResult, SeenFace
from edge.readings import ThermalReading
from edge.stages.base import FrameContext
from edge.stages.thermal import ThermalStage, _ambient, _live, _robust_max, _unavailable
from edge.thermal_baseline import HEALTHY_MEAN_SD_C

IDENTITY = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]  # colour pixels are thermal pixels
BLACKBODY_BOX = [150, 110, 4, 4]
AIR_C, SENSOR_OFFSET_C = 18.2537, 0.5


def config(**overrides) -> ThermalConfig:
    return ThermalConfig(**{"homography": IDENTITY, "blackbody_box": BLACKBODY_BOX, **overrides})


def scene(*, blackbody_c: float = 35.5, peak=(36.3, 36.5, 36.9), other_peak=(36.0, 36.1, 36.2),
          canthus_c: float = 35.0) -> np.ndarray:
    """Air at 18.2537 °C, a face of 34 °C skin whose inner eye corners are 35 °C with a few hotter pixels, a blackbody
    at 35 °C in the corner; the sensor reads everything 0.5 °C high (the reference reads `blackbody_c`)."""
    frame = np.full((120, 160), AIR_C + SENSOR_OFFSET_C)
    frame[22:47, 34:59] = 34.0 + SENSOR_OFFSET_C  # the face's region for eyes at (40, 30) and (52, 30), nose (46, 37)
    frame[28:33, 40:45] = canthus_c + SENSOR_OFFSET_C  # the left inner canthus's window (centre 42, 30, radius 2)
    frame[28:33, 48:53] = canthus_c + SENSOR_OFFSET_C  # the right one (centre 50, 30)
    frame[28, 40], frame[30, 42], frame[32, 44] = peak  # the window's corners and centre
    frame[27, 42] = frame[33, 42] = frame[30, 39] = frame[30, 45] = 37.5  # just outside the window: never read
    frame[29, 49], frame[30, 50], frame[31, 51] = other_peak
    frame[110:114, 150:154] = blackbody_c
    frame[111:113, 151:153] = [[blackbody_c - 0.1, blackbody_c + 0.1], [blackbody_c + 0.1, blackbody_c - 0.1]]
    return frame


EYES_12_PX = np.array([[40.0, 30.0], [52.0, 30.0], [46.0, 37.0], [42.0, 43.0], [50.0, 43.0]])


def skin(apparent: float, air: float) -> float:
    return (apparent - 0.02 * air) / 0.98  # emissivity 0.98: skin reflects 2 % of the room


def test_a_resolved_canthus_reading_is_corrected_by_the_reference_the_air_and_emissivity():
    reading = ThermalStage(config()).measure(scene(), EYES_12_PX, 0.7, now=5.0)
    canthus = skin(36.5 - 0.5, AIR_C)  # the left window's second-highest pixel, less the reference's offset
    face_median = skin(34.0, AIR_C)
    assert reading.available and reading.live is True and reading.flags == [] and reading.reason == ""
    assert (reading.eye_px, reading.ambient_c, reading.time) == (12.0, 18.25, 5.0)  # the air to a hundredth
    assert reading.skin_c == pytest.approx(canthus, abs=1e-3)
    assert reading.gradient_c == pytest.approx(canthus - face_median, abs=1e-3)
    assert reading.temperature_c == pytest.approx(canthus + 0.3 + 0.02 * (22.0 - AIR_C), abs=1e-3)
    independent = float(np.std([36.3, 36.5, 36.9]))  # the peak's spread: a canthus not quite resolved
    blur = 0.05 * (14 - 12)
    assert reading.correlated_c == pytest.approx(blur, abs=1e-3)
    assert reading.uncertainty_c == pytest.approx(math.hypot(independent, blur), abs=1e-3)
    assert reading.systematic_c == pytest.approx(math.sqrt(0.22 ** 2 + 0.3 ** 2 + 0.1 ** 2), abs=1e-3)
    assert (reading.baseline_shift_c, reading.site_offset_c, reading.relative_limit_c) == (0.0, 0.0, None)


def test_a_flat_peak_is_as_uncertain_as_the_sensors_noise_and_the_hotter_corner_is_read():
    flat = ThermalStage(config()).measure(scene(peak=(35.5, 35.5, 35.5), other_peak=(35.6, 35.6, 35.6)),
                                          EYES_12_PX, 0.7, now=5.0)
    assert flat.skin_c == pytest.approx(skin(35.6 - 0.5, AIR_C), abs=1e-3)  # the right corner reads hotter
    assert flat.uncertainty_c == pytest.approx(math.hypot(0.7 * 0.1, 0.05 * 2), abs=1e-3)  # 0.7 x the noise


def test_the_references_spread_and_age_add_to_what_the_visits_readings_share():
    stage = ThermalStage(config())
    stage.measure(scene(blackbody_c=35.5), EYES_12_PX, 0.7, now=5.0)
    steady = stage.measure(scene(blackbody_c=35.6), EYES_12_PX, 0.7, now=5.25)  # offsets 0.5, 0.6: median 0.55
    assert steady.skin_c == pytest.approx(skin(36.5 - 0.55, AIR_C - 0.05), abs=1e-3)
    spread = float(np.std([0.5, 0.6]))
    assert steady.correlated_c == pytest.approx(math.hypot(0.1, 1.25 * spread / 5), abs=1e-3)
    hidden = scene()
    hidden[110:114, 150:154] = AIR_C + SENSOR_OFFSET_C  # the reference blocked: held for blackbody_hold_s
    held = stage.measure(hidden, EYES_12_PX, 0.7, now=6.25)
    assert held.available and held.correlated_c == pytest.approx(math.hypot(0.1, 1.25 * spread / 5, 0.05 * 1.0),
                                                                 abs=1e-3)
    assert not stage.measure(hidden, EYES_12_PX, 0.7, now=7.5).available  # held no longer


def test_without_a_reference_the_sensors_own_offset_is_the_uncertainty():
    stage = ThermalStage(config(blackbody_c=None))
    reading = stage.measure(scene(), EYES_12_PX, 0.7, now=5.0)
    assert not reading.available and reading.code == "blackbody_missing"
    assert reading.skin_c == pytest.approx(skin(36.5, AIR_C + 0.5), abs=1e-3)  # nothing corrects the sensor's offset
    assert reading.correlated_c == pytest.approx(math.hypot(0.1, 0.6), abs=1e-3)
    assert reading.systematic_c == pytest.approx(math.sqrt(0.22 ** 2 + 0.3 ** 2), abs=1e-3)


def test_a_face_too_small_for_its_eye_corners_reads_its_maximum_and_says_so():
    eyes_8_px = np.array([[42.0, 30.0], [50.0, 30.0], [46.0, 37.0], [43.0, 43.0], [49.0, 43.0]])
    frame = scene()
    reading = ThermalStage(config()).measure(frame, eyes_8_px, 0.7, now=5.0)
    assert reading.flags == ["too small", "face maximum"] and reading.live is None
    region = frame[25:44, 38:55]  # x 42-4 .. 50+4+1, y 30-4.8 .. 37+6.4+1
    assert reading.skin_c == pytest.approx(skin(float(np.percentile(region, 99)) - 0.5, AIR_C), abs=1e-3)
    assert reading.correlated_c == pytest.approx(0.6, abs=1e-3)


@pytest.mark.parametrize("canthus, gradient, air, noise, live", [
    (32.99, 5.0, 22.0, 0.01, False),  # colder than any live eye corner
    (33.0, 0.32, 22.0, 0.01, True),  # 33 °C is live skin; 11 °C above the air asks 0.4 x 11/14 = 0.314
    (36.0, 0.5, 10.0, 0.01, True),  # 26 °C above the air: the full 0.4 is asked, no more
    (35.0, 0.38, 22.0, 0.01, True),  # 13 °C above: 0.371 asked
    (35.0, 1.125, 22.0, 0.25, True),  # the noise's floor 4.5 x 0.25, met exactly
    (35.0, 1.12, 22.0, 0.25, False),
    (33.0, 0.1, 31.0, 0.01, True),  # 2 °C above the air, exactly the least
    (34.0, 0.0, 22.0, 0.01, False),  # flat, 12 °C above the air: a photo
    (33.5, 0.0, 23.5, 0.01, False),  # flat, exactly 10 °C above: still judged
    (33.5, 0.0, 24.0, 0.01, None),  # flat, 9.5 °C above: warm air, not judged
])
def test_liveness_is_warm_skin_with_hotter_eye_corners_judged_only_where_the_air_can_tell(canthus, gradient, air,
                                                                                          noise, live):
    assert _live(canthus, gradient, air, noise) is live


def test_a_thermal_frame_pairs_with_the_colour_frames_around_it_and_no_farther():
    stage = ThermalStage(config())
    first, second = np.zeros((5, 2)), np.ones((5, 2))
    stage._seen.extend([(0.03, 1, first, 0.7), (0.53, 1, second, 0.9), (0.6, 2, second, 0.5)])
    assert stage.face_at(0.03, 1)[0] is first  # the first frame itself, though the next is too far off
    assert stage.face_at(0.0, 1)[0] is first and stage.face_at(-0.01, 1) is None  # 30 ms before it, not more
    assert stage.face_at(0.53, 1) == (second, 0.9) and stage.face_at(0.55, 1)[0] is second
    assert stage.face_at(0.3, 1) is None  # between two frames half a second apart
    assert stage.face_at(0.3, 3) is None


def test_only_the_newest_64_colour_frames_are_kept_for_pairing():
    stage = ThermalStage(config())
    for n in range(65):
        seen_at(stage, n * 0.04)
    assert stage.face_at(0.0, 1) is None and stage.face_at(0.04, 1) is not None


def test_between_two_colour_frames_the_face_is_where_it_was_on_the_way_from_one_to_the_other():
    stage = ThermalStage(config())
    for when, x, distance in ((0.0, 0.0, 1.0), (0.1, 10.0, 2.0), (0.2, 20.0, 3.0), (0.4, 40.0, 5.0), (0.8, 80.0, 9.0)):
        stage._seen.append((when, 1, np.full((5, 2), x), distance))
    at = {when: stage.face_at(when, 1) for when in (0.05, 0.1, 0.15, 0.3, 0.4, 0.5, 0.8, 0.82)}
    assert at[0.05][0][0, 0] == pytest.approx(5.0) and at[0.05][1] == pytest.approx(1.5)
    assert at[0.1][0][0, 0] == pytest.approx(10.0) and at[0.1][1] == pytest.approx(2.0)
    assert at[0.15][0][0, 0] == pytest.approx(15.0) and at[0.15][1] == pytest.approx(2.5)
    assert at[0.3][0][0, 0] == pytest.approx(30.0) and at[0.3][1] == pytest.approx(4.0)  # 0.2 s apart: still near
    assert at[0.4][1] == 5.0  # a frame itself, though the next is far off
    assert at[0.5] is None  # 0.4 s apart: too far to say
    assert at[0.8][1] == 9.0 and at[0.82][1] == 9.0
    newest = ThermalStage(config())
    newest._seen.extend([(0.1, 1, np.zeros((5, 2)), 1.0), (0.2, 1, np.ones((5, 2)), 2.0)])
    assert newest.face_at(0.2 + 0.03, 1) == (newest._seen[-1][2], 2.0)  # 30 ms after the newest, not more
    assert newest.face_at(0.2 + 0.031, 1) is None


def test_the_baseline_learns_a_person_in_the_air_they_were_read_in(tmp_path):
    stage = ThermalStage(config(), state_dir=tmp_path)
    stage.learn(ThermalReading(True, 36.4, 0.2, True, [], baseline_shift_c=0.1, ambient_c=15.0))
    stage.learn(ThermalReading(True, 36.4, 0.2, True, ["face maximum"], ambient_c=15.0))  # not a canthus
    kept = json.loads((tmp_path / "thermal_baseline.json").read_text())
    assert (kept["readings"], kept["ambients"]) == ([pytest.approx(36.3)], [15.0])


def test_an_unavailable_reading_is_plainly_not_available():
    assert _unavailable("why", "code").available is False


def seen_at(stage: ThermalStage, when: float, landmarks=EYES_12_PX, *, thermal=None, track: int = 1, now=None):
    """One colour frame of the primary face at `when`, with the thermal frame the gate has then; the reading."""
    context = FrameContext(frame=Frame(np.zeros((120, 160, 3), np.uint8), when, 0), now=when if now is None else now,
                           face=FaceResult([SeenFace(track, [0, 0, 1, 1], landmarks, 0.9, None, 0.7, None, primary=True)]),
                           thermal_frame=thermal)
    stage.process(context)
    return context.thermal


def test_a_frame_without_a_thermal_frame_is_no_reading_and_a_fault():
    stage = ThermalStage(config())
    reading = seen_at(stage, 1.0)
    assert (reading.available, reading.reason, reading.code) == (False, "no thermal frame", "no_frame")
    assert (stage.fault, stage.fault_code) == ("no thermal frame", "no_frame")
    assert seen_at(stage, 1.1, thermal=ThermalFrame(scene(), 1.1)).available  # the fault goes with the frame back
    assert stage.fault is None


def test_a_thermal_frame_from_when_the_face_was_not_seen_is_no_reading():
    stage = ThermalStage(config())
    reading = seen_at(stage, 1.0, thermal=ThermalFrame(scene(), 0.5))
    assert (reading.available, reading.code) == (False, "no_colour_frame")
    assert reading.reason == "no colour frame of this face when the thermal frame was taken"


def test_a_sensor_that_corrects_emissivity_itself_is_not_corrected_again():
    own = seen_at(ThermalStage(config()), 1.0, thermal=ThermalFrame(scene(), 1.0, emissivity_corrected=True))
    assert own.skin_c == pytest.approx(36.5 - 0.5, abs=1e-3)
    assert own.gradient_c == pytest.approx(36.5 - 34.5, abs=1e-3)  # nor is the face around the eyes


def test_a_frame_in_halves_reads_its_older_half_only_while_that_is_recent_enough():
    fresh = (np.indices((120, 160)).sum(axis=0) % 2).astype(bool)
    for rest_time, trusted in ((0.4, True), (0.39, False)):  # measured 0.6 s (max_frame_age_s) or 0.61 s before
        stage = ThermalStage(config())
        seen_at(stage, rest_time)
        reading = seen_at(stage, 1.0, thermal=ThermalFrame(scene(), 1.0, fresh=fresh, rest_time=rest_time))
        assert ("half frame" not in reading.flags) is trusted, rest_time
        assert reading.available is trusted and reading.correlated_c == pytest.approx(math.hypot(0.1, 0.05), abs=1e-3)


def test_a_stale_thermal_frame_is_no_reading_and_a_reference_seen_steady_is_held_a_moment():
    stage = ThermalStage(config())
    seen_at(stage, 0.0)
    stale = seen_at(stage, 0.7, thermal=ThermalFrame(scene(), 0.0))  # measured when the face was seen, 0.7 s ago
    assert (stale.available, stale.code, stale.reason) == (False, "stale", "thermal frame stale (0.70 s old)")
    moving = scene()
    moving[0, 0] += 0.01  # not the same frame again
    assert seen_at(stage, 1.0, thermal=ThermalFrame(moving, 1.0)).available
    hidden = scene()
    hidden[110:114, 150:154] = AIR_C + SENSOR_OFFSET_C
    held = seen_at(stage, 1.5, thermal=ThermalFrame(hidden, 1.5))
    assert held.available and held.correlated_c == pytest.approx(math.hypot(0.1, 0.05 * 0.5), abs=1e-3)


@pytest.mark.parametrize("age_s, stale", [(0.6, False), (0.61, True)])
def test_a_frame_is_stale_only_past_max_frame_age_s(age_s, stale):
    reading = ThermalStage(config()).measure(scene(), EYES_12_PX, 0.7, age_s=age_s, now=5.0)
    assert (reading.code == "stale") is stale


def test_a_frozen_sensor_is_a_fault_once_its_frames_stay_the_same_for_frozen_after_s():
    stage = ThermalStage(config())
    frame = scene()
    seen_at(stage, 1.0, thermal=ThermalFrame(frame, 1.0))
    assert seen_at(stage, 2.5, thermal=ThermalFrame(frame.copy(), 2.5)).available  # repeated: the reading before
    frozen = seen_at(stage, 3.0, thermal=ThermalFrame(frame.copy(), 3.0))  # the same pixels 2.0 s on
    assert (frozen.available, frozen.code, frozen.reason) == \
        (False, "sensor_frozen", "thermal sensor frozen (frames not changing)")


@pytest.mark.parametrize("pixel, code, reason", [
    (np.nan, "nan", "thermal frame holds NaN or infinite pixels"), (np.inf, "nan", "thermal frame holds NaN or infinite pixels"),
    (150.01, "out_of_range", "thermal pixels out of range"), (-40.01, "out_of_range", "thermal pixels out of range"),
    (150.0, "", ""), (-40.0, "", ""),  # the sensor's range includes its ends
])
def test_a_broken_frame_says_what_is_wrong_with_it(pixel, code, reason):
    frame = scene()
    frame[0, 0] = pixel
    stage = ThermalStage(config())
    reading = seen_at(stage, 5.0, thermal=ThermalFrame(frame, 5.0))
    assert (reading.code, reading.reason, reading.available) == (code, reason, not code)
    assert (stage.fault, stage.fault_code) == ((reason, code) if code else (None, ""))  # the sensor's fault, shown


@pytest.mark.parametrize("distance_m, flag", [(1.2, None), (1.21, "too far"), (0.3, None), (0.29, "too close")])
def test_reading_range_includes_its_limits(distance_m, flag):
    reading = ThermalStage(config()).measure(scene(), EYES_12_PX, distance_m, now=5.0)
    assert reading.flags == ([flag] if flag else [])
    assert reading.available is (flag is None) and reading.live is (None if flag else True)  # out of range: not judged
    if flag:
        assert (reading.code, reading.reason) == (flag.replace(" ", "_"), f"reading not trusted: {flag}")


def eyes(apart: float) -> np.ndarray:
    left = 46.0 - apart / 2
    return np.array([[left, 30.0], [left + apart, 30.0], [46.0, 37.0], [43.0, 43.0], [49.0, 43.0]])


@pytest.mark.parametrize("apart, distance_m, flags", [
    (10.0, 0.7, []),  # ten pixels between the eyes: the canthi are read
    (9.0, 0.7, ["too small", "face maximum"]),
    (8.0, 0.375, ["too small", "face maximum"]),  # a step closer (0.3 m) would still be inside the range: asked
    (8.0, 0.37, ["face maximum"]),  # closer than 0.3 m to resolve them: not asked
    (4.0, 1.0, ["too small", "face maximum"]),  # four pixels: the face's maximum is still a reading
    (3.0, 1.0, ["too small", "too few pixels"]),
])
def test_what_a_face_of_few_pixels_is_read_by(apart, distance_m, flags):
    reading = ThermalStage(config()).measure(scene(), eyes(apart), distance_m, now=5.0)
    assert reading.flags == flags
    assert (reading.code == "too_few_pixels") is ("too few pixels" in flags)
    if "too few pixels" in flags:
        assert (reading.available, reading.reason) == (False, "too few thermal pixels on the face")


def test_the_robust_maximum_skips_one_hot_pixel_but_needs_three_to_do_so():
    assert _robust_max(np.array([])) is None
    assert _robust_max(np.array([30.0])) == 30.0
    assert _robust_max(np.array([30.0, 31.0])) == 31.0
    assert _robust_max(np.array([30.0, 40.0, 31.0])) == 31.0


def test_screening_mode_and_the_sites_offset_shift_the_estimate_and_each_is_stated_with_it():
    baseline = ThermalBaselineConfig(min_samples=5, window=50, recent=5)
    site = SimpleNamespace(offset_c=0.12345, uncertainty_c=None)  # too few rechecks to say how well it knows
    stage = ThermalStage(config(baseline=baseline), calibration=site)
    for n, air in enumerate((14.0, 16.0, 18.0, 20.0, 22.0, 24.0)):  # people read warmer in warmer air
        stage.learn(ThermalReading(True, 35.9 + 0.03 * air + 0.01 * n, 0.1, True, [], ambient_c=air))
    shift = stage.baseline.shift_at(AIR_C)
    assert stage.baseline.ready and shift != pytest.approx(stage.baseline.shift_at(None), abs=1e-4)
    plain = ThermalStage(config(baseline=baseline)).measure(scene(), EYES_12_PX, 0.7, now=5.0)
    reading = stage.measure(scene(), EYES_12_PX, 0.7, now=5.0)
    assert reading.temperature_c == pytest.approx(plain.temperature_c + shift + 0.12345, abs=2e-3)
    assert (reading.baseline_shift_c, reading.site_offset_c) == (round(shift, 4), round(0.12345, 4))
    assert reading.relative_limit_c == stage.baseline.relative_limit_at(AIR_C) != stage.baseline.relative_limit_at(None)
    # calibrated on the site's people, the blackbody's own accuracy (0.1 °C) is in the shift, no longer apart
    calibrated = math.sqrt(0.22 ** 2 + HEALTHY_MEAN_SD_C ** 2 + stage.baseline.noise_c ** 2)
    assert reading.systematic_c == round(calibrated, 3)
    assert plain.systematic_c == round(math.sqrt(0.22 ** 2 + 0.3 ** 2 + 0.1 ** 2), 3)
    # once rechecks measure the site's offset, their measure stands for the assumed spread of healthy means (0.12)
    site.uncertainty_c = 0.05
    measured = stage.measure(scene(), EYES_12_PX, 0.7, now=5.0)
    assert measured.systematic_c == round(math.sqrt(0.22 ** 2 + stage.baseline.noise_c ** 2 + 0.05 ** 2), 3)
    assert measured.systematic_c < reading.systematic_c


def test_a_reading_states_degrees_to_a_thousandth_and_its_air_and_eye_distance_to_a_hundredth():
    tilted = EYES_12_PX.copy()
    tilted[1, 1] += 0.6  # 12.015 pixels between the eyes
    reading = ThermalStage(config()).measure(scene(), tilted, 0.7)
    assert (reading.eye_px, reading.ambient_c, reading.time) == (12.01, 18.25, 0.0)
    for value in (reading.temperature_c, reading.uncertainty_c, reading.correlated_c, reading.systematic_c,
                  reading.skin_c, reading.gradient_c):
        assert value == round(value, 3) and value != round(value, 2)


def test_a_canthus_of_one_pixel_is_as_uncertain_as_the_sensors_noise_not_certain():
    reference = Reference(0.5, 0.0, 0.1)
    one = ThermalStage(config())._uncertainty(np.array([36.0]), reference, 14.0, None, [])
    two = ThermalStage(config())._uncertainty(np.array([36.0, 36.4]), reference, 14.0, None, [])
    assert one == pytest.approx((0.1, 0.0)) and two == pytest.approx((0.2, 0.0))


def test_a_face_without_hotter_eye_corners_is_read_but_not_live_and_says_why():
    flat = ThermalStage(config()).measure(scene(canthus_c=34.0, peak=(34.5,) * 3, other_peak=(34.5,) * 3), EYES_12_PX,
                                          0.7, now=5.0)
    assert (flat.available, flat.live, flat.reason) == (True, False, "no live skin-temperature pattern")


@pytest.mark.parametrize("landmarks", [EYES_12_PX, EYES_12_PX + [[2.0, 0.0], [-2.0, 0.0], [0, 0], [0, 0], [0, 0]]])
def test_a_frame_in_halves_reads_each_half_where_the_face_was_when_it_was_measured(landmarks):
    fresh = (np.indices((120, 160)).sum(axis=0) % 2 == 0)
    moved = np.roll(scene(), 20, axis=1)  # the face 20 pixels to the right half a frame earlier
    moved[110:114, 150:154] = scene()[110:114, 150:154]
    now = scene()
    moved[22:47, 34:54] = now[28, 62] = now[30, 62] = 39.0  # hot, where each half did not see the face
    stage = ThermalStage(config())
    seen_at(stage, 0.9, landmarks + [20.0, 0.0])
    halves = seen_at(stage, 1.0, landmarks, thermal=ThermalFrame(np.where(fresh, now, moved), 1.0, fresh=fresh,
                                                                  rest_time=0.9))
    whole = ThermalStage(config()).measure(scene(), landmarks, 0.7, now=1.0)
    assert halves.available and halves.flags == whole.flags  # 8 pixels apart: the face's maximum, in both halves
    assert (halves.skin_c, halves.gradient_c) == pytest.approx((whole.skin_c, whole.gradient_c), abs=1e-3)


def test_a_homography_is_read_in_homogeneous_coordinates():
    scaled = ThermalStage(config(homography=[[2.0, 0.0, 0.0], [0.0, 2.0, 0.0], [0.0, 0.0, 2.0]]))
    assert scaled.measure(scene(), EYES_12_PX, 0.7, now=5.0).skin_c == \
        ThermalStage(config()).measure(scene(), EYES_12_PX, 0.7, now=5.0).skin_c


@pytest.mark.parametrize("inner, resolved", [
    ((0.0, 30.0), True), ((-1.0, 30.0), False),  # the left eye's inner corner on the frame's first column, or off it
    ((159.0, 30.0), True), ((160.0, 30.0), False),
    ((46.0, 0.0), True), ((46.0, -1.0), False),
    ((46.0, 119.0), True), ((46.0, 120.0), False),
])
def test_an_eye_corner_on_the_frames_edge_is_read_and_one_beyond_it_is_not(inner, resolved):
    x, y = inner
    if x > 100:  # the right eye's inner corner at x: its eye 2.16 pixels outside it
        eyes_at = np.array([[x - 9.84, y], [x + 2.16, y], [x - 4.0, y + 7.0], [x - 7, y + 13], [x - 1, y + 13]])
    else:
        eyes_at = np.array([[x - 2.16, y], [x + 9.84, y], [x + 4.0, y + 7.0], [x + 1, y + 13], [x + 7, y + 13]])
    frame = scene()
    rows, columns = slice(max(0, int(y) - 2), int(y) + 3), slice(max(0, int(x) - 2), int(x) + 3)  # the window
    if resolved:  # hot only on the frame's edge: read with the rest of the window
        frame[(rows, int(x)) if x in (0.0, 159.0) else (int(y), columns)] = 39.0
    reading = ThermalStage(config()).measure(frame, eyes_at, 0.7, now=5.0)
    assert ("face maximum" not in reading.flags) is resolved
    if resolved:
        assert reading.skin_c == pytest.approx(skin(39.0 - 0.5, AIR_C), abs=1e-3)


def test_the_air_is_the_lower_quartile_of_the_frame():
    bands = np.repeat([10.0, 20.0, 30.0, 40.0], 30)[:, None] * np.ones((1, 160))  # four bands of 30 rows
    assert _ambient(bands) == pytest.approx(17.5)  # between the coldest quarter and the next


@pytest.mark.parametrize("hot, eyes_at, region", [
    ((0, slice(None)), [[43.84, -1.0], [55.84, -1.0], [50.0, 6.0]], (slice(0, 16), slice(37, 62))),  # top row
    ((slice(None), 0), [[-3.16, 30.0], [8.84, 30.0], [2.84, 37.0]], (slice(22, 47), slice(0, 15))),  # first column
])
def test_a_face_on_the_frames_edge_is_read_up_to_the_edge(hot, eyes_at, region):
    frame = scene()
    frame[hot] = 39.0
    landmarks = np.vstack([eyes_at, [[0.0, 50.0], [10.0, 50.0]]])
    reading = ThermalStage(config()).measure(frame, landmarks, 0.7, now=5.0)
    assert "face maximum" in reading.flags
    assert reading.skin_c == pytest.approx(skin(float(np.percentile(frame[region], 99)) - 0.5, AIR_C), abs=1e-3)


def test_a_new_gates_first_people_shift_its_readings_in_part_and_narrow_what_it_states():
    stage = ThermalStage(config(baseline=ThermalBaselineConfig(min_samples=30, window=200)))
    fresh = stage.measure(scene(), EYES_12_PX, 0.7, now=5.0)
    for value in (36.2, 36.3, 36.1, 36.2, 36.3, 36.2, 36.1, 36.2):  # the site's people read about 0.5 °C cold
        stage.baseline.add(value)
    learning = stage.measure(scene(), EYES_12_PX, 0.7, now=5.0)
    shift = stage.baseline.shift_c
    assert not stage.baseline.ready and 0.25 < shift < 0.5
    assert learning.temperature_c == pytest.approx(fresh.temperature_c + shift, abs=2e-3)
    assert learning.baseline_shift_c == round(shift, 4) and learning.relative_limit_c is None
    assert learning.systematic_c == round(math.sqrt(0.22 ** 2 + stage.baseline.uncalibrated_c ** 2 + 0.1 ** 2), 3)
    assert learning.systematic_c < fresh.systematic_c
