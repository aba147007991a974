"""Melexis MLX90640 (32x24, I2C): EEPROM calibration and the datasheet's temperature calculation.

`Mlx90640Calibration.from_eeprom(words)` extracts every parameter from the 832 EEPROM words
(datasheet section 11.1); `calculate_to(frame, ...)` turns one sub-page's RAM (834 words:
768 pixels, the auxiliary data, control and sub-page) into object temperatures for that
sub-page's pixels (section 11.2). `Mlx90640Camera` reads the sub-pages over I2C and hands each
over as it arrives, merged with the one before into a 24x32 frame that says which half is fresh.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from drivers.thermal import PolledThermalCamera, ThermalFrame
from edge.config import MLX90640_RATES_HZ
from edge.errors import DeviceError

ROWS, COLUMNS = 24, 32
PIXELS = ROWS * COLUMNS
EEPROM_START, RAM_START = 0x2400, 0x0400
STATUS, CONTROL = 0x8000, 0x800D
NEW_DATA = 0x0008  # status: a sub-page is ready
REFRESH_BITS = 0x0380  # control bits 7-9: the refresh code, the index of the rate in MLX90640_RATES_HZ


def signed(value: int, bits: int) -> int:
    value &= (1 << bits) - 1
    return value - (1 << bits) if value >= 1 << (bits - 1) else value


def nibbles(words: list[int]) -> list[int]:
    """Signed 4-bit values, four per word, least significant first."""
    return [signed(word >> shift, 4) for word in words for shift in (0, 4, 8, 12)]


@dataclass
class Mlx90640Calibration:
    k_vdd: float
    vdd25: float
    kv_ptat: float
    kt_ptat: float
    v_ptat25: float
    alpha_ptat: float
    gain_ee: int
    tgc: float
    resolution_ee: int
    calibration_mode_ee: int
    ks_ta: float
    ks_to: list[float]
    ct: list[float]
    cp_alpha: list[float]
    cp_offset: list[float]
    cp_kta: float
    cp_kv: float
    alpha: np.ndarray  # (768,) sensitivity per pixel, before the TGC and Ta terms
    offset: np.ndarray
    kta: np.ndarray
    kv: np.ndarray
    il_chess: list[float]
    defective: np.ndarray  # (768,) bool: broken (EEPROM word 0) or outlier (bit 0), interpolated from neighbours

    @classmethod
    def from_eeprom(cls, ee: list[int]) -> "Mlx90640Calibration":
        if len(ee) != 832:
            raise ValueError(f"MLX90640 EEPROM holds 832 words, got {len(ee)}")
        k_vdd = signed(ee[51] >> 8, 8) * 32
        vdd25 = ((ee[51] & 0xFF) - 256) * 32 - 8192
        kv_ptat = signed(ee[50] >> 10, 6) / 4096
        kt_ptat = signed(ee[50], 10) / 8
        v_ptat25 = signed(ee[49], 16)
        alpha_ptat = (ee[16] >> 12) / 4 + 8
        gain_ee = signed(ee[48], 16)
        tgc = signed(ee[60], 8) / 32
        resolution_ee = (ee[56] >> 12) & 0x3
        ks_ta = signed(ee[60] >> 8, 8) / 8192
        step = ((ee[63] >> 12) & 0x3) * 10
        ct2 = ((ee[63] >> 4) & 0xF) * step
        ct3 = ct2 + ((ee[63] >> 8) & 0xF) * step
        ks_to_scale = 1 << ((ee[63] & 0xF) + 8)
        ks_to = [signed(ee[61], 8) / ks_to_scale, signed(ee[61] >> 8, 8) / ks_to_scale,
                 signed(ee[62], 8) / ks_to_scale, signed(ee[62] >> 8, 8) / ks_to_scale]
        alpha_scale_cp = (ee[32] >> 12) + 27
        cp_offset0 = signed(ee[58], 10)
        cp_offset1 = cp_offset0 + signed(ee[58] >> 10, 6)
        cp_alpha0 = signed(ee[57], 10) / 2 ** alpha_scale_cp
        cp_alpha1 = (1 + signed(ee[57] >> 10, 6) / 128) * cp_alpha0
        kta_scale1 = ((ee[56] >> 4) & 0xF) + 8
        kta_scale2 = ee[56] & 0xF
        kv_scale = (ee[56] >> 8) & 0xF
        cp_kta = signed(ee[59], 8) / 2 ** kta_scale1
        cp_kv = signed(ee[59] >> 8, 8) / 2 ** kv_scale
        calibration_mode_ee = ((ee[10] >> 11) & 1) ^ 1
        il_chess = [signed(ee[53], 6) / 16, signed(ee[53] >> 6, 5) / 2, signed(ee[53] >> 11, 5) / 8]

        alpha, offset, kta, kv, pixel_words = _pixel_parameters(ee, kta_scale1, kta_scale2, kv_scale)
        return cls(k_vdd, vdd25, kv_ptat, kt_ptat, v_ptat25, alpha_ptat, gain_ee, tgc, resolution_ee,
                   calibration_mode_ee, ks_ta, ks_to, [-40.0, 0.0, float(ct2), float(ct3)], [cp_alpha0, cp_alpha1],
                   [float(cp_offset0), float(cp_offset1)], cp_kta, cp_kv, alpha, offset, kta, kv, il_chess,
                   defective_pixels(pixel_words))

    # section 11.2: from one sub-page's RAM to temperatures

    def supply_voltage(self, frame: list[int]) -> float:
        resolution_ram = (frame[832] >> 10) & 0x3
        correction = 2 ** self.resolution_ee / 2 ** resolution_ram
        return (correction * signed(frame[810], 16) - self.vdd25) / self.k_vdd + 3.3

    def ambient(self, frame: list[int], vdd: float) -> float:
        ptat = signed(frame[800], 16)
        ptat_art = (ptat / (ptat * self.alpha_ptat + signed(frame[768], 16))) * 2 ** 18
        return (ptat_art / (1 + self.kv_ptat * (vdd - 3.3)) - self.v_ptat25) / self.kt_ptat + 25

    def calculate_to(self, frame: list[int], *, emissivity: float = 0.98,
                     reflected: float | None = None) -> tuple[np.ndarray, np.ndarray, float]:
        """(temperatures for all 768 pixels, mask of the pixels this sub-page measured, ambient °C)."""
        if len(frame) != 834:
            raise ValueError(f"an MLX90640 sub-page is 834 words, got {len(frame)}")
        sub_page = frame[833] & 1
        vdd = self.supply_voltage(frame)
        ta = self.ambient(frame, vdd)
        tr = ta - 8 if reflected is None else reflected  # the datasheet's default reflected temperature
        ta4, tr4 = (ta + 273.15) ** 4, (tr + 273.15) ** 4
        ta_tr = tr4 - (tr4 - ta4) / emissivity
        gain = self.gain_ee / signed(frame[778], 16)
        mode = (frame[832] >> 12) & 1
        cp = [signed(frame[776], 16) * gain, signed(frame[808], 16) * gain]
        cp_drift = (1 + self.cp_kta * (ta - 25)) * (1 + self.cp_kv * (vdd - 3.3))
        cp[0] -= self.cp_offset[0] * cp_drift
        cp[1] -= (self.cp_offset[1] + (0 if mode == self.calibration_mode_ee else self.il_chess[0])) * cp_drift

        index = np.arange(PIXELS)
        il_pattern = (index // 32) % 2
        chess = il_pattern ^ (index % 2)
        conversion = ((index + 2) // 4 - (index + 3) // 4 + (index + 1) // 4 - index // 4) * (1 - 2 * il_pattern)
        pattern = il_pattern if mode == 0 else chess
        measured = pattern == sub_page
        raw = np.array([signed(v, 16) for v in frame[:PIXELS]], dtype=np.float64)
        ir = raw * gain - self.offset * (1 + self.kta * (ta - 25)) * (1 + self.kv * (vdd - 3.3))
        if mode != self.calibration_mode_ee:
            ir += self.il_chess[2] * (2 * il_pattern - 1) - self.il_chess[1] * conversion
        ir = (ir - self.tgc * cp[sub_page]) / emissivity
        # as Melexis' current library: the TGC term uses the mean of the two compensation pixels' alphas
        alpha = (self.alpha - self.tgc * (self.cp_alpha[0] + self.cp_alpha[1]) / 2) * (1 + self.ks_ta * (ta - 25))
        ks_to1 = self.ks_to[1]
        with np.errstate(invalid="ignore", divide="ignore"):  # an impossible (negative) radiance stays NaN
            sx = np.sqrt(np.sqrt(alpha ** 3 * (ir + alpha * ta_tr))) * ks_to1
            to = np.sqrt(np.sqrt(ir / (alpha * (1 - ks_to1 * 273.15) + sx) + ta_tr)) - 273.15
            ct = self.ct
            corrections = [1 / (1 + self.ks_to[0] * 40), 1.0, 1 + self.ks_to[1] * ct[2],
                           (1 + self.ks_to[1] * ct[2]) * (1 + self.ks_to[2] * (ct[3] - ct[2]))]
            band = np.select([to < ct[1], to < ct[2], to < ct[3]], [0, 1, 2], 3)
            ks_to = np.array(self.ks_to)[band]
            correction = np.array(corrections)[band]
            ct_band = np.array(ct)[band]
            to = np.sqrt(np.sqrt(ir / (alpha * correction * (1 + ks_to * (to - ct_band))) + ta_tr)) - 273.15
        return interpolate_defective(to, self.defective, chess=mode == 1), measured, ta


MAX_DEFECTIVE = 4  # Melexis' library refuses an EEPROM with more, or with two of them side by side


def defective_pixels(pixel_words: np.ndarray) -> np.ndarray:
    """Broken (word 0) and outlier (bit 0) pixels from the EEPROM; ValueError if too many to interpolate."""
    broken, outlier = pixel_words == 0, (pixel_words & 1) == 1
    defective = broken | outlier
    count = int(defective.sum())
    if count > MAX_DEFECTIVE:
        raise ValueError(f"MLX90640 EEPROM marks {count} defective pixels ({int(broken.sum())} broken, "
                         f"{int(outlier.sum())} outliers); at most {MAX_DEFECTIVE} can be interpolated")
    grid = defective.reshape(ROWS, COLUMNS)
    for row, column in zip(*np.nonzero(grid)):
        around = grid[max(row - 1, 0):row + 2, max(column - 1, 0):column + 2]
        if around.sum() > 1:
            raise ValueError(f"MLX90640 EEPROM marks defective pixels side by side at row {row}, column {column}; "
                             "they cannot be interpolated")
    return defective


def interpolate_defective(to: np.ndarray, defective: np.ndarray, shape: tuple[int, int] = (ROWS, COLUMNS), *,
                          chess: bool = True) -> np.ndarray:
    """Each defective pixel filled in from its own sub-page, as Melexis' library does (section 11.3 of the data
    sheet; MLX90640_BadPixelsCorrection).

    In chess mode the side neighbours belong to the other sub-page, measured half a frame earlier (a face
    walking up has moved since): the pixel takes the median of its four diagonal neighbours, which were
    measured with it (two at an edge, one in a corner). In interleaved mode a pixel's row is its sub-page: it
    is extrapolated along the row from the side with the smaller gradient, or takes the mean of its two side
    neighbours. `to` and `defective` are flat in the sensor's row order (`shape`); the result is flat too. A
    neighbour that is itself defective or not finite is left out; with none left the pixel is NaN.
    """
    if not defective.any():
        return to
    grid = to.reshape(shape).copy()
    bad = defective.reshape(shape)
    for row, column in zip(*np.nonzero(bad)):
        fill = _from_diagonals if chess else _along_the_row
        grid[row, column] = fill(grid, bad, int(row), int(column))
    return grid.ravel()


def _usable(grid: np.ndarray, bad: np.ndarray, row: int, column: int) -> float | None:
    rows, columns = grid.shape
    if 0 <= row < rows and 0 <= column < columns and not bad[row, column] and np.isfinite(grid[row, column]):
        return float(grid[row, column])
    return None


def _from_diagonals(grid: np.ndarray, bad: np.ndarray, row: int, column: int) -> float:
    """The median of the diagonal neighbours (the mean of the middle two of four; of both of two)."""
    values = [v for dr, dc in ((-1, -1), (-1, 1), (1, -1), (1, 1))
              if (v := _usable(grid, bad, row + dr, column + dc)) is not None]
    return float(np.median(values)) if values else float("nan")


def _along_the_row(grid: np.ndarray, bad: np.ndarray, row: int, column: int) -> float:
    left, right = _usable(grid, bad, row, column - 1), _usable(grid, bad, row, column + 1)
    far_left, far_right = _usable(grid, bad, row, column - 2), _usable(grid, bad, row, column + 2)
    if left is not None and right is not None and far_left is not None and far_right is not None:
        rising, falling = right - far_right, left - far_left  # the gradient on each side, towards the pixel
        return left + falling if abs(rising) > abs(falling) else right + rising
    sides = [v for v in (left, right) if v is not None]
    return float(np.mean(sides)) if sides else float("nan")


class Mlx90640Camera(PolledThermalCamera):
    """The sensor on a Linux I2C bus (smbus2): each sub-page handed over as it arrives (8 a second for
    4 full frames), merged with the one before and marked as the fresh half."""

    name = "thermal camera (MLX90640)"

    def __init__(self, *, bus: int = 1, address: int = 0x33, emissivity: float = 0.98, rate_hz: float = 4.0,
                 clock=time.monotonic) -> None:
        super().__init__()
        try:
            from smbus2 import SMBus, i2c_msg
        except ImportError:
            raise DeviceError(f"{self.name}: the smbus2 package is not installed (pip install smbus2)") from None
        if rate_hz not in MLX90640_RATES_HZ:
            raise DeviceError(f"{self.name}: rate_hz {rate_hz:g} is not one the sensor has")
        refresh = MLX90640_RATES_HZ.index(rate_hz)
        self._message = i2c_msg
        self._patience_s = max(1.0, 1.0 / rate_hz)  # a full frame (two sub-pages) before a read gives up
        self.address = address
        self.emissivity = emissivity
        self.clock = clock
        try:
            self._bus = SMBus(bus)
            self.calibration = Mlx90640Calibration.from_eeprom(self._read_words(EEPROM_START, 832))
            control = self._read_words(CONTROL, 1)[0]
            self._write(CONTROL, (control & ~REFRESH_BITS) | refresh << 7)
        except OSError as error:
            raise DeviceError(f"{self.name}: no answer at I2C bus {bus} address {address:#04x} ({error})") from None
        self._image = np.full(PIXELS, np.nan)
        self._measured_at: list[float | None] = [None, None]  # when each sub-page was last measured
        self._start_reader()

    def _read_words(self, start: int, count: int) -> list[int]:
        write = self._message.write(self.address, [start >> 8, start & 0xFF])
        read = self._message.read(self.address, count * 2)
        self._bus.i2c_rdwr(write, read)
        data = bytes(read)
        return [int.from_bytes(data[i:i + 2], "big") for i in range(0, len(data), 2)]

    def _write(self, register: int, value: int) -> None:
        self._bus.i2c_rdwr(self._message.write(self.address, [register >> 8, register & 0xFF, value >> 8, value & 0xFF]))

    def _fetch(self) -> ThermalFrame | None:
        """The next sub-page, waiting for the sensor (on the reader thread only); None until both were seen."""
        try:
            deadline = self.clock() + self._patience_s
            while not (status := self._read_words(STATUS, 1)[0]) & NEW_DATA:
                if self.clock() > deadline:
                    return None
                time.sleep(0.005)
            ram = self._read_words(RAM_START, 832)
            control = self._read_words(CONTROL, 1)[0]
            self._write(STATUS, status & ~NEW_DATA)
        except OSError as error:
            raise DeviceError(f"{self.name}: I2C read failed ({error})") from None
        now = self.clock()
        sub_page = status & 1
        temperatures, measured, _ = self.calibration.calculate_to(ram + [control, sub_page], emissivity=self.emissivity)
        self._image[measured] = temperatures[measured]
        self._measured_at[sub_page] = now
        rest_time = self._measured_at[1 - sub_page]
        if rest_time is None:
            return None
        return ThermalFrame(self._image.reshape(ROWS, COLUMNS).astype(np.float32), now, emissivity_corrected=True,
                            fresh=measured.reshape(ROWS, COLUMNS), rest_time=rest_time)

    def _close(self) -> None:
        self._stop_reader()
        self._bus.close()


def _signed_array(values: np.ndarray, bits: int) -> np.ndarray:
    values = values & ((1 << bits) - 1)
    return np.where(values >= 1 << (bits - 1), values - (1 << bits), values)


def _pixel_parameters(ee: list[int], kta_scale1: int, kta_scale2: int, kv_scale: int):
    """Each pixel's sensitivity, offset, Kta and Kv (datasheet 11.1.7-11.1.11), and the pixel words themselves."""
    pixel_words = np.array(ee[64:832], dtype=np.int64)
    rows = np.repeat(np.arange(ROWS), COLUMNS)
    columns = np.tile(np.arange(COLUMNS), ROWS)

    # sensitivity: reference + row + column + pixel terms, each with its own scale
    acc_rem, acc_column, acc_row = ee[32] & 0xF, (ee[32] >> 4) & 0xF, (ee[32] >> 8) & 0xF
    alpha_scale = (ee[32] >> 12) + 30
    acc_rows = np.array(nibbles(ee[34:40]))
    acc_columns = np.array(nibbles(ee[40:48]))
    alpha_raw = (ee[33] + (acc_rows[rows] << acc_row) + (acc_columns[columns] << acc_column)
                 + _signed_array(pixel_words >> 4, 6) * (1 << acc_rem))
    alpha = alpha_raw / 2.0 ** alpha_scale
    # offsets
    occ_rem, occ_column, occ_row = ee[16] & 0xF, (ee[16] >> 4) & 0xF, (ee[16] >> 8) & 0xF
    occ_rows = np.array(nibbles(ee[18:24]))
    occ_columns = np.array(nibbles(ee[24:32]))
    offset = (signed(ee[17], 16) + (occ_rows[rows] << occ_row) + (occ_columns[columns] << occ_column)
              + _signed_array(pixel_words >> 10, 6) * (1 << occ_rem)).astype(np.float64)
    # Kta and Kv by row/column parity
    split = 2 * (rows % 2) + columns % 2
    kta_rc = np.array([signed(ee[54] >> 8, 8), signed(ee[55] >> 8, 8), signed(ee[54], 8), signed(ee[55], 8)])
    kta = (kta_rc[split] + _signed_array(pixel_words >> 1, 3) * (1 << kta_scale2)) / 2.0 ** kta_scale1
    kv_rc = np.array([signed(ee[52] >> 12, 4), signed(ee[52] >> 4, 4), signed(ee[52] >> 8, 4), signed(ee[52], 4)])
    kv = kv_rc[split] / 2.0 ** kv_scale
    return alpha, offset, kta, kv, pixel_words
