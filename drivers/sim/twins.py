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
        self._started = time.monotonic()

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
            self._started = time.monotonic()
        if self.realtime:
            due = self._started + (world.frame_index + 1) / world.fps
            delay = due - time.monotonic()
            if delay > timeout:
                time.sleep(timeout)
                return None
            if delay > 0:
                time.sleep(delay)
            # a reader that falls behind misses frames, as with a real camera: the world keeps wall time
            while time.monotonic() - due >= 1.0 / world.fps:
                world.step()
                due += 1.0 / world.fps
        world.step()
        if world.camera_dropped:
            return None
        return Frame(world.render_rgb(), world.now, world.frame_index)


class SimThermalCamera(ThermalCamera):
    name = "thermal camera (simulated)"

    def __init__(self, world: SimWorld) -> None:
        super().__init__()
        self.world = world

    def _read(self) -> ThermalFrame | None:
        return ThermalFrame(self.world.render_thermal(), self.world.now)
