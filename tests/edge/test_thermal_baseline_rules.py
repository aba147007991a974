"""Screening mode's rules one by one: the relative limit, the air, the uncertainty, what a restart reads back."""

import json
import math

import numpy as np
import pytest

from edge.config import ThermalBaselineConfig
from edge.thermal_baseline import (FIRST_SAMPLES, HEALTHY_MEAN_SD_C, MAX_SLOPE, REFERENCE_AMBIENT_C,
                                    SAMPLE_SPREAD_FLOOR_C, SLOPE_PRIOR_C, UNCALIBRATED_SD_C, PopulationBaseline,
                                    _robust_slope)


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def baseline(*, path=None, clock=None, **config) -> PopulationBaseline:
    return PopulationBaseline(ThermalBaselineConfig(**{"min_samples": 5, "window": 10, "recent": 5, **config}),
                              path=path, settings="s", clock=clock or Clock())


def test_the_relative_limit_is_the_trimmed_average_of_the_newest_people_plus_the_deviation():
    line = baseline(deviation_c=1.0)
    assert line.recent_average_c is None and line.relative_limit_at(None) is None and not line.elevated(45.0)
    for value in (35.0, 36.0, 36.2, 36.4, 36.6, 36.8):  # the oldest falls out of the 5 newest
        line.add(value)
    assert line.recent_average_c == pytest.approx(36.4)  # 36.0 and 36.8 left out
    limit = line.relative_limit_at(None)
    assert limit == pytest.approx(37.4)
    assert line.elevated(limit + 0.01) and not line.elevated(limit)


def test_an_elevated_reading_never_enters_and_a_reading_that_is_not_a_number_neither():
    line = baseline(deviation_c=0.5)
    for _ in range(5):
        line.add(36.5)
    line.add(37.1)
    line.add(float("nan"))
    line.add(float("inf"))
    assert line.samples == 5
    line.add(37.0)  # exactly at the limit: not above it
    assert line.samples == 6


def test_the_shifts_noise_is_the_medians():
    line = baseline()
    values = (36.1, 36.3, 36.5, 36.7, 36.9)
    for value in values[:4]:
        line.add(value)
    assert math.isnan(line.noise_c)
    line.add(values[4])
    assert line.noise_c == pytest.approx(1.25 * float(np.std(values)) / math.sqrt(5))


def test_the_samples_slope_against_the_air_is_taken_out_shrunk_and_bounded():
    airs = np.linspace(5.0, 35.0, 31)
    line = baseline(window=40, min_samples=31, recent=10)
    for air in airs:
        line.add(36.5 + 0.04 * (air - 20.0), air)
    assert 0.03 < line.slope < 0.04  # shrunk a little: the air varied by 30 °C, not by far more
    mean_air = float(np.mean(airs))
    assert line.shift_at(mean_air) == pytest.approx(line.shift_c)
    assert line.shift_at(mean_air + 10.0) == pytest.approx(line.shift_c - 10.0 * line.slope)
    assert line.shift_at(None) == line.shift_at(float("nan")) == line.shift_c
    levelled = [36.5 + 0.04 * (air - 20.0) - line.slope * (air - mean_air) for air in airs]
    assert line.shift_c == pytest.approx(36.7 - float(np.median(levelled)))
    limit = line.relative_limit_at(None)
    assert line.relative_limit_at(mean_air + 10.0) == pytest.approx(limit + 10.0 * line.slope)
    assert line.elevated(limit + 5.0 * line.slope) and not line.elevated(limit + 5.0 * line.slope, mean_air + 10.0)
    line.add(limit + 5.0 * line.slope, mean_air + 10.0)  # warm air, a warmer reading: not elevated there
    assert line.samples == 32
    assert line.recent_average_c == pytest.approx(36.5 + 0.04 * (mean_air - 20.0), abs=0.1)
    steep = baseline(window=40, min_samples=31, recent=10, max_shift_c=2.0)
    for air in airs:
        steep.add(36.5 + 0.2 * (air - 20.0), air)
    assert steep.slope == pytest.approx(MAX_SLOPE)


