"""What a stage sees and fills in: one FrameContext per frame."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from drivers.camera import Frame
from drivers.thermal import ThermalFrame
from edge.face.engine import FaceResult
from edge.readings import QrResult, ThermalReading


@dataclass
class FrameContext:
    frame: Frame
    now: float
    thermal_frame: ThermalFrame | None = None
    face: FaceResult | None = None
    thermal: ThermalReading | None = None
    codes: list[QrResult] = field(default_factory=list)
    stage_ms: dict[str, float] = field(default_factory=dict)
    quiet: bool = False  # nobody near (edge/presence.py): stages with `rests_when_quiet` skip the frame, the QR
    # stage its camera search


class Stage(Protocol):
    name: str

    def process(self, context: FrameContext) -> None:
        """Fill this stage's part of `context`; never raise for bad input, never block."""
