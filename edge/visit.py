"""One person in front of the gate, from the first good sighting to the decision: what the checks have seen."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

import numpy as np

from edge.events import Decision
from edge.face.matcher import Match
from edge.readings import QrResult, ThermalReading
from edge.thermal_fusion import VisitTemperature


@dataclass
class Visit:
    """One person in front of the gate, from first good sighting to decision."""

    track_id: int | None
    started: float  # gate clock
    started_perf: float  # perf_counter, for latency
    visit_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    match: Match | None = None
    embedding: np.ndarray | None = None  # the face embedding behind `match`, for "not this person"
    thermal: ThermalReading | None = None  # the newest reading: what the screen asks the person to fix
    temperature: VisitTemperature = field(default_factory=VisitTemperature)  # every reading: what the decision goes by
    sharpest: ThermalReading | None = None  # the best canthus reading of the visit, decided or not: the baseline's
    codes: list[QrResult] = field(default_factory=list)
    stage_ms: dict[str, float] = field(default_factory=dict)
    decision: Decision | None = None
    last_seen: float = 0.0

    def __post_init__(self) -> None:
        if self.thermal is not None and not self.temperature.readings:
            self.temperature.add(self.thermal)

    def add_reading(self, reading: ThermalReading) -> None:
        self.thermal = reading
        self.temperature.add(reading)

    def keep_if_sharper(self, reading: ThermalReading) -> None:
        """A trusted canthus reading of a live face as sharp as any before (the nearest, as a rule) is kept."""
        if not reading.trusted_canthus:
            return
        if self.sharpest is None or (reading.uncertainty_c or 0.0) <= (self.sharpest.uncertainty_c or 0.0):
            self.sharpest = reading

    def add_timings(self, timings: dict[str, float]) -> None:
        for stage, ms in timings.items():
            self.stage_ms[stage] = self.stage_ms.get(stage, 0.0) + ms

    @property
    def valid_pass(self) -> QrResult | None:
        """A valid community pass: an access credential, unlike a health certificate."""
        return next((c for c in self.codes if c.status == "valid" and c.kind == "pass"), None)

    @property
    def valid_code(self) -> QrResult | None:
        return next((c for c in self.shown_codes if c.status == "valid"), None)

    @property
    def shown_codes(self) -> list[QrResult]:
        """Codes shown (camera, scanner): what the code check goes by; a card is not one."""
        return [c for c in self.codes if c.kind != "card"]

    @property
    def card(self) -> QrResult | None:
        """The card tapped: the first of a resident's, or else the first tapped."""
        cards = [c for c in self.codes if c.kind == "card"]
        return next((c for c in cards if c.status == "valid"), cards[0] if cards else None)