def test_one_odd_reading_does_not_tilt_the_slope():
    airs = np.linspace(5.0, 35.0, 31)
    clean, odd = baseline(window=40, min_samples=31, recent=10), baseline(window=40, min_samples=31, recent=10)
    for air in airs:
        clean.add(36.5, air)
        odd.add(36.5 if air != 35.0 else 36.5 + 1.0, air)  # a warm reading on the warmest day, under the limit
    assert abs(clean.slope) < 1e-9
    assert abs(odd.slope) < 0.002


def test_without_its_air_a_reading_counts_as_read_at_the_reference_air(tmp_path):
    kept = tmp_path / "baseline.json"
    line = baseline(path=kept)
    line.add(36.5)
    line.add(36.5, float("nan"))
    assert json.loads(kept.read_text())["ambients"] == [REFERENCE_AMBIENT_C, REFERENCE_AMBIENT_C]


def test_status_tells_the_age_of_the_newest_and_oldest_people_read():
    clock = Clock()
    line = baseline(clock=clock)
    assert line.status().newest_age_s is None and line.status().oldest_age_s is None
    line.add(36.5)
    clock.now += 60.0
    line.add(36.6)
    clock.now += 30.0
    status = line.status()
    assert (status.newest_age_s, status.oldest_age_s, status.samples, status.ready) == (30.0, 90.0, 2, False)
    assert status.as_dict()["min_samples"] == 5


UNEVEN = "readings, times and air temperatures differ in number"


@pytest.mark.parametrize("kept, why", [
    ({"readings": [36.5, 29.9]}, "a reading outside 30-45 °C"),
    ({"readings": [36.5, 45.1]}, "a reading outside 30-45 °C"),
    ({"readings": [36.5], "ambients": [-40.1]}, "an air temperature outside -40-60 °C"),
    ({"readings": [36.5], "ambients": [60.1]}, "an air temperature outside -40-60 °C"),
    ({"readings": [36.5, 36.6], "times": [1.0]}, UNEVEN),
    ({"readings": [36.5, 36.6], "ambients": [20.0]}, UNEVEN),
])
def test_a_samples_file_out_of_range_or_of_uneven_lengths_starts_afresh_and_says_why(tmp_path, caplog, kept, why):
    path = tmp_path / "baseline.json"
    path.write_text(json.dumps({"settings": "s", **kept}))
    assert baseline(path=path).samples == 0
    assert f"unreadable, starting afresh ({why})" in caplog.text


def test_the_times_are_kept_with_the_window_and_across_a_restart(tmp_path):
    clock = Clock()
    path = tmp_path / "baseline.json"
    line = baseline(path=path, clock=clock)
    for index in range(12):  # a window of 10: the first two go
        clock.now = 1_000.0 + 10 * index
        line.add(36.5)
    assert line.status().oldest_age_s == pytest.approx(90.0)
    again = baseline(path=path, clock=clock)
    assert again.status().oldest_age_s == pytest.approx(90.0) and again.status().newest_age_s == 0.0


def test_a_samples_file_at_its_bounds_and_without_times_or_air_is_read(tmp_path):
    path = tmp_path / "baseline.json"
    path.write_text(json.dumps({"settings": "s", "readings": [30.0, 45.0], "ambients": [-40.0, 60.0]}))
    assert baseline(path=path).samples == 2
    path.write_text(json.dumps({"settings": "s", "readings": [36.5, 36.6]}))
    line = baseline(path=path)
    assert line.samples == 2 and line.status().oldest_age_s == pytest.approx(1_000.0)


def shrunk(air, readings):
    """The least-squares slope through the centred air, shrunk as if the air had varied SLOPE_PRIOR_C less."""
    return float(np.sum(air * (readings - np.median(readings))) / (np.sum(air ** 2) + len(air) * SLOPE_PRIOR_C ** 2))


