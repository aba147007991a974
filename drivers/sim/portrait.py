"""A visitor's face photo, cropped around the face and scaled per frame, and where a face is in a photo."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import cv2
import numpy as np

# A walk asks for a new scale nearly every frame; only someone standing still asks for one again. Keeping
# every scale of every photo grew a looping demo gate by tens of MB an hour.
SCALES_KEPT = 4

# (box x, y, w, h), 5 landmarks (eyes, nose, mouth corners), all in photo pixels.
FaceLocation = tuple[tuple[float, float, float, float], np.ndarray]
Locator = Callable[[np.ndarray], FaceLocation | None]


def guess_location(image: np.ndarray) -> FaceLocation:
    """Where a face is in a portrait photo when no detector is at hand: centred, upper half."""
    h, w = image.shape[:2]
    side = 0.5 * min(w, h)
    x, y = (w - side) / 2, 0.18 * h
    marks = np.array([[0.34, 0.4], [0.66, 0.4], [0.5, 0.58], [0.38, 0.76], [0.62, 0.76]]) * side + [x, y]
    return (x, y, side, side), marks.astype(np.float32)


@dataclass
class Portrait:
    """A photo cropped around its face and shrunk, ready to be scaled per frame."""

    image: np.ndarray
    box: tuple[float, float, float, float]  # face box in `image` pixels
    marks: np.ndarray  # 5 landmarks in `image` pixels
    _scaled: dict[int, tuple[np.ndarray, float]] = field(default_factory=dict)

    @classmethod
    def from_photo(cls, image: np.ndarray, location: FaceLocation, max_side: int = 360) -> "Portrait":
        (x, y, w, h), marks = location
        cx, cy = x + w / 2, y + h / 2
        half = 1.3 * max(w, h)
        x0, y0 = int(max(0, cx - half)), int(max(0, cy - half))
        x1, y1 = int(min(image.shape[1], cx + half)), int(min(image.shape[0], cy + half * 1.2))
        crop = image[y0:y1, x0:x1]
        scale = min(1.0, max_side / max(crop.shape[:2]))
        crop = cv2.resize(crop, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        box = ((x - x0) * scale, (y - y0) * scale, w * scale, h * scale)
        return cls(crop, box, (marks - [x0, y0]) * scale)

    def with_image(self, image: np.ndarray) -> "Portrait":
        """The same face at the same place in another image of the same size (a mask drawn on, say)."""
        return Portrait(image, self.box, self.marks)

    def scaled(self, face_width_px: float) -> tuple[np.ndarray, float]:
        """The crop scaled so the face is `face_width_px` wide (in 2 % steps, the newest few kept)."""
        factor = face_width_px / self.box[2]
        key = int(round(np.log(factor) / np.log(1.02)))
        scaled = self._scaled.pop(key, None)
        if scaled is None:
            exact = 1.02 ** key
            interpolation = cv2.INTER_AREA if exact < 1 else cv2.INTER_LINEAR
            scaled = (cv2.resize(self.image, None, fx=exact, fy=exact, interpolation=interpolation), exact)
        self._scaled[key] = scaled  # the newest last
        while len(self._scaled) > SCALES_KEPT:
            del self._scaled[next(iter(self._scaled))]
        return scaled
