"""Simulated colour and thermal cameras that show what a SimWorld renders."""

from __future__ import annotations

import time

from drivers.camera import Camera, Frame
from drivers.sim.world import SimWorld
from drivers.thermal import ThermalCamera, ThermalFrame


class SimCamera(Camera):
    """Each read advances the world one frame; realtime paces reads at the scenario's fps."""

    name = "camera (simulated)"

    def __init__(self, world: SimWorld, *, realtime: bool = True, loop: bool = False) -> None:
        super().__init__()
        self.world = world
        self.realtime = realtime
        self.loop = loop
        self._started = world.wall_origin = time.monotonic()  # realtime: world time t is wall_origin + t

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
        world.step()
        if world.camera_dropped:
            return None
        return Frame(world.render_rgb(), world.now, world.frame_index)


class SimThermalCamera(ThermalCamera):
    """The world's thermal view at the sensor's own pace: a new frame every 1/rate_hz of world time, the
    newest one (with its capture time) in between, as a real sensor's reader thread hands it over."""

    name = "thermal camera (simulated)"

    def __init__(self, world: SimWorld, *, rate_hz: float = 8.7) -> None:
        super().__init__()
        self.world = world
        self.period = 1.0 / rate_hz
        self._newest: ThermalFrame | None = None

    def _read(self) -> ThermalFrame | None:
        now = self.world.now
        if self._newest is None or now - self._newest.time >= self.period or now < self._newest.time:
            self._newest = ThermalFrame(self.world.render_thermal(), now)
        return self._newest