def test_the_slope_is_refitted_without_readings_far_off_the_first_line():
    air = np.linspace(-10.0, 10.0, 21)
    wobble = np.where(np.arange(21) % 2 == 0, 0.05, -0.05)  # the readings' own scatter: spread 0.074 °C
    readings = 36.5 + 0.03 * air + wobble
    odd = readings.copy()
    odd[10] += 0.25  # 3.4 spreads off the first line: beyond 2.5 of them, within 3.5 (or 2.5 of a spread read wider)
    assert _robust_slope(air, readings) == pytest.approx(shrunk(air, readings))
    keep = np.arange(21) != 10
    assert _robust_slope(air, odd) == pytest.approx(shrunk(air[keep], odd[keep]), abs=1e-9)
    assert shrunk(air[keep], odd[keep]) != pytest.approx(shrunk(air, odd), abs=1e-6)  # so leaving it out shows
    assert _robust_slope(air, 36.5 - 0.2 * air) == pytest.approx(-MAX_SLOPE)


def test_status_rounds_to_a_thousandth_and_says_what_screening_mode_holds():
    clock = Clock()
    line = baseline(clock=clock)
    for value, air in ((36.11111, 20.0), (36.22222, 22.0), (36.33333, 24.0), (36.44444, 26.0), (36.3, 28.0)):
        line.add(value, air)
    shown = line.status().as_dict()
    assert shown == {"enabled": True, "ready": True, "samples": 5, "min_samples": 5,
                     "shift_c": round(line.shift_c, 3), "shift_weight": 1.0, "slope": round(line.slope, 3),
                     "recent_average_c": round(line.recent_average_c, 3), "newest_age_s": 0.0, "oldest_age_s": 0.0}
    assert shown["shift_c"] != 0.0 and shown["slope"] != 0.0 and shown["shift_c"] != line.shift_c
    assert baseline(enabled=False).status().enabled is False


def test_before_it_is_ready_a_part_of_the_measured_shift_applies_from_the_fifth_person_growing_with_the_samples():
    line = baseline(min_samples=30, window=200, reference_c=36.7)
    for _ in range(FIRST_SAMPLES - 1):
        line.add(36.2)
    assert (line.shift_c, line.shift_weight, line.uncalibrated_c) == (0.0, 0.0, UNCALIBRATED_SD_C)
    weights, shifts, allowances = [], [], []
    for _ in range(31 - FIRST_SAMPLES):  # to the 30th person
        line.add(36.2)  # read 0.5 °C cold: alike, so their spread is the floor's
        weights.append(line.shift_weight)
        shifts.append(line.shift_c)
        allowances.append(line.uncalibrated_c)
    prior = UNCALIBRATED_SD_C ** 2 - HEALTHY_MEAN_SD_C ** 2
    noise = 1.25 * SAMPLE_SPREAD_FLOOR_C / math.sqrt(FIRST_SAMPLES)
    assert weights[0] == pytest.approx(prior / (prior + noise ** 2))
    assert shifts[0] == pytest.approx(0.5 * weights[0]) and 0.0 < shifts[0] < 0.5
    assert allowances[0] == pytest.approx(math.sqrt(weights[0] * noise ** 2 + HEALTHY_MEAN_SD_C ** 2))
    assert all(a < b for a, b in zip(weights[:-2], weights[1:-1]))  # surer with every person, until ready
    assert all(a > b for a, b in zip(allowances[:-2], allowances[1:-1])) and allowances[-2] < UNCALIBRATED_SD_C
    assert line.ready and (weights[-1], shifts[-1]) == (1.0, pytest.approx(0.5))
    assert line.status().shift_weight == 1.0 and line.uncalibrated_c == UNCALIBRATED_SD_C  # the stage's own rule now
    assert line.slope == 0.0


def test_a_fever_among_the_first_people_moves_the_early_shift_by_no_more_than_a_rank():
    clean, feverish = baseline(min_samples=30, window=200), baseline(min_samples=30, window=200)
    for value in (36.6, 36.7, 36.8, 36.9, 36.5):
        clean.add(value)
    for value in (36.6, 36.7, 39.5, 36.9, 36.5):
        feverish.add(value)
    assert abs(feverish.shift_c - clean.shift_c) <= 0.1 * feverish.shift_weight + 1e-9
    assert clean.shift_weight < feverish.shift_weight + 0.05  # the spread is floored, so one fever changes little


def test_turned_off_nothing_is_learned_early_either():
    line = baseline(enabled=False, min_samples=30)
    for _ in range(10):
        line.add(35.5)
    assert (line.shift_c, line.shift_weight, line.uncalibrated_c) == (0.0, 0.0, UNCALIBRATED_SD_C)
