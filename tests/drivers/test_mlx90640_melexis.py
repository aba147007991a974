"""The MLX90640 conversion against Melexis' own published example: a real sensor's EEPROM and frames,
every parameter and the 768 temperatures the Melexis library computes (../shared/data/mlx90640-example)."""

import json
import sys
import time
import types

import numpy as np
import pytest

from drivers.mlx90640 import (CONTROL, EEPROM_START, NEW_DATA, RAM_START, REFRESH_BITS, STATUS, Mlx90640Calibration,
                              Mlx90640Camera, interpolate_defective)
from drivers.thermal import chess_pattern
from tests.conftest import SHARED
from tests.emulators import wait_for

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
    for pixel in (100, 300, 500, 700):  # chess mode: the median of its diagonal neighbours, of its own sub-page
        row, column = divmod(pixel, 32)
        around = [grid[row - 1, column - 1], grid[row - 1, column + 1], grid[row + 1, column - 1],
                  grid[row + 1, column + 1]]
        assert to[pixel] == pytest.approx(np.median(around), abs=1e-9)
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
    to = np.arange(20, dtype=float) ** 1.5  # 4 rows of 5
    defective = np.zeros(20, bool)
    defective[[0, 4, 12, 18]] = True
    fixed = interpolate_defective(to, defective, (4, 5))
    assert fixed[0] == to[6]  # a corner has one diagonal neighbour (as the library's to[33])
    assert fixed[4] == to[8]
    assert fixed[12] == pytest.approx(np.median(to[[6, 8, 16]]))  # 18 is defective too: left out
    assert fixed[18] == to[14]  # on the last row, its other upper diagonal (12) defective: the one left
    assert np.array_equal(np.delete(fixed, [0, 4, 12, 18]), np.delete(to, [0, 4, 12, 18]))
    rows = interpolate_defective(to, defective, (4, 5), chess=False)  # interleaved: along the row
    assert rows[0] == to[1] and rows[4] == to[3]
    assert rows[12] == pytest.approx(to[11] + (to[11] - to[10]) if abs(to[13] - to[14]) > abs(to[11] - to[10])
                                     else to[13] + (to[13] - to[14]))


def test_a_defective_canthus_pixel_is_filled_from_its_own_sub_page_not_from_half_a_frame_before():
    """A face walking up between two sub-pages: the side neighbours of a defective pixel were measured half a
    frame earlier, when the face was elsewhere; the diagonal ones were measured with it."""
    from drivers.thermal import chess_pattern

    then = np.full((24, 32), 22.0)
    now = np.full((24, 32), 22.0)
    now[8:13, 10:15] = 36.5  # the eye corner, where it is now
    page = chess_pattern(24, 32) == 0  # the sub-page just measured
    merged = np.where(page, now, then)
    defective = np.zeros((24, 32), bool)
    defective[10, 12] = True  # the canthus pixel itself, in the fresh sub-page
    assert page[10, 12]
    filled = interpolate_defective(merged.ravel(), defective.ravel()).reshape(24, 32)
    assert filled[10, 12] == pytest.approx(36.5)
    sides = np.mean([merged[10, 11], merged[10, 13], merged[9, 12], merged[11, 12]])
    assert sides == pytest.approx(22.0)  # what the four side neighbours said: the room behind the face


class EmulatedMlx90640:
    """Melexis' example sensor behind a fake `smbus2`: the registers a driver reads and writes, each sub-page
    of the example ready in turn at the refresh rate the control register asks for."""

    def __init__(self, eeprom, frames, clock=time.monotonic):
        self.words = {EEPROM_START + n: word for n, word in enumerate(eeprom)}
        self.frames = frames
        self.control = frames[0][832]
        self.status = 0
        self.sub_page = 1
        self.clock = clock
        self.next_due = clock()

    @property
    def sub_page_period(self) -> float:
        return 1.0 / (0.5 * 2 ** ((self.control & REFRESH_BITS) >> 7))

    def read(self, start: int, count: int) -> list[int]:
        if start == STATUS:
            if not self.status & NEW_DATA and self.clock() >= self.next_due:  # the next sub-page is measured
                self.sub_page ^= 1
                self.status = NEW_DATA | self.sub_page
                self.next_due += self.sub_page_period
            return [self.status]
        if start == CONTROL:
            return [self.control]
        if start == RAM_START:
            return list(self.frames[self.sub_page][:count])
        return [self.words[start + n] for n in range(count)]

    def write(self, register: int, value: int) -> None:
        if register == CONTROL:
            self.control = value
        elif register == STATUS:
            self.status = value

    def smbus2(self):
        sensor = self

        class Message:
            def __init__(self, data=b"", length=0):
                self.data, self.length = bytes(data), length

            @staticmethod
            def write(address, data):
                assert address == 0x33
                return Message(data)

            @staticmethod
            def read(address, length):
                assert address == 0x33
                return Message(length=length)

            def __bytes__(self):
                return self.data

        class Bus:
            def __init__(self, number):
                self.number = number

            def i2c_rdwr(self, *messages):
                register = int.from_bytes(messages[0].data[:2], "big")
                if len(messages) == 1:
                    sensor.write(register, int.from_bytes(messages[0].data[2:4], "big"))
                    return
                words = sensor.read(register, messages[1].length // 2)
                messages[1].data = b"".join(word.to_bytes(2, "big") for word in words)

            def close(self):
                pass

        return types.SimpleNamespace(SMBus=Bus, i2c_msg=Message)


def test_the_driver_hands_over_each_sub_page_as_it_arrives(example, monkeypatch):
    """At 4 full frames a second the sensor measures a sub-page every 125 ms; waiting for both (as the
    driver did) made every reading a whole frame period old. Each is handed over as it arrives, the
    other half kept from the sub-page before and marked as such."""
    eeprom, frames, expected = example
    sensor = EmulatedMlx90640(eeprom, frames)
    monkeypatch.setitem(sys.modules, "smbus2", sensor.smbus2())
    camera = Mlx90640Camera(emissivity=1.0, rate_hz=4.0)
    try:
        assert (sensor.control & REFRESH_BITS) >> 7 == 4  # 8 sub-pages a second
        assert sensor.control & ~REFRESH_BITS == frames[0][832] & ~REFRESH_BITS  # chess mode and resolution kept
        seen = []

        def three_sub_pages() -> bool:
            frame = camera.read()
            if frame is not None and (not seen or frame.time != seen[-1].time):
                seen.append(frame)
            return len(seen) >= 3

        assert wait_for(three_sub_pages, timeout=3)
    finally:
        camera.close()
    chess = chess_pattern(24, 32)
    for before, frame in zip(seen, seen[1:]):
        page = int(chess[frame.fresh][0])
        assert np.array_equal(frame.fresh, chess == page)  # one half, in the chess pattern
        assert frame.rest_time == before.time  # the other half is the sub-page before
        assert np.array_equal(frame.celsius[~frame.fresh], before.celsius[~frame.fresh])
        theirs = np.asarray(expected[f"to_frame{page}"], float).reshape(24, 32)
        assert np.abs(frame.celsius[frame.fresh] - theirs[frame.fresh]).max() < 1e-3
