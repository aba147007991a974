"""What the person at the gate is told to do: one machine code per moment, words from the catalogue.

The prompt follows the visit as the gate sees it, frame by frame: nobody there, a face too far
or hidden, waiting for a trusted temperature reading, a code to show (and where), then the
decision in words a visitor understands with what to do next. It carries no name and no
figure: people behind in the queue can read the screen too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from edge.config import CheckMode
from edge.decision import Policy, Visit

if TYPE_CHECKING:
    from edge.face.engine import SeenFace

RESULT_HOLD_S = 3.0  # a decision stays on the screen at least this long after the person has gone
MASK_GRACE_S = 1.0  # a masked face not recognised by then (masks allowed) is asked to lower the mask

PROMPT_CODES = ("idle", "step_closer", "step_back", "hold_still", "look_at_camera", "face_hidden", "recognising",
                "measuring_temperature", "show_code", "welcome", "refused_fever", "refused_spoof",
                "refused_unknown", "refused_code", "refused_temperature", "see_guard", "out_of_service",
                "turn_slightly", "lower_mask", "wear_mask", "refused_mask", "show_card", "refused_hours",
                "refused_passback")

QUALITY_PROMPTS = {"too_small": "step_closer", "uncertain_detection": "face_hidden", "turned_away": "look_at_camera",
                   "blurred": "hold_still"}


@dataclass(frozen=True)
class Prompt:
    code: str
    since: float  # gate clock
    guide: bool = False  # show where to hold a code


def refusal_prompt(reason_codes: list[str]) -> str:
    first = reason_codes[0] if reason_codes else ""
    if first == "fever":
        return "refused_fever"
    if first == "spoof":
        return "refused_spoof"
    if first in ("unknown_face", "face_not_recognised"):
        return "refused_unknown"
    if first in ("face_masked", "mask_required"):
        return "refused_mask"
    if first in ("outside_hours", "group_not_admitted"):
        return "refused_hours"
    if first == "passback":
        return "refused_passback"
    if first.startswith("code_") or first == "no_code":
        return "refused_code"
    if first.startswith("temperature_"):
        return "refused_temperature"
    return "see_guard"


def quality_prompt(face: SeenFace | None, mask_rule: str = "allow") -> str | None:
    """What to fix about a face the gate cannot use, if anything. A masked face the detector is unsure of is
    not asked to take the mask off where masks are allowed: the mask is why, and the person cannot fix it."""
    if face is None or not face.quality.codes:
        return None
    code = QUALITY_PROMPTS.get(face.quality.codes[0], "look_at_camera")
    if code == "face_hidden" and face.masked:
        return "lower_mask" if mask_rule == "ask_to_lower" else "look_at_camera"
    return code


def mask_prompt(visit: Visit, policy: Policy, face: SeenFace | None, now: float) -> str | None:
    """What checks.face.mask asks of the person in front: lower the mask, put one on, or nothing."""
    if face is None:
        return None
    rule = policy.checks.face.mask
    if rule == "require" and not face.masked:
        return "wear_mask"
    if face.masked and rule == "ask_to_lower":
        return "lower_mask"
    if face.masked and rule == "allow" and not (visit.match is not None and visit.match.known) \
            and now - visit.started >= MASK_GRACE_S:
        return "lower_mask"  # not recognised behind the mask: a face without it is, as a rule
    return None


def pending_prompt(visit: Visit, policy: Policy, face: SeenFace | None, now: float) -> str:
    fix = quality_prompt(face, policy.checks.face.mask) or mask_prompt(visit, policy, face, now)
    if fix is not None:
        return fix
    outcomes = policy.outcomes(visit)
    temperature = outcomes.get("temperature")
    if temperature is not None and temperature.status != "pass" and policy.mode_of("temperature") is CheckMode.required:
        flags = visit.thermal.flags if visit.thermal is not None else []
        if "too far" in flags or "too small" in flags:
            return "step_closer"
        if "too close" in flags:
            return "step_back"
        return "measuring_temperature"
    face_outcome = outcomes.get("face")
    if face_outcome is not None and face_outcome.code == "face_needs_card":
        return "show_card"
    if face_outcome is not None and face_outcome.code == "face_needs_code":
        return "show_code"
    qr = outcomes.get("qr")
    if face_outcome is not None and face_outcome.status == "fail" and qr is not None:
        return "show_code"  # not recognised: a visitor pass may still admit them
    if qr is not None and qr.status != "pass" and policy.mode_of("qr") is CheckMode.required:
        return "show_code"
    return "recognising"


def prompt_for(*, now: float, face: SeenFace | None, visit: Visit | None, decided: tuple[Visit, float] | None,
               policy: Policy, out_of_service: bool) -> str:
    """`decided`: the latest decided visit and when it was decided."""
    if out_of_service:
        return "out_of_service"
    if visit is not None and visit.decision is None:
        return pending_prompt(visit, policy, face, now)
    if decided is not None and (visit is decided[0] or now - decided[1] < RESULT_HOLD_S):
        decision = decided[0].decision
        if decision is not None:
            return "welcome" if decision.granted else refusal_prompt(decision.reason_codes)
    if face is not None:
        return quality_prompt(face, policy.checks.face.mask) or "recognising"
    return "idle"
