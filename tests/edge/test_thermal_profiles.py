"""A resident's own reading: learned from their visits, taken off their estimate, never taught by a fever."""

import dataclasses

import numpy as np
import pytest

from edge.config import ChecksConfig
from edge.decision import Policy, Visit
from edge.face.matcher import Match
from edge.readings import ThermalReading
from edge.readings import PERSON_SD_C
from edge.store import Store
from edge.thermal_fusion import TemperatureEstimate
from edge.thermal_profiles import (KEEP_DAYS, LEARN_UP_TO_C, MAX_OFFSET_C, MIN_VISITS, PROFILE_VISITS,
                                   ResidentProfiles, personal_offset)

REFERENCE = 36.7
THRESHOLD = 37.3
ALICE = Match(1, "Alice", 0.7, 0.1, "match", 0.5)
STRANGER = Match(None, None, 0.3, 0.1, "below threshold", 0.5)


def estimate(value: float, *, uncertainty=0.05, readings=6, kind="canthus") -> TemperatureEstimate:
    return TemperatureEstimate(value, uncertainty, 0.25, readings, 0, value, None, kind=kind)


def test_too_few_visits_give_no_offset_and_more_visits_trust_it_more():
    assert personal_offset([0.4] * (MIN_VISITS - 1)) is None
    few, many = personal_offset([0.4, 0.45, 0.35]), personal_offset([0.4, 0.45, 0.35] * 3)
    assert 0.0 < few.offset_c < many.offset_c < 0.45  # shrunk towards none, less so on more visits
    assert many.uncertainty_c < few.uncertainty_c < PERSON_SD_C
    assert personal_offset([2.0] * 9).offset_c == MAX_OFFSET_C and personal_offset([-2.0] * 9).offset_c == -MAX_OFFSET_C
    assert personal_offset([0.4] * 8 + [5.0]).offset_c == personal_offset([0.4] * 9).offset_c  # a median


def test_the_offset_comes_off_the_estimate_and_the_relative_rule_and_shrinks_the_systematic_part():
    offset = personal_offset([0.5] * PROFILE_VISITS)
    before = estimate(37.5)
    after = offset.apply(before)
    assert after.temperature_c == pytest.approx(37.5 - offset.offset_c) and after.raw_c == after.temperature_c
    assert after.personal_c == offset.offset_c and after.as_dict()["personal_c"] == round(offset.offset_c, 3)
    assert after.systematic_c == pytest.approx(np.sqrt(0.25 ** 2 - PERSON_SD_C ** 2 + offset.uncertainty_c ** 2))


def visit_with(match, value: float) -> Visit:
    seen = Visit(1, started=100.0, started_perf=0.0, match=match)
    for _ in range(6):
        seen.add_reading(dataclasses.replace(ThermalReading(True, value, 0.1, live=True)))
    return seen


def policy(offsets: dict[int, float]) -> Policy:
    return Policy(ChecksConfig(), window_s=3.0,
                  personal=lambda rid: personal_offset([offsets[rid]] * PROFILE_VISITS) if rid in offsets else None)


def test_a_resident_who_reads_warm_is_let_in_a_stranger_reading_the_same_is_not_and_a_fever_is_still_one():
    gate = policy({1: 0.55})
    assert gate.evaluate(visit_with(ALICE, 37.45), now=100.5).granted  # their own normal
    assert not Policy(ChecksConfig(), window_s=3.0).evaluate(visit_with(ALICE, 37.45), now=100.5).granted
    stranger = gate.evaluate(visit_with(STRANGER, 37.45), now=100.5)
    assert stranger is not None and "fever" in stranger.reason_codes
    fever = gate.evaluate(visit_with(ALICE, 38.4), now=100.5)  # 0.5 off still leaves a fever
    assert not fever.granted and "fever" in fever.reason_codes
    assert fever.temperature["personal_c"] == round(personal_offset([0.55] * PROFILE_VISITS).offset_c, 3)


def test_a_fever_waits_for_the_face_that_may_be_a_residents_and_not_past_the_window():
    gate = policy({1: 0.55})
    unknown_yet = visit_with(None, 37.45)
    assert gate.evaluate(unknown_yet, now=100.5) is None  # elevated, but it may be Alice
    assert gate.outcomes(unknown_yet)["temperature"].params == {"why": "face_pending"}
    unknown_yet.match = ALICE
    assert gate.evaluate(unknown_yet, now=100.6).granted
    never_seen = visit_with(None, 38.4)
    final = gate.evaluate(never_seen, now=103.1)  # the window ended: the fever is named
    assert not final.granted and "fever" in final.reason_codes


@pytest.fixture
def profiles(tmp_path):
    clock = [1_000_000.0]
    with Store(tmp_path / "state", clock=lambda: clock[0]) as store:
        resident = store.add_resident("Alice", "1-101", [np.ones(128, np.float32) / np.sqrt(128)], [1.0], ["a.jpg"])
        yield ResidentProfiles(store, reference_c=REFERENCE, threshold_c=lambda: THRESHOLD, clock=lambda: clock[0]), \
            store, resident, clock


