"""What moves in an empty view: light that changes, a shadow that drifts, leaves or rain, the camera's own noise.

The simulated gate stands before this most of the day; a presence check must sleep through it
and still wake for a person. Each effect is drawn cheaply (precomputed noise frames, a few
dozen small shapes) so the simulator's own cost stays small beside the gate's.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from drivers.sim.scenario import SceneSpec

NOISE_FRAMES = 8
LEAVES = 40
RAIN_STREAKS = 60
SHADOW_DARKNESS = 0.35  # the shadow's core lets this share of the light less through
SHADOW_SPEED_PX_S = 6.0
SHADOW_SOFTNESS = 0.3  # the penumbra, as a share of the frame's width


class Scene:
    def __init__(self, spec: SceneSpec, size: tuple[int, int], rng: np.random.Generator) -> None:
        self.spec = spec
        width, height = size
        self.size = size
        self._rng = rng
        self.still = (spec.light_change == 0 and not spec.shadow and spec.clutter == "none" and spec.noise_sd == 0)
        self._noise: list[tuple[np.ndarray, np.ndarray]] = []
        for _ in range(NOISE_FRAMES if spec.noise_sd > 0 else 0):
            noise = rng.normal(0.0, spec.noise_sd, (height, width, 3))
            self._noise.append((np.clip(noise, 0, 255).astype(np.uint8), np.clip(-noise, 0, 255).astype(np.uint8)))
        centre = np.array([0.12 * width, 0.18 * height])
        self._leaves = centre + rng.normal(0.0, 0.05 * width, (LEAVES, 2))
        ramp = np.clip((np.arange(2 * width) - width) / (SHADOW_SOFTNESS * width) + 0.5, 0.0, 1.0)
        self._shadow_ramp = (1.0 - SHADOW_DARKNESS * ramp).astype(np.float32)  # dark on the right, sliding

    def before_people(self, frame: np.ndarray, now: float) -> None:
        """Effects on the ground and walls, behind whoever stands there."""
        width, height = self.size
        if self.spec.shadow:
            start = int(width - (SHADOW_SPEED_PX_S * now) % (2 * width))
            gain = np.roll(self._shadow_ramp, start)[:width]
            frame[:] = (frame * gain[None, :, None]).astype(np.uint8)
        if self.spec.clutter == "leaves":
            flutter = self._rng.normal(0.0, 1.5, self._leaves.shape)
            for (x, y), (dx, dy) in zip(self._leaves, flutter):
                cv2.circle(frame, (int(x + dx), int(y + dy)), 3, (40, 90, 50), -1)

    def after_people(self, frame: np.ndarray, now: float, index: int) -> None:
        """Effects over everything: rain in front, the light, the sensor's noise."""
        width, height = self.size
        if self.spec.clutter == "rain":
            starts = self._rng.uniform((0, 0), (width, height), (RAIN_STREAKS, 2)).astype(int)
            for x, y in starts:
                cv2.line(frame, (int(x), int(y)), (int(x) + 2, int(y) + 12), (200, 200, 200), 1)
        if self.spec.light_change > 0:
            gain = 1.0 + self.spec.light_change * math.sin(2 * math.pi * now / self.spec.light_period_s)
            cv2.convertScaleAbs(frame, frame, alpha=gain)
        if self._noise:
            brighter, darker = self._noise[index % len(self._noise)]
            cv2.add(frame, brighter, frame)
            cv2.subtract(frame, darker, frame)
