"""The MLX90640 conversion against Melexis' own published example: a real sensor's EEPROM and frames,
every parameter and the 768 temperatures the Melexis library computes (../shared/data/mlx90640-example)."""

import json

import numpy as np
import pytest

from drivers.mlx90640 import Mlx90640Calibration, interpolate_defective
from tests.conftest import SHARED

EXAMPLE = SHARED / "data" / "mlx90640-example"


@pytest.fixture(scope="module")
def example():
    if not (EXAMPLE / "words.txt").is_file():
        pytest.skip(f"{EXAMPLE} is absent (the shared data sits beside the project in CI)")
    eeprom, frame0, frame1 = ([int(word, 16) for word in line.split()]
                              for line in (EXAMPLE / "words.txt").read_text().splitlines() if line.strip())
    return eeprom, [frame0, frame1], json.loads((EXAMPLE / "expected.json").read_text())


# half a unit in the last place the workbook prints each parameter with
ROUNDING = {"KvPTAT": 5e-7, "KsTa": 5e-7, "cpKta": 5e-7, "ksTo": 5e-5, "kta": 5e-9}


def test_every_parameter_matches_melexis(example):
    eeprom, _, expected = example
    calibration = Mlx90640Calibration.from_eeprom(eeprom)
    scalars = {"kVdd": "k_vdd", "vdd25": "vdd25", "KvPTAT": "kv_ptat", "KtPTAT": "kt_ptat", "vPTAT25": "v_ptat25",
               "alphaPTAT": "alpha_ptat", "gainEE": "gain_ee", "tgc": "tgc", "cpKv": "cp_kv", "cpKta": "cp_kta",
               "resolutionEE": "resolution_ee", "KsTa": "ks_ta"}
    assert calibration.calibration_mode_ee * 0x80 == expected["calibrationModeEE"]  # the library keeps the bit in place
    for theirs, ours in scalars.items():
        assert getattr(calibration, ours) == pytest.approx(expected[theirs], rel=1e-9, abs=ROUNDING.get(theirs, 0)), \
            theirs
    for theirs, ours in (("ksTo", "ks_to"), ("cpAlpha", "cp_alpha"), ("cpOffset", "cp_offset"),
                         ("ilChessC", "il_chess"), ("alpha", "alpha"), ("offset", "offset"), ("kta", "kta"),
                         ("kv", "kv")):
        mine = np.asarray(getattr(calibration, ours), float).ravel()
        theirs_values = np.asarray(expected[theirs], float).ravel()[:mine.size]
        assert np.allclose(mine, theirs_values, rtol=1e-9, atol=ROUNDING.get(theirs, 0)), theirs
    assert not calibration.defective.any()  # the sheet lists none (65535 = no pixel)


@pytest.mark.parametrize("page", [0, 1])
def test_temperatures_match_melexis_within_a_thousandth_of_a_degree(example, page):
    eeprom, frames, expected = example
    calibration = Mlx90640Calibration.from_eeprom(eeprom)
    to, measured, _ = calibration.calculate_to(frames[page], emissivity=1.0)  # the sheet: emissivity 1, Tr = Ta - 8
    theirs = np.asarray(expected[f"to_frame{page}"], float).ravel()
    assert measured.sum() == 384
    assert np.abs(to[measured] - theirs[measured]).max() < 1e-3  # the sheet rounds to 3 decimals


def test_up_to_four_defective_pixels_are_interpolated_and_more_refused(example):
    eeprom, frames, _ = example
    damaged = list(eeprom)
    for pixel in (100, 300, 500, 700):
        damaged[64 + pixel] = 0  # broken: the EEPROM word is zero
    calibration = Mlx90640Calibration.from_eeprom(damaged)
    to, measured, _ = calibration.calculate_to(frames[0], emissivity=1.0)
    assert np.isfinite(to).all()
    intact, _, _ = Mlx90640Calibration.from_eeprom(eeprom).calculate_to(frames[0], emissivity=1.0)
    grid = intact.reshape(24, 32)
    for pixel in (100, 300, 500, 700):  # the mean of its four neighbours: a reading from the scene, not a hole
        row, column = divmod(pixel, 32)
        around = [grid[row, column - 1], grid[row, column + 1], grid[row - 1, column], grid[row + 1, column]]
        assert to[pixel] == pytest.approx(np.mean(around), abs=1e-9)
    damaged[64 + 10] |= 1  # a fifth: an outlier
    with pytest.raises(ValueError, match="5 defective pixels \\(4 broken, 1 outliers\\)"):
        Mlx90640Calibration.from_eeprom(damaged)
    side_by_side = list(eeprom)
    side_by_side[64 + 200] = side_by_side[64 + 201] = 0
    with pytest.raises(ValueError, match="side by side"):
        Mlx90640Calibration.from_eeprom(side_by_side)


def test_an_impossible_radiance_is_nan_not_a_cold_reading(example):
    eeprom, frames, _ = example
    calibration = Mlx90640Calibration.from_eeprom(eeprom)
    frame = list(frames[0])
    to, measured, _ = calibration.calculate_to(frame, emissivity=1.0)
    pixel = int(np.flatnonzero(measured)[0])
    frame[pixel] = 0x8000  # the most negative reading: less radiance than the sensor's own surroundings allow
    cold, _, _ = calibration.calculate_to(frame, emissivity=1.0)
    assert np.isnan(cold[pixel])  # as the library says; a folded sign gave a finite -59 °C


def test_interpolation_leaves_a_frame_without_defects_untouched():
    to = np.arange(768, dtype=float)
    assert interpolate_defective(to, np.zeros(768, bool)) is to


def test_interpolation_takes_the_valid_neighbours_of_any_sensor_shape():
    to = np.arange(20, dtype=float)  # 4 rows of 5
    defective = np.zeros(20, bool)
    defective[[0, 12]] = True
    fixed = interpolate_defective(to, defective, (4, 5))
    assert fixed[0] == (1 + 5) / 2  # a corner has two neighbours
    assert fixed[12] == (11 + 13 + 7 + 17) / 4
    assert np.array_equal(np.delete(fixed, [0, 12]), np.delete(to, [0, 12]))
