"""Screening mode: the gate calibrates its readings to the people it meets, within bounds."""

import numpy as np
import pytest

from drivers.sim.thermal_model import HEALTHY_RANGE_C, IDEAL, ThermalPhysics, draw_physics, healthy_core, render
from edge.config import ThermalBaselineConfig, ThermalConfig
from edge.stages.thermal import ThermalStage
from edge.thermal_baseline import PopulationBaseline
from tests.edge.test_thermal import face_at


def baseline(*, path=None, settings="", **config) -> PopulationBaseline:
    return PopulationBaseline(ThermalBaselineConfig(**{"min_samples": 5, "window": 10, **config}), path=path,
                              settings=settings)


def test_no_shift_before_the_fifth_person_then_the_median_is_brought_to_the_reference():
    line = baseline(reference_c=36.7)
    for value in (36.2, 36.3, 36.4, 36.3):
        line.add(value)
    assert line.shift_c == 0.0 and line.samples == 4
    line.add(36.3)
    assert line.shift_c == pytest.approx(0.4)


def test_fevers_do_not_drag_the_baseline_and_the_shift_is_bounded():
    line = baseline(reference_c=36.7, max_shift_c=0.6)
    for value in (36.7, 36.7, 36.7, 39.5, 39.8, 36.7, 36.7):
        line.add(value)
    assert line.shift_c == pytest.approx(0.0)
    cold = baseline(reference_c=36.7, max_shift_c=0.6)
    for _ in range(5):
        cold.add(35.0)
    assert cold.shift_c == pytest.approx(0.6)
    hot = baseline(reference_c=36.7, max_shift_c=0.6)
    for _ in range(5):
        hot.add(38.0)
    assert hot.shift_c == pytest.approx(-0.6)


def test_old_readings_leave_the_window():
    line = baseline(reference_c=36.7)
    for _ in range(10):
        line.add(36.2)
    for _ in range(10):
        line.add(36.9)
    assert line.samples == 10 and line.shift_c == pytest.approx(-0.2)


def test_turned_off_it_never_shifts():
    line = baseline(enabled=False)
    for _ in range(20):
        line.add(35.5)
    assert line.shift_c == 0.0 and line.samples == 0


def test_a_drawn_world_is_not_the_gates_defaults_and_is_repeatable():
    worlds = [draw_physics(np.random.default_rng(seed)) for seed in range(20)]
    assert worlds[3] == draw_physics(np.random.default_rng(3))
    assert all(0.0 <= w.canthus_offset_c <= 0.8 and 0.97 <= w.emissivity <= 0.99 for w in worlds)
    assert len({round(w.canthus_offset_c, 3) for w in worlds}) == 20
    assert IDEAL.canthus_offset_c == ThermalConfig().canthus_offset_c  # the ideal world is the gate's assumption


def test_the_samples_survive_a_restart_and_are_dropped_when_the_settings_change(tmp_path):
    kept = tmp_path / "thermal_baseline.json"
    line = baseline(reference_c=36.7, path=kept, settings="canthus 0.3")
    for value in (36.2, 36.3, 36.4, 36.3, 36.3):
        line.add(value)
    assert line.shift_c == pytest.approx(0.4)
    again = baseline(reference_c=36.7, path=kept, settings="canthus 0.3")  # a restart, a power cut
    assert again.samples == 5 and again.shift_c == pytest.approx(0.4)
    assert baseline(reference_c=36.7, path=kept, settings="canthus 0.5").samples == 0  # read under other settings
    assert baseline(reference_c=36.7, enabled=False, path=kept, settings="canthus 0.3").shift_c == 0.0


@pytest.mark.parametrize("text", ["", "{", "[]", '{"settings": "s", "readings": ["x"]}',
                                  '{"settings": "s", "readings": [36.5, 900]}', '{"readings": [36.5]}'])
def test_a_damaged_samples_file_starts_afresh_and_is_replaced(tmp_path, text):
    kept = tmp_path / "thermal_baseline.json"
    kept.write_text(text)
    line = baseline(path=kept, settings="s")
    assert line.samples == 0 and line.shift_c == 0.0
    line.add(36.6)
    assert baseline(path=kept, settings="s").samples == 1


def test_the_gate_keeps_its_thermal_baseline_in_the_state_directory(tmp_path):
    stage = ThermalStage(ThermalConfig(), state_dir=tmp_path)
    face, landmarks, distance = face_at(0.7, 36.6)
    reading = stage.measure(render((160, 120), 22.0, [face], blackbody_c=35.0, blackbody_box=(148, 2, 10, 10),
                                   offset_c=0.8, noise_c=0.05, rng=np.random.default_rng(1)), landmarks, distance)
    stage.learn(reading)
    assert ThermalStage(ThermalConfig(), state_dir=tmp_path).baseline.samples == 1
    assert ThermalStage(ThermalConfig(canthus_offset_c=0.5), state_dir=tmp_path).baseline.samples == 0


def test_a_drawn_worlds_healthy_people_spread_around_its_mean_and_the_ideal_worlds_sit_at_it():
    world = draw_physics(np.random.default_rng(5))
    rng = np.random.default_rng(6)
    people = np.array([healthy_core(world, rng) for _ in range(400)])
    assert abs(float(np.median(people)) - world.normal_core_c) <= 0.05
    assert 0.15 <= float(np.std(people)) <= 0.3
    assert people.min() >= HEALTHY_RANGE_C[0] and people.max() <= HEALTHY_RANGE_C[1]
    assert healthy_core(IDEAL, rng) == IDEAL.normal_core_c == 36.6


def test_in_a_world_whose_canthi_read_colder_than_assumed_the_gate_learns_it_and_catches_a_low_fever():
    world = ThermalPhysics(canthus_offset_c=0.75, canthus_ambient_slope=0.02, skin_offset_c=2.2,
                           skin_ambient_slope=0.08, emissivity=0.98, person_sd_c=0.0, normal_core_c=36.7)
    stage = ThermalStage(ThermalConfig())
    rng = np.random.default_rng(1)

    def read(core: float):
        face, landmarks, distance = face_at(0.7, core)
        celsius = render((160, 120), 22.0, [face], blackbody_c=35.0, blackbody_box=(148, 2, 10, 10), offset_c=0.8,
                         noise_c=0.05, rng=rng, physics=world)
        return stage.measure(celsius, landmarks, distance)

    before = read(37.6)
    assert before.temperature_c < 37.3  # uncalibrated, the fever reads normal-ish
    for core in np.random.default_rng(2).normal(36.7, 0.2, 40):
        stage.learn(read(float(core)))
    assert stage.baseline.samples == 40 and 0.4 <= stage.baseline.shift_c <= 0.6
    after = read(37.6)
    assert after.temperature_c > 37.3 and after.baseline_shift_c == pytest.approx(stage.baseline.shift_c, abs=1e-3)
    stage.learn(None)  # a visit without a reading teaches nothing
    assert stage.baseline.samples == 40
