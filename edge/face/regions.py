"""Where the detector looks in the next frame: around the faces already tracked, and the whole frame now and then.

The detector is most of a busy gate's CPU, and its cost grows with the pixels it is given. While someone is
tracked, the faces of the next frame are where the tracked ones were, give or take a frame's movement; the
whole frame is looked at again every `whole_frame_every_s`, so a newcomer is found at most that late.

The region must agree with the whole frame, not only find the face: frames of both kinds alternate, and the
thermal check reads the eye corners at the landmarks and the distance from the eyes' spacing. With half a
face's width around a face the eyes came out 2 px (5 %) closer than in the whole frame, the distance
flickered between frames, and a resident's temperature took 3 s to settle; with a whole face's width the
landmarks agree to a tenth of a percent (tests/edge/test_face_regions.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable

import numpy as np

GRID = 32  # YuNet's coarsest stride: a region cut on this grid shows its faces to the detector as the frame does
MARGIN = 1.0  # face widths looked at on each side of a tracked face: the context the detector needs (above)
MAX_SHARE = 0.75  # a region larger than this share of the frame saves too little to be worth cutting out


@dataclass(frozen=True)
class Region:
    """A rectangle of the detector's copy of the frame, in its pixels: left and top inclusive, right and bottom
    exclusive, each a multiple of GRID or the frame's edge."""

    left: int
    top: int
    right: int
    bottom: int


class RegionPlanner:
    """Decides, frame by frame, whether the detector looks at the whole frame or at a region around the tracks."""

    def __init__(self, whole_frame_every_s: float) -> None:
        self.whole_frame_every_s = whole_frame_every_s
        self._whole_at = -math.inf
        self.whole_frames = 0
        self.region_frames = 0

    def plan(self, boxes: Iterable[np.ndarray], width: int, height: int, now: float) -> Region | None:
        """The region to look at in a frame `width` x `height`, given the tracked faces' boxes (x1, y1, x2, y2 in
        the same pixels); None for the whole frame."""
        region = self._around(list(boxes), width, height) if self.whole_frame_every_s > 0 else None
        if region is None or now - self._whole_at >= self.whole_frame_every_s or now < self._whole_at:
            self._whole_at = now
            self.whole_frames += 1
            return None
        self.region_frames += 1
        return region

    def status(self) -> dict:
        """For telemetry: how often the whole frame is looked at, and how many frames were looked at each way."""
        return {"whole_frame_every_s": self.whole_frame_every_s, "whole_frames": self.whole_frames,
                "region_frames": self.region_frames}

    @staticmethod
    def _around(boxes: list[np.ndarray], width: int, height: int) -> Region | None:
        if not boxes:
            return None
        corners = np.array([_widened(box) for box in boxes])
        left = max(0, int(corners[:, 0].min()) // GRID * GRID)
        top = max(0, int(corners[:, 1].min()) // GRID * GRID)
        right = min(width, -(-int(math.ceil(corners[:, 2].max())) // GRID) * GRID)
        bottom = min(height, -(-int(math.ceil(corners[:, 3].max())) // GRID) * GRID)
        if right <= left or bottom <= top or (right - left) * (bottom - top) > MAX_SHARE * width * height:
            return None
        return Region(left, top, right, bottom)


def _widened(box: np.ndarray) -> tuple[float, float, float, float]:
    x1, y1, x2, y2 = (float(value) for value in box[:4])
    pad = MARGIN * max(x2 - x1, y2 - y1, 1.0)
    return x1 - pad, y1 - pad, x2 + pad, y2 + pad
