"""Simulated colour and thermal cameras that show what a SimWorld renders."""

from __future__ import annotations

import time

import numpy as np

from drivers.camera import Camera, Frame
from drivers.sim.world import SimWorld
from drivers.thermal import ThermalCamera, ThermalFrame, chess_pattern


class SimCamera(Camera):
    """Each read advances the world one frame; realtime paces reads at the scenario's fps."""

    name = "camera (simulated)"

    def __init__(self, world: SimWorld, *, realtime: bool = True, loop: bool = False) -> None:
        super().__init__()
        self.world = world
        self.realtime = realtime
        self.loop = loop
        self._started = world.wall_origin = time.monotonic()  # realtime: world time t is wall_origin + t
        self.render_cpu_s = 0.0  # CPU this thread spent simulating and drawing the world: what a camera costs the gate

    @property
    def healthy(self) -> bool:
        return not self.world.camera_dropped

    @property
    def finished(self) -> bool:
        return self.world.finished and not self.loop

    def _read(self, timeout: float) -> Frame | None:
        world = self.world
        if world.finished:
            if not self.loop:
                return None
            world.reset()
            self._started = world.wall_origin = time.monotonic()
        if self.realtime:
            due = self._started + (world.frame_index + 1) / world.fps
            delay = due - time.monotonic()
            if delay > timeout:
                time.sleep(timeout)
                return None
            if delay > 0:
                time.sleep(delay)
            # a reader that falls behind misses frames, as with a real camera: the world keeps wall time,
            # and what happened meanwhile (a relay switched on late, say) is seen at the time it is now
            behind = int((time.monotonic() - due) * world.fps)
            if behind > 0:
                world.skip(behind)
        started = time.thread_time()
        world.step()
        if world.camera_dropped:
            return None
        frame = Frame(world.render_rgb(), world.now, world.frame_index)
        self.render_cpu_s += time.thread_time() - started
        return frame


class SimThermalCamera(ThermalCamera):
    """The world's thermal view at the sensor's own pace: a new frame every 1/rate_hz of world time (seen
    at the first colour frame after it is due), the newest one (with its capture time) in between, as a
    real sensor's reader thread hands it over.

    With two sub-pages (an MLX90640) half the pixels, in a chess pattern, are measured every half
    period and handed over at once, the other half kept from the sub-page before, as the real
    driver does.
    """

    name = "thermal camera (simulated)"

    def __init__(self, world: SimWorld, *, rate_hz: float = 8.7, sub_pages: int = 1) -> None:
        super().__init__()
        self.world = world
        self.sub_pages = sub_pages
        self.period = 1.0 / rate_hz / sub_pages
        self._newest: ThermalFrame | None = None
        self._due = 0.0  # world time of the sensor's next measurement: its own clock, not the colour camera's
        self._sub_page = 0
        self.render_cpu_s = 0.0

    def _read(self) -> ThermalFrame | None:
        started = time.thread_time()
        try:
            return self._measure()
        finally:
            self.render_cpu_s += time.thread_time() - started

    def _measure(self) -> ThermalFrame | None:
        now = self.world.now
        newest = self._newest
        if newest is None or now < newest.time:  # the first frame, or the world started again
            self._newest = ThermalFrame(self.world.render_thermal(), now)
            self._due = now + self.period
        elif now >= self._due:
            self._due += self.period * (int((now - self._due) / self.period) + 1)  # skipped if the loop fell behind
            celsius = self.world.render_thermal()
            if self.sub_pages == 1:
                self._newest = ThermalFrame(celsius, now)
            else:
                self._sub_page ^= 1
                fresh = chess_pattern(*celsius.shape) == self._sub_page
                self._newest = ThermalFrame(np.where(fresh, celsius, newest.celsius), now, fresh=fresh,
                                            rest_time=newest.time)
        return self._newest
