"""Face masks drawn onto photos: the simulator's masked visitors, and the mask classifier's training and bench data.

A mask is a polygon placed in the aligned-face template's coordinates (the 112x112 crop the embedder
takes: eyes at y 52, nose tip at 72, mouth corners at 92), carried onto the photo by the similarity
that maps the template's five landmarks onto the face's, then shaded: light from above, the fabric's
noise, pleats or a seam, ear loops. Three kinds and their usual colours, as seen at community gates.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

TEMPLATE_MARKS = np.array([[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366],
                           [41.5493, 92.3655], [70.7299, 92.2041]], dtype=np.float32)
# the outline over nose and chin, cheek to cheek, in template pixels
OUTLINE = np.array([[10, 66], [28, 59], [56, 55], [84, 59], [102, 66], [101, 90], [88, 110], [56, 124],
                    [24, 110], [11, 90]], dtype=np.float32)
KINDS = ("surgical", "cloth", "kn95")
COLOURS_BGR = {  # (B, G, R) choices per kind
    "surgical": ((214, 190, 150), (235, 232, 228), (200, 210, 120), (190, 170, 230)),
    "cloth": ((30, 30, 30), (70, 60, 50), (120, 80, 40), (60, 60, 140), (150, 150, 150), (40, 90, 40)),
    "kn95": ((238, 238, 236), (225, 225, 222), (40, 40, 40)),
}


@dataclass(frozen=True)
class MaskStyle:
    kind: str
    colour: tuple[int, int, int]
    top_shift: float  # template pixels the top edge sits lower (+) or higher (-) than usual
    seed: int

    @classmethod
    def draw(cls, rng: np.random.Generator) -> "MaskStyle":
        kind = KINDS[int(rng.integers(len(KINDS)))]
        colours = COLOURS_BGR[kind]
        return cls(kind, colours[int(rng.integers(len(colours)))], float(rng.uniform(-3.0, 6.0)),
                   int(rng.integers(2**31)))


    @classmethod
    def of(cls, kind: str, *, seed: int) -> "MaskStyle":
        """A mask of `kind` in its kind's first colour: what a scenario asks for by name."""
        return cls(kind, COLOURS_BGR[kind][0], 0.0, seed)


def template_to_photo(marks: np.ndarray) -> np.ndarray:
    """The 2x3 similarity taking template pixels to the photo's, from the face's five landmarks."""
    matrix, _ = cv2.estimateAffinePartial2D(TEMPLATE_MARKS, np.asarray(marks, np.float32), method=cv2.LMEDS)
    if matrix is None:
        raise ValueError("landmarks: no similarity maps the template onto them")
    return matrix


def put_on(image: np.ndarray, marks: np.ndarray, style: MaskStyle) -> np.ndarray:
    """A copy of `image` with a mask of `style` over the face whose landmarks are `marks`."""
    rng = np.random.default_rng(style.seed)
    matrix = template_to_photo(marks)
    outline = OUTLINE.copy()
    outline[:5, 1] += style.top_shift
    points = cv2.transform(outline[None], matrix)[0]
    height, width = image.shape[:2]
    cover = np.zeros((height, width), np.uint8)
    cv2.fillPoly(cover, [np.round(points).astype(np.int32)], 255)
    scale = float(np.hypot(*matrix[:, 0]))  # photo pixels per template pixel
    cloth = _fabric(image.shape, style, matrix, scale, rng)
    soft = cv2.GaussianBlur(cover, (0, 0), max(0.6, 0.6 * scale)).astype(np.float32)[..., None] / 255.0
    out = image.astype(np.float32) * (1 - soft) + cloth * soft
    _ear_loops(out, points, style, scale)
    return np.clip(out, 0, 255).astype(np.uint8)


def _fabric(shape: tuple[int, ...], style: MaskStyle, matrix: np.ndarray, scale: float,
            rng: np.random.Generator) -> np.ndarray:
    """The mask's colour over the whole frame: lit from above, darker towards the chin, with creases."""
    height, width = shape[:2]
    inverse = cv2.invertAffineTransform(matrix)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    ty = inverse[1, 0] * xs + inverse[1, 1] * ys + inverse[1, 2]  # template row of each photo pixel
    tx = inverse[0, 0] * xs + inverse[0, 1] * ys + inverse[0, 2]
    light = 1.05 - 0.25 * np.clip((ty - 55) / 70, 0, 1) - 0.12 * np.clip(np.abs(tx - 56) / 46, 0, 1) ** 2
    if style.kind == "surgical":
        for row in (74.0, 88.0, 102.0):
            light -= 0.12 * np.exp(-((ty - row - style.top_shift / 2) ** 2) / 3.0)
    elif style.kind == "kn95":
        light -= 0.15 * np.exp(-((tx - 56) ** 2) / 2.0)
    grain = cv2.GaussianBlur(rng.normal(0, 1, (height, width)).astype(np.float32), (0, 0), max(0.5, 0.4 * scale))
    light = light + 0.04 * grain
    return np.asarray(style.colour, np.float32)[None, None, :] * light[..., None]


def _ear_loops(out: np.ndarray, points: np.ndarray, style: MaskStyle, scale: float) -> None:
    thickness = max(1, int(round(0.8 * scale)))
    colour = tuple(float(c) * 0.95 for c in style.colour)
    for upper, lower, outward in ((points[0], points[9], -1), (points[4], points[5], 1)):
        ear = np.array([upper[0] + outward * 8 * scale, (upper[1] + lower[1]) / 2])
        for end in (upper, lower):
            cv2.line(out, tuple(int(v) for v in end), tuple(int(v) for v in ear), colour, thickness, cv2.LINE_AA)
