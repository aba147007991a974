"""Raw sensor data to °C, against values worked out from each datasheet."""

import numpy as np
import pytest

from drivers.mlx90640 import Mlx90640Calibration
from drivers.thermal import (amg8833_pixels_to_celsius, amg8833_thermistor_to_celsius, infiray_to_celsius,
                             lepton_y16_to_celsius)


def test_lepton_counts_are_centikelvin():
    raw = np.array([[30815, 27315, 31315]], dtype=np.uint16)
    assert np.allclose(lepton_y16_to_celsius(raw), [[35.0, 0.0, 40.0]], atol=1e-4)


def test_infiray_lower_half_holds_sixty_fourths_of_a_kelvin():
    stream = np.zeros((4, 2, 2), np.uint8)  # 2 image rows above, 2 raw rows below
    raw = np.array([[19721, 17482], [23682, 0]], dtype=np.uint16)  # 308.14 K, 273.16 K, 370.03 K
    stream[2:, :, 0], stream[2:, :, 1] = raw & 0xFF, raw >> 8
    celsius = infiray_to_celsius(stream)
    assert celsius.shape == (2, 2)
    assert np.allclose(celsius, raw / 64.0 - 273.15, atol=1e-4)
    assert abs(celsius[0, 0] - 34.99) < 0.01


@pytest.mark.parametrize("register, expected", [(0x1F4, 125.0), (0x064, 25.0), (0x001, 0.25), (0x000, 0.0),
                                                (0xFFF, -0.25), (0xF9C, -25.0), (0xF24, -55.0)])
def test_amg8833_pixels_are_twelve_bit_twos_complement_quarter_degrees(register, expected):
    data = bytes([register & 0xFF, register >> 8]) * 64
    assert np.all(amg8833_pixels_to_celsius(data) == expected)


@pytest.mark.parametrize("register, expected", [(0x7FF, 127.9375), (0x190, 25.0), (0x004, 0.25), (0x000, 0.0),
                                                (0x804, -0.25), (0xBB8, -59.5)])
def test_amg8833_thermistor_is_sign_and_magnitude(register, expected):
    assert amg8833_thermistor_to_celsius(register & 0xFF, register >> 8) == expected


def test_amg8833_refuses_a_short_block():
    with pytest.raises(ValueError, match="128 bytes"):
        amg8833_pixels_to_celsius(b"\0" * 127)


# MLX90640: an EEPROM laid out as the datasheet describes (section 11.1), from chosen parameters

def field(value, bits):
    return value & ((1 << bits) - 1)


