"""How a face looks to a radiometric thermal camera: the simulator's physics, kept in one place.

Skin runs a couple of degrees below core temperature and cools with the air; the inner eye
corners (canthi) stay close to core, each person a little differently. Skin is not quite a black
body, so a little of the room is reflected. Optics blur small features; the sensor adds noise and
an offset that drifts. A printed photo sits near air temperature; a phone screen is uniformly warm.

`IDEAL` is a world exactly as the gate's default settings assume (for tests of the method, never
for figures); `draw_physics` draws one from the ranges published for screening thermography,
independently of the gate's settings: the gate has to calibrate itself to it.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

REFERENCE_AMBIENT_C = 22.0
OPTICS_BLUR_PX = 0.6
HEALTHY_RANGE_C = (35.8, 37.0)  # a healthy person is not drawn at the screening threshold
# of people's spread in how their eye corners read, the share of the variance that is the person's own (the shape
# of the eye, how deep-set it is: the same on every visit) rather than the day's (sweat, make-up, a rubbed eye):
# a modelling choice; a returning resident keeps their part, a stranger is drawn afresh
OWN_SHARE = 0.8


@dataclass(frozen=True)
class ThermalPhysics:
    canthus_offset_c: float  # canthus below core at 22 °C air, population mean
    canthus_ambient_slope: float  # the canthus cools this much per degree of colder air
    skin_offset_c: float  # rest of the face below core
    skin_ambient_slope: float
    emissivity: float  # of skin; the rest of what the sensor sees is the room, reflected
    person_sd_c: float  # person-to-person spread of the canthus offset
    normal_core_c: float  # mean core temperature of healthy people
    healthy_sd_c: float = 0.25  # their spread around it


IDEAL = ThermalPhysics(canthus_offset_c=0.3, canthus_ambient_slope=0.02, skin_offset_c=2.2, skin_ambient_slope=0.08,
                         emissivity=0.98, person_sd_c=0.0, normal_core_c=36.6, healthy_sd_c=0.0)


def draw_physics(rng: np.random.Generator) -> ThermalPhysics:
    """A world drawn from published ranges, never from the gate's defaults.

    Canthus 0-0.8 °C below core, cooling 0.01-0.05 °C per degree of colder air, people differing by
    0.15-0.35 °C (the spread reported for inner-canthus screening against oral or ear thermometers:
    IEC 80601-2-59, ISO/TR 13154, Zhou et al., J. Biomed. Opt. 25(9) 2020); skin emissivity 0.97-0.99
    (Steketee, Phys. Med. Biol. 18, 1973); healthy core temperature 36.4-36.9 °C on average
    (Mackowiak et al., JAMA 1992; Obermeyer et al., BMJ 2017). The people met there are drawn around
    that mean (`healthy_core`: an SD of 0.25 °C, a modelling choice, clipped to 35.8-37.0 °C).
    """
    return ThermalPhysics(canthus_offset_c=float(rng.uniform(0.0, 0.8)),
                          canthus_ambient_slope=float(rng.uniform(0.01, 0.05)),
                          skin_offset_c=float(rng.uniform(1.5, 3.0)), skin_ambient_slope=float(rng.uniform(0.05, 0.15)),
                          emissivity=float(rng.uniform(0.97, 0.99)), person_sd_c=float(rng.uniform(0.15, 0.35)),
                          normal_core_c=float(rng.uniform(36.4, 36.9)))


def healthy_core(physics: ThermalPhysics, rng: np.random.Generator) -> float:
    """A healthy person's core temperature in this world (the ideal world's people all sit at its mean)."""
    if physics.healthy_sd_c == 0.0:
        return physics.normal_core_c
    return float(np.clip(rng.normal(physics.normal_core_c, physics.healthy_sd_c), *HEALTHY_RANGE_C))


def apparent(surface_c: float, ambient: float, physics: ThermalPhysics) -> float:
    """What a radiometric sensor reports for a surface (linearised: fine over a few degrees)."""
    return physics.emissivity * surface_c + (1.0 - physics.emissivity) * ambient


def canthus_temperature(core: float, ambient: float, physics: ThermalPhysics = IDEAL, person_c: float = 0.0) -> float:
    surface = core - physics.canthus_offset_c - person_c - physics.canthus_ambient_slope * (REFERENCE_AMBIENT_C - ambient)
    return apparent(surface, ambient, physics)


def skin_temperature(core: float, ambient: float, physics: ThermalPhysics = IDEAL) -> float:
    surface = core - physics.skin_offset_c - physics.skin_ambient_slope * (REFERENCE_AMBIENT_C - ambient)
    return apparent(surface, ambient, physics)


@dataclass
class ThermalFace:
    box: tuple[float, float, float, float]  # x0, y0, x1, y1 in thermal pixels
    eyes: np.ndarray  # 2 x 2, eye centres in thermal pixels
    core_c: float
    presentation: str = "live"  # live | photo | screen
    person_c: float = 0.0  # this person's canthus offset beyond the population's


def inner_canthi(eyes: np.ndarray) -> np.ndarray:
    return eyes + (eyes[::-1] - eyes) * 0.18


def draw_face(frame: np.ndarray, face: ThermalFace, ambient: float, physics: ThermalPhysics = IDEAL) -> None:
    x0, y0, x1, y1 = face.box
    centre = (int(round((x0 + x1) / 2)), int(round((y0 + y1) / 2)))
    axes = (max(1, int(round((x1 - x0) / 2))), max(1, int(round((y1 - y0) * 0.6))))
    if face.presentation == "photo":
        cv2.ellipse(frame, centre, axes, 0, 0, 360, ambient + 0.8, -1)
        return
    if face.presentation == "screen":
        cv2.rectangle(frame, (int(x0), int(y0)), (int(x1), int(y1)), max(ambient + 7.0, 31.0), -1)
        return
    cv2.ellipse(frame, centre, axes, 0, 0, 360, skin_temperature(face.core_c, ambient, physics), -1)
    radius = max(1, int(round(0.08 * (x1 - x0))))
    canthus = canthus_temperature(face.core_c, ambient, physics, face.person_c)
    for px, py in inner_canthi(face.eyes):
        cv2.circle(frame, (int(round(px)), int(round(py))), radius, canthus, -1)


def render(size: tuple[int, int], ambient: float, faces: list[ThermalFace], *, blackbody_c: float | None,
           blackbody_box: tuple[int, int, int, int] | None, offset_c: float, noise_c: float,
           rng: np.random.Generator, physics: ThermalPhysics = IDEAL) -> np.ndarray:
    width, height = size
    frame = np.full((height, width), ambient, dtype=np.float32)
    for face in faces:
        draw_face(frame, face, ambient, physics)
    if blackbody_c is not None and blackbody_box is not None:
        x, y, w, h = blackbody_box
        frame[y:y + h, x:x + w] = blackbody_c
    blurred = np.asarray(cv2.GaussianBlur(frame, (0, 0), OPTICS_BLUR_PX), dtype=np.float32)
    return blurred + rng.normal(0, noise_c, blurred.shape).astype(np.float32) + np.float32(offset_c)
