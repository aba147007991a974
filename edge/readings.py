"""What the checks read: one thermal reading of a face, one code's verdict. Below the stages, which fill them in,
and the verifiers and fusion, which make and use them."""

from __future__ import annotations

from dataclasses import dataclass, field

PERSON_SD_C = 0.22  # people's eye corners stand 0.15-0.35 °C apart against a clinical thermometer


@dataclass
class ThermalReading:
    """One thermal frame's reading of the primary face: what the visit's estimate is fused from.

    `uncertainty_c` is this reading's own measured uncertainty (the part that averages out over a
    visit's readings: pixel noise, the canthus window, the reference's residual, blur, halves);
    `systematic_c` is shared by every reading of the visit (how people's eye corners differ, how
    well the site's calibration knows its people) and never shrinks with more readings.
    """

    available: bool
    temperature_c: float | None = None  # estimated core temperature
    uncertainty_c: float | None = None
    live: bool | None = None  # None: not judged
    flags: list[str] = field(default_factory=list)
    reason: str = ""  # why unavailable, or why not live (for people)
    baseline_shift_c: float = 0.0  # the screening-mode shift included in temperature_c
    code: str = ""  # why unavailable, for machines: too_far, blackbody_missing, sensor_frozen, nan, ...
    correlated_c: float = 0.0  # the part of `uncertainty_c` the visit's readings share (blur, reference, halves)
    systematic_c: float = 0.0
    relative_limit_c: float | None = None  # relative screening: recent normal people's average + the deviation
    site_offset_c: float = 0.0  # the offset learned from the guards' rechecks, included in temperature_c
    skin_c: float | None = None  # liveness features: the corrected canthus, and how far it stands above
    gradient_c: float | None = None  # the face's median
    time: float = 0.0  # when the thermal frame was measured (gate clock)
    ambient_c: float | None = None  # the air, as the frame's background shows it
    eye_px: float = 0.0  # thermal pixels between the eyes

    @property
    def trusted_canthus(self) -> bool:
        """A trusted reading of a live face's inner eye corners (not the face maximum): what calibrates."""
        return (self.available and self.live is True and self.temperature_c is not None
                and self.uncertainty_c is not None and "face maximum" not in self.flags)

    @property
    def raw_c(self) -> float | None:
        """The estimate before the screening-mode shift and the site offset: what the baseline learns."""
        if self.temperature_c is None:
            return None
        return self.temperature_c - self.baseline_shift_c - self.site_offset_c


@dataclass
class QrResult:
    """A credential shown at the gate: a code (camera, scanner) or a card (reader, kind `card`)."""

    payload: str  # a card: only its label (last four digits)
    source: str  # camera | scanner | card
    status: str  # valid | invalid | expired | untrusted | unreadable | unsupported (a format recognised, not accepted
    # here); a card: valid (a resident's) | unknown
    reason: str
    kind: str = ""  # pass | dcc | online | unknown | card
    pass_id: str | None = None
    resident_id: int | None = None  # a card's holder
    holder: str | None = None
    group: str | None = None  # the holder's access group