def nibble_words(values):
    return [sum(field(values[i * 4 + k], 4) << (4 * k) for k in range(4)) for i in range(len(values) // 4)]


def make_eeprom(rng):
    ee = [0] * 832
    ee[10] = 0x0800  # calibration mode bit set: the chess-pattern correction is not applied
    ee[16] = (4 << 12) | (2 << 8) | (1 << 4) | 1  # alphaPTAT 9.0, occ row/column/remainder scales
    ee[17] = field(-1500, 16)  # offset reference
    occ_rows, occ_columns = rng.integers(-8, 8, 24), rng.integers(-8, 8, 32)
    ee[18:24], ee[24:32] = nibble_words(occ_rows), nibble_words(occ_columns)
    ee[32] = (3 << 12) | (1 << 8) | (1 << 4) | 1  # alpha scale 33 (cp 30), acc row/column/remainder
    ee[33] = 12000  # alpha reference
    acc_rows, acc_columns = rng.integers(-8, 8, 24), rng.integers(-8, 8, 32)
    ee[34:40], ee[40:48] = nibble_words(acc_rows), nibble_words(acc_columns)
    ee[48] = 6000  # gain
    ee[49] = 12200  # vPTAT25
    ee[50] = (field(12, 6) << 10) | field(340, 10)  # KvPTAT 12/4096, KtPTAT 42.5
    ee[51] = (field(-100, 8) << 8) | 0x5B  # kVdd -3200, vdd25 from 0x5B
    ee[52] = nibble_words([2, 3, 1, 4])[0]  # Kv by parity (scale below)
    ee[53] = 0
    ee[54] = (field(60, 8) << 8) | field(50, 8)
    ee[55] = (field(55, 8) << 8) | field(45, 8)
    ee[56] = (2 << 12) | (4 << 8) | (6 << 4) | 1  # resolution 2, Kv scale 4, Kta scales 14 and 1
    ee[57] = (field(-4, 6) << 10) | field(300, 10)  # cp alpha
    ee[58] = (field(3, 6) << 10) | field(-60, 10)  # cp offsets
    ee[59] = (field(8, 8) << 8) | field(20, 8)  # cp Kv, cp Kta
    ee[60] = (field(-10, 8) << 8) | field(16, 8)  # KsTa, TGC 0.5
    ee[61] = (field(-20, 8) << 8) | field(-30, 8)  # KsTo 1 and 0
    ee[62] = (field(-15, 8) << 8) | field(-12, 8)
    ee[63] = (2 << 12) | (10 << 8) | (10 << 4) | 9  # step 20, CT3 = 400, CT2 = 200... scale 2^17
    pixels = []
    for p in range(768):
        offset, alpha, kta = rng.integers(-32, 32), rng.integers(-32, 32), rng.integers(-4, 4)
        pixels.append((offset, alpha, kta))
        ee[64 + p] = (field(offset, 6) << 10) | (field(alpha, 6) << 4) | (field(kta, 3) << 1)
    return ee, occ_rows, occ_columns, acc_rows, acc_columns, pixels


def test_mlx90640_eeprom_fields_are_extracted_as_laid_out():
    rng = np.random.default_rng(1)
    ee, occ_rows, occ_columns, acc_rows, acc_columns, pixels = make_eeprom(rng)
    calibration = Mlx90640Calibration.from_eeprom(ee)
    assert calibration.alpha_ptat == 9.0
    assert calibration.k_vdd == -3200 and calibration.vdd25 == (0x5B - 256) * 32 - 8192
    assert calibration.kt_ptat == 42.5 and calibration.kv_ptat == 12 / 4096
    assert calibration.tgc == 0.5 and calibration.resolution_ee == 2
    assert calibration.ct == [-40.0, 0.0, 200.0, 400.0]
    assert calibration.ks_to[:2] == [-30 / 2**17, -20 / 2**17]
    assert calibration.cp_offset == [-60.0, -57.0]
    for p in (0, 33, 400, 767):
        row, column = divmod(p, 32)
        offset, alpha, kta = pixels[p]
        assert calibration.offset[p] == -1500 + (occ_rows[row] << 2) + (occ_columns[column] << 1) + offset * 2
        assert calibration.alpha[p] == (12000 + (acc_rows[row] << 1) + (acc_columns[column] << 1) + alpha * 2) / 2**33
        split = 2 * (row % 2) + column % 2
        kta_rc = [60, 55, 50, 45][split]
        assert calibration.kta[p] == (kta_rc + kta * 2) / 2**14


def test_mlx90640_temperature_from_ram_matches_the_datasheet_equation():
    """A uniform 36.5 °C scene rendered into RAM through the datasheet's equation reads back as 36.5 °C."""
    rng = np.random.default_rng(2)
    ee, *_ = make_eeprom(rng)
    cal = Mlx90640Calibration.from_eeprom(ee)
    for sub_page in (0, 1):
        frame = [0] * 834
        frame[832] = (2 << 10) | (1 << 12)  # resolution as calibrated, chess mode
        frame[833] = sub_page
        frame[810] = field(int(cal.vdd25), 16)  # Vdd 3.3 V
        frame[800] = 1700
        frame[768] = field(int(round(1700 * 2**18 / cal.v_ptat25 - 1700 * cal.alpha_ptat)), 16)
        frame[778] = 6000  # gain 1
        frame[776] = frame[808] = 0
        vdd = cal.supply_voltage(frame)
        ta = cal.ambient(frame, vdd)
        assert abs(vdd - 3.3) < 1e-9 and abs(ta - 25.0) < 0.05
        emissivity, target = 0.98, 36.5
        tr = ta - 8
        ta_tr = (tr + 273.15) ** 4 - ((tr + 273.15) ** 4 - (ta + 273.15) ** 4) / emissivity
        cp = [-c * (1 + cal.cp_kta * (ta - 25)) for c in cal.cp_offset]
        alpha = (cal.alpha - cal.tgc * cal.cp_alpha[sub_page]) * (1 + cal.ks_ta * (ta - 25))
        ir = alpha * (1 + cal.ks_to[1] * target) * ((target + 273.15) ** 4 - ta_tr)  # band 0..CT2
        raw = ir * emissivity + cal.tgc * cp[sub_page] + cal.offset * (1 + cal.kta * (ta - 25))
        frame[:768] = [field(int(round(v)), 16) for v in raw]
        temperatures, measured, ambient = cal.calculate_to(frame, emissivity=emissivity)
        assert measured.sum() == 384  # a chess board: half the pixels per sub-page
        assert np.allclose(temperatures[measured], target, atol=0.05)
