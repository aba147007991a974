"""What a stage sees and fills in: one FrameContext per frame."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from drivers.camera import Frame
from drivers.thermal import ThermalFrame
from edge.face.engine import FaceResult


@dataclass
class ThermalReading:
    available: bool
    temperature_c: float | None = None  # estimated core temperature
    uncertainty_c: float | None = None
    live: bool | None = None  # None: not judged
    flags: list[str] = field(default_factory=list)
    reason: str = ""  # why unavailable, or why not live
    baseline_shift_c: float = 0.0  # the screening-mode shift included in temperature_c

    @property
    def trusted_canthus(self) -> bool:
        """A trusted reading of a live face's inner eye corners (not the face maximum): what calibrates."""
        return (self.available and self.live is True and self.temperature_c is not None
                and self.uncertainty_c is not None and "face maximum" not in self.flags)


@dataclass
class QrResult:
    payload: str
    source: str  # camera | scanner
    status: str  # valid | invalid | expired | untrusted | unreadable | unsupported (a format recognised, not accepted here)
    reason: str
    kind: str = ""  # pass | dcc | online | unknown
    pass_id: str | None = None


@dataclass
class FrameContext:
    frame: Frame
    now: float
    thermal_frame: ThermalFrame | None = None
    face: FaceResult | None = None
    thermal: ThermalReading | None = None
    codes: list[QrResult] = field(default_factory=list)
    stage_ms: dict[str, float] = field(default_factory=dict)


class Stage(Protocol):
    name: str

    def process(self, context: FrameContext) -> None:
        """Fill this stage's part of `context`; never raise for bad input, never block."""
