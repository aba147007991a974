"""Is anyone near? A cheap look at each frame that decides whether the costly stages run on it.

While nobody is near, the face detector (most of an idle gate's CPU) and the camera's code
search skip the frame. A frame wakes them when:

- something moves: the frame, shrunk to a small grey copy with its overall light taken out,
  differs from a slowly learned background over a patch at least `min_area` of the view (a
  morphological opening first removes changes a pixel or two wide: rain, leaves, sensor noise);
- the gate is busy: a visit is open, or a face was seen within `hold_s`;
- it is time for the slow periodic look (`still_check_s`) and the look finds a face: someone who
  walked up while the gate was waking, or stands so still the background has taken them in. The
  look is the face engine's search on a copy half as wide (a quarter of a full search's cost); a
  gate without a face stage wakes its stages on every look.

The pixel threshold follows the frame's own noise (a multiple of the median change), so a
noisy night camera does not keep the gate awake. Every judgement is counted for telemetry.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import cv2
import numpy as np

from edge.config import PresenceConfig

NOISE_SIGMAS = 4.0  # a pixel changed by more than this many noise standard deviations has moved
MAD_TO_SIGMA = 1.4826
LIGHT_TAKEN_OUT_BELOW = 0.2  # a frame darker than a fifth of the background's light is judged as it is


@dataclass
class PresenceStats:
    frames: int = 0
    woken: dict[str, int] = field(default_factory=dict)  # frames the costly stages ran on, by why
    wakes: int = 0  # times the gate went from quiet to awake
    looks: int = 0  # still checks made: frames the look searched for a face while nothing moved
    score: float = 0.0  # the newest frame's moving share of the view
    pixel_threshold: float = 0.0  # the newest frame's grey-level change that counts as moving


class Presence:
    """One per gate, on the frame loop's thread."""

    def __init__(self, config: PresenceConfig, look: Callable[[np.ndarray], bool] | None = None) -> None:
        """`look`: is there a face in this frame at all (the still check's cheap search); None: assume so."""
        self.config = config
        self._look = look
        self.stats = PresenceStats()
        self._background: np.ndarray | None = None
        self._last_busy = -float("inf")
        self._last_look = -float("inf")
        self._awake = True

    def wake_for(self, image: np.ndarray, now: float, *, busy: bool) -> str | None:
        """Why the costly stages should run on this frame (motion, busy, still_check, off), or None to skip it."""
        self.stats.frames += 1
        moving = self._moving(image)  # learns the background on every frame, awake or not
        if busy or moving:
            self._last_busy = now
        if not self.config.enabled:
            why: str | None = "off"
        elif moving:
            why = "motion"
        elif now - self._last_busy <= self.config.hold_s:
            why = "busy"
        elif now - self._last_look >= self.config.still_check_s or now < self._last_look:
            self._last_look = now
            self.stats.looks += 1
            why = "still_check" if self._someone_there(image) else None
        else:
            why = None
        if why is not None:
            self._last_look = now
            self.stats.woken[why] = self.stats.woken.get(why, 0) + 1
        awake = why not in (None, "still_check")
        if awake and not self._awake:
            self.stats.wakes += 1
        self._awake = awake
        return why

    def _someone_there(self, image: np.ndarray) -> bool:
        if self._look is None:
            return True
        try:
            return bool(self._look(image))
        except Exception:  # a broken look wakes the stages: their failure is reported as a fault, not hidden here
            return True

    def face_seen(self, now: float) -> None:
        """A face was found: stay awake for `hold_s` more."""
        self._last_busy = now

    @property
    def awake(self) -> bool:
        return self._awake

    def _moving(self, image: np.ndarray) -> bool:
        height, width = image.shape[:2]
        small_width = min(self.config.width_px, width)
        small_height = max(1, round(height * small_width / width))
        grey_full = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image  # one channel to shrink
        grey = cv2.resize(grey_full, (small_width, small_height), interpolation=cv2.INTER_AREA).astype(np.float32)
        background = self._background
        if background is None or background.shape != grey.shape:
            self._background = grey
            return False
        light, learned = float(grey.mean()), float(background.mean())
        if light > LIGHT_TAKEN_OUT_BELOW * learned:
            grey *= learned / max(light, 1e-3)  # the sun behind a cloud changes every pixel alike: not a person
        difference = cv2.absdiff(grey, background)
        noise = MAD_TO_SIGMA * float(np.median(difference))
        threshold = max(self.config.min_change, NOISE_SIGMAS * noise)
        moved = cv2.morphologyEx((difference > threshold).astype(np.uint8), cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
        score = float(cv2.countNonZero(moved)) / moved.size
        cv2.accumulateWeighted(grey, background, self.config.learn_rate)
        self.stats.score, self.stats.pixel_threshold = score, threshold
        return score >= self.config.min_area

    def status(self) -> dict:
        """For telemetry: the thresholds, the newest judgement and how many frames woke the stages and why."""
        stats = self.stats
        return {"enabled": self.config.enabled, "awake": self._awake, "frames": stats.frames,
                "woken": dict(stats.woken), "wakes": stats.wakes, "looks": stats.looks, "score": round(stats.score, 4),
                "min_area": self.config.min_area, "pixel_threshold": round(stats.pixel_threshold, 1),
                "still_check_s": self.config.still_check_s}
