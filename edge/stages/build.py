"""The pipeline's stages, built from the config in its order."""

from __future__ import annotations

from pathlib import Path

from edge.clock import GateClock
from edge.config import GateConfig
from edge.face.engine import FaceEngine
from edge.hardware import Hardware
from edge.qr.online import OnlineChecker
from edge.qr.verify import build_registry
from edge.stages.base import Stage
from edge.cards import CardBook
from edge.stages.card import CardStage
from edge.stages.face import FaceStage
from edge.stages.qr import QrStage
from edge.stages.thermal import ThermalStage
from edge.store import Store
from edge.thermal_calibration import SiteCalibration


def build_stages(config: GateConfig, engine: FaceEngine | None, hardware: Hardware, store: Store,
                 state_dir: Path, *, clock: GateClock | None = None) -> list[Stage]:
    stages: list[Stage] = []
    for name in config.pipeline.stages:
        if name == "face" and engine is not None:
            stages.append(FaceStage(engine))
        elif name == "thermal":
            calibration = SiteCalibration(store, config.hardware.thermal.recheck)
            stages.append(ThermalStage(config.hardware.thermal, state_dir=state_dir, calibration=calibration))
        elif name == "qr":
            online = None
            if config.qr.online.enabled:
                online = OnlineChecker(config.qr.online, site=config.site.site_id, gate=config.site.gate_id)
            registry = build_registry(config, store, state_dir, clock=(clock or GateClock()).now)
            stages.append(QrStage(registry, scanner=hardware.scanner, online=online))
    if hardware.card_reader is not None and config.checks.card.mode != "off":
        stages.append(CardStage(hardware.card_reader, CardBook(store, state_dir)))  # after the QR stage's codes
    return stages
