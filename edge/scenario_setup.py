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
    booth_key = merged.qr.passes.booth_key
    if booth_key and not Path(booth_key).is_absolute():
        merged.qr.passes.booth_key = str(scenario.base_dir / booth_key)
    return merged


def prepare_scenario(engine: FaceEngine | None, gallery: FaceGallery | None, store: Store, scenario: Scenario, *,
                     state_dir: Path | None = None, config: GateConfig | None = None) -> None:
    """The scenario's residents enrolled (with their group and cards), its revoked passes revoked and its booth
    visitors' passes issued, as a site would have them."""
    for pass_id in scenario.spec.revoked_passes:
        store.revoke_pass(pass_id)
    if config is not None:
        _issue_booth_passes(scenario, store, config)
    if engine is None or gallery is None:
        return
    for resident in scenario.spec.residents:
        if store.find_residents(resident.name):
            continue
        photos = [scenario.photo_path(p) for p in resident.photos]
        resident_id, _ = enrol_photos(engine, gallery, resident.name, resident.unit, photos)
        if resident.group is not None:
            store.set_access_group(resident_id, resident.group)
        if resident.cards and state_dir is not None:
            from edge.cards import CardBook

            book = CardBook(store, state_dir)
            for number in resident.cards:
                book.enrol(number, resident_id)
        log.info("enrolled scenario resident %s", resident.name)


def _issue_booth_passes(scenario: Scenario, store: Store, config: GateConfig) -> None:
    from edge.visitors import VisitorBook

    booth = VisitorBook(lambda: config, store)
    for visitor in scenario.spec.visitors:
        if visitor.qr is not None and visitor.qr.booth is not None:
            spec = visitor.qr.booth
            visitor.qr.payload = booth.register(name=spec.name, host_unit=spec.host_unit, hours=spec.hours).token
            log.info("booth pass issued for scenario visitor %s", spec.name)


def scenario_wall(scenario: Scenario, timezone: str, now: Callable[[], float]) -> Callable[[], float] | None:
    """Unix time as the scenario's clock has it (its local start plus the simulated seconds), or None (real time)."""
    if scenario.spec.clock is None:
        return None
    import datetime

    from edge.schedule import zone

    start = datetime.datetime.fromisoformat(scenario.spec.clock)
    if start.tzinfo is None:
        start = start.replace(tzinfo=zone(timezone))
    epoch = start.timestamp()
    return lambda: epoch + now()
