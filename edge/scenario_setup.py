"""A scenario's world made ready for the gate: its settings over the config, its residents enrolled, and the
simulator told where our own detector finds faces in its photos."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from drivers.sim.scenario import Scenario
from drivers.sim.portrait import FaceLocation
from edge.config import GateConfig, parse_config
from edge.face.engine import FaceEngine
from edge.face.gallery import FaceGallery
from edge.face.photos import enrol_photos
from edge.store import Store

log = logging.getLogger(__name__)


def face_locator(engine: FaceEngine) -> Callable[[np.ndarray], FaceLocation | None]:
    """The simulator places thermal faces where our own detector finds them in the photo."""

    def locate(image: np.ndarray) -> FaceLocation | None:
        scale = min(1.0, 1280 / max(image.shape[:2]))
        small = cv2.resize(image, None, fx=scale, fy=scale) if scale < 1 else image
        detections = engine.detector.detect(small)
        if not detections:
            return None
        best = max(detections, key=lambda d: d.eye_distance)
        x1, y1, x2, y2 = (best.box / scale).tolist()
        return (x1, y1, x2 - x1, y2 - y1), best.landmarks / scale

    return locate


def _merge(base: dict, override: dict) -> dict:
    merged = dict(base)
    for key, value in override.items():
        merged[key] = _merge(base[key], value) if isinstance(value, dict) and isinstance(base.get(key), dict) else value
    return merged


def scenario_config(config: GateConfig, scenario: Scenario) -> GateConfig:
    """The config with the scenario's own settings over it (its trust list path taken from its folder)."""
    if not scenario.spec.config:
        return config
    merged = parse_config(_merge(config.model_dump(mode="json"), scenario.spec.config),
                          source=f"scenario {scenario.spec.name!r} config")
    trust_list = merged.qr.dcc.trust_list
    if trust_list and not Path(trust_list).is_absolute():
        merged.qr.dcc.trust_list = str(scenario.base_dir / trust_list)
    return merged


def prepare_scenario(engine: FaceEngine | None, gallery: FaceGallery | None, store: Store, scenario: Scenario) -> None:
    """The scenario's residents enrolled and its revoked passes revoked, as a site would have them."""
    for pass_id in scenario.spec.revoked_passes:
        store.revoke_pass(pass_id)
    if engine is None or gallery is None:
        return
    for resident in scenario.spec.residents:
        if store.find_residents(resident.name):
            continue
        photos = [scenario.photo_path(p) for p in resident.photos]
        enrol_photos(engine, gallery, resident.name, resident.unit, photos)
        log.info("enrolled scenario resident %s", resident.name)