def test_only_trusted_live_calibrated_visits_below_a_fever_teach(profiles):
    learn, store, resident, _ = profiles
    assert not learn.learn(resident, "v0", estimate(37.0), live=None, calibrated=True)
    assert not learn.learn(resident, "v0", estimate(37.0), live=True, calibrated=False)
    assert not learn.learn(resident, "v0", estimate(37.0, kind="face maximum"), live=True, calibrated=True)
    assert not learn.learn(resident, "v0", estimate(37.0, readings=0), live=True, calibrated=True)
    assert not learn.learn(resident, "v0", estimate(37.0, uncertainty=0.4), live=True, calibrated=True)
    assert not learn.learn(resident, "v0", estimate(THRESHOLD + LEARN_UP_TO_C + 0.01), live=True, calibrated=True)
    assert learn.learn(resident, "v1", estimate(THRESHOLD + 0.2), live=True, calibrated=True)  # warm days teach too
    assert learn.offset(resident) is None
    for index in range(2, PROFILE_VISITS + 4):
        assert learn.learn(resident, f"v{index}", estimate(37.2), live=True, calibrated=True)
    assert learn.offset(resident).visits == PROFILE_VISITS
    assert len(store.resident_deviations(resident, since=0, limit=100)) == PROFILE_VISITS  # only the newest kept


def test_a_confirmed_fever_is_forgotten_and_old_visits_and_removed_residents_leave_nothing(profiles):
    learn, store, resident, clock = profiles
    for index in range(MIN_VISITS):
        learn.learn(resident, f"v{index}", estimate(37.5), live=True, calibrated=True)
    assert learn.offset(resident).visits == MIN_VISITS
    learn.forget_visit("v0")  # a guard's clinical thermometer said fever
    assert learn.offset(resident) is None
    learn.learn(resident, "v9", estimate(37.5), live=True, calibrated=True)
    clock[0] += (KEEP_DAYS + 1) * 86400
    learn._cache.clear()
    assert learn.offset(resident) is None  # too old to say who they are now
    assert store.prune_resident_deviations(clock[0] - KEEP_DAYS * 86400) == MIN_VISITS
    learn.learn(resident, "v10", estimate(37.5), live=True, calibrated=True)
    store.remove_resident(resident)
    assert store.resident_deviations(resident, since=0, limit=100) == []


def test_the_offset_is_the_shrunk_median_and_its_uncertainty_as_documented():
    from edge.thermal_profiles import VISIT_SD_FLOOR_C

    deviations = [0.0, 0.5, 1.0]  # median 0.5, median absolute deviation 0.5: a scatter above the floor
    scatter = 1.4826 * 0.5
    assert scatter > VISIT_SD_FLOOR_C
    prior, noise = PERSON_SD_C ** 2, 1.25 ** 2 * scatter ** 2
    shrink = 3 * prior / (3 * prior + noise)
    found = personal_offset(deviations)
    assert found.offset_c == pytest.approx(shrink * 0.5, abs=1e-12) and found.visits == 3
    assert found.uncertainty_c == pytest.approx(np.sqrt(prior * noise / (3 * prior + noise)), abs=1e-12)
    steady = personal_offset([0.2] * 4)  # no scatter: the floor's
    noise = 1.25 ** 2 * VISIT_SD_FLOOR_C ** 2
    assert steady.offset_c == pytest.approx(4 * prior / (4 * prior + noise) * 0.2, abs=1e-12)


def test_a_visit_teaches_at_exactly_its_bounds_and_teaches_its_distance_from_the_healthy_mean(profiles):
    from edge.thermal_profiles import MAX_LEARN_UNCERTAINTY_C

    learn, store, resident, _ = profiles
    assert learn.learn(resident, "v1", estimate(37.0, readings=1), live=True, calibrated=True)
    assert learn.learn(resident, "v2", estimate(37.1, uncertainty=MAX_LEARN_UNCERTAINTY_C), live=True, calibrated=True)
    assert learn.learn(resident, "v3", estimate(THRESHOLD + LEARN_UP_TO_C), live=True, calibrated=True)
    taught = sorted(d for d in store.resident_deviations(resident, since=0, limit=100))
    assert taught == pytest.approx([37.0 - REFERENCE, 37.1 - REFERENCE, THRESHOLD + LEARN_UP_TO_C - REFERENCE])


def test_visits_count_for_exactly_keep_days(profiles):
    learn, store, resident, clock = profiles
    for index in range(MIN_VISITS):
        assert learn.learn(resident, f"v{index}", estimate(37.2), live=True, calibrated=True)
    clock[0] += 86400.0  # a day on: still theirs
    assert learn.offset(resident).visits == MIN_VISITS
    clock[0] += (KEEP_DAYS - 1) * 86400.0 + 1.0  # a second past KEEP_DAYS
    learn._cache.clear()
    assert learn.offset(resident) is None
