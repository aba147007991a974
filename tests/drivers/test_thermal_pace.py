"""Every sensor is read at its own pace, off the frame loop; the simulated twins keep that pace too."""

import time

import numpy as np
import pytest

from drivers.sim.scenario import load_scenario
from drivers.sim.twins import SimThermalCamera
from drivers.sim.world import SimWorld
from drivers.thermal import PolledThermalCamera, ThermalFrame, chess_pattern
from edge.errors import DeviceError
from tests.conftest import SCENARIOS
from tests.emulators import wait_for


class HalfSecondSensor(PolledThermalCamera):
    """A sensor that takes half a second per frame (an MLX90640 at 2 Hz), or fails when told to."""

    name = "thermal camera (slow)"

    def __init__(self) -> None:
        super().__init__()
        self.failing = False
        self._start_reader()

    def _fetch(self):
        time.sleep(0.5)
        if self.failing:
            raise DeviceError("slow sensor: I2C read failed")
        return ThermalFrame(np.full((24, 32), 30.0, np.float32), time.monotonic())

    def _close(self):
        self._stop_reader()


def test_a_slow_sensor_never_makes_the_reader_wait():
    sensor = HalfSecondSensor()
    try:
        longest = 0.0
        frames = []

        def frame_arrived() -> bool:
            nonlocal longest
            started = time.perf_counter()
            frame = sensor.read()
            longest = max(longest, time.perf_counter() - started)
            if frame is not None:
                frames.append(frame)
            return len({f.time for f in frames}) >= 2

        assert wait_for(frame_arrived, timeout=3, interval=0.01)
        assert longest < 0.05  # the loop takes what is there (a fetch takes 0.5 s)
        sensor.failing = True
        assert wait_for(lambda: _raises(sensor), timeout=3)
    finally:
        sensor.close()


def _raises(sensor) -> bool:
    try:
        sensor.read()
    except DeviceError as error:
        return "I2C read failed" in str(error)
    return False


@pytest.mark.parametrize("rate_hz, sub_pages", [(4.0, 1), (8.7, 1), (4.0, 2)])
def test_the_simulated_sensor_keeps_its_real_rate(rate_hz, sub_pages):
    world = SimWorld(load_scenario(SCENARIOS / "residents_only.yaml"), thermal_size=(32, 24))
    camera = SimThermalCamera(world, rate_hz=rate_hz, sub_pages=sub_pages)
    frames = []
    for _ in range(100):  # four seconds of colour frames at 25/s
        world.step()
        frame = camera.read()
        if not frames or frame.time != frames[-1].time:
            frames.append(frame)
        assert world.now - frame.time < 1.0 / rate_hz / sub_pages + 1e-9  # never older than one sub-page
    assert abs(len(frames) - 4.0 * rate_hz * sub_pages) <= 2, len(frames)
    if sub_pages == 2:  # an MLX90640: half the pixels, in a chess pattern, each time, the other half kept
        for before, frame in zip(frames[1:], frames[2:]):
            assert np.array_equal(frame.fresh, ~before.fresh)
            assert np.array_equal(frame.fresh, chess_pattern(24, 32) == chess_pattern(24, 32)[frame.fresh][0])
            assert frame.rest_time == before.time
            assert np.array_equal(frame.celsius[~frame.fresh], before.celsius[~frame.fresh])
    else:
        assert all(frame.fresh is None for frame in frames)


def test_the_simulated_scanner_delivers_a_line_as_the_wire_would():
    from drivers.qrscanner import SimQrScanner

    now = [0.0]
    scanner = SimQrScanner(clock=lambda: now[0], baudrate=9600)
    scanner.present("HC1:" + "X" * 196)  # 200 characters: 0.05 s to read, 0.21 s on the wire
    now[0] = 0.2
    assert scanner.poll() == []
    now[0] = 0.27
    assert scanner.poll() == ["HC1:" + "X" * 196]
