"""How a face looks to a radiometric thermal camera: the simulator's physics, kept in one place.

Skin runs a couple of degrees below core temperature and cools with the air; the inner eye
corners (canthi) stay close to core. Optics blur small features; the sensor adds noise and an
offset that drifts. A printed photo sits near air temperature; a phone screen is uniformly warm.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

CANTHUS_OFFSET_C = 0.3  # canthus below core at 22 °C air
CANTHUS_AMBIENT_SLOPE = 0.02  # the canthus cools this much per degree of colder air
SKIN_OFFSET_C = 2.2  # rest of the face below core
SKIN_AMBIENT_SLOPE = 0.08
REFERENCE_AMBIENT_C = 22.0
OPTICS_BLUR_PX = 0.6


def canthus_temperature(core: float, ambient: float) -> float:
    return core - CANTHUS_OFFSET_C - CANTHUS_AMBIENT_SLOPE * (REFERENCE_AMBIENT_C - ambient)


def skin_temperature(core: float, ambient: float) -> float:
    return core - SKIN_OFFSET_C - SKIN_AMBIENT_SLOPE * (REFERENCE_AMBIENT_C - ambient)


@dataclass
class ThermalFace:
    box: tuple[float, float, float, float]  # x0, y0, x1, y1 in thermal pixels
    eyes: np.ndarray  # 2 x 2, eye centres in thermal pixels
    core_c: float
    presentation: str = "live"  # live | photo | screen


def inner_canthi(eyes: np.ndarray) -> np.ndarray:
    return eyes + (eyes[::-1] - eyes) * 0.18


def draw_face(frame: np.ndarray, face: ThermalFace, ambient: float) -> None:
    x0, y0, x1, y1 = face.box
    centre = (int(round((x0 + x1) / 2)), int(round((y0 + y1) / 2)))
    axes = (max(1, int(round((x1 - x0) / 2))), max(1, int(round((y1 - y0) * 0.6))))
    if face.presentation == "photo":
        cv2.ellipse(frame, centre, axes, 0, 0, 360, ambient + 0.8, -1)
        return
    if face.presentation == "screen":
        cv2.rectangle(frame, (int(x0), int(y0)), (int(x1), int(y1)), max(ambient + 7.0, 31.0), -1)
        return
    cv2.ellipse(frame, centre, axes, 0, 0, 360, skin_temperature(face.core_c, ambient), -1)
    radius = max(1, int(round(0.08 * (x1 - x0))))
    for px, py in inner_canthi(face.eyes):
        cv2.circle(frame, (int(round(px)), int(round(py))), radius, canthus_temperature(face.core_c, ambient), -1)


def render(size: tuple[int, int], ambient: float, faces: list[ThermalFace], *, blackbody_c: float | None,
           blackbody_box: tuple[int, int, int, int] | None, offset_c: float, noise_c: float,
           rng: np.random.Generator) -> np.ndarray:
    width, height = size
    frame = np.full((height, width), ambient, dtype=np.float32)
    for face in faces:
        draw_face(frame, face, ambient)
    if blackbody_c is not None and blackbody_box is not None:
        x, y, w, h = blackbody_box
        frame[y:y + h, x:x + w] = blackbody_c
    blurred = np.asarray(cv2.GaussianBlur(frame, (0, 0), OPTICS_BLUR_PX), dtype=np.float32)
    return blurred + rng.normal(0, noise_c, blurred.shape).astype(np.float32) + np.float32(offset_c)
