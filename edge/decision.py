"""The decision engine: a visit collects stage results; the policy grants, denies or waits.

Each check has a mode: `required` (a failure denies), `advisory` (recorded, never denies) or
`off`. A visit is granted as soon as every required check has passed, denied at once on a
fever or a presentation attack, and denied when its window ends with a required check still
failing or missing. The gate never opens without a decision that says why.

Temperature is judged on the visit's combined estimate (edge/thermal_fusion.py), never on one
reading: normal as soon as the estimate is clearly below the limit, a fever only on at least
`fever_readings` trusted readings clearly above it (the absolute threshold, or the relative rule
of screening mode), and when the window ends, by the estimate as it stands. A visit that never
had a trusted reading ends as "no reading" with the cause, never as normal.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from edge.config import CheckMode, ChecksConfig
from edge.config.checks import AccessGroupConfig
from edge.events import Decision, DecisionSource
from edge.face.matcher import Match
from edge.schedule import judge
from edge.thermal_fusion import TemperatureEstimate
from edge.visit import Visit

__all__ = ["OUTCOME_CODES", "Outcome", "Policy", "Visit", "who"]

if TYPE_CHECKING:
    from edge.store import Movement
    from edge.thermal_profiles import PersonalOffset

Person = tuple[str, object]  # ("resident", resident id) or ("pass", pass id)
VERIFICATION_MODES = {"face": "face_only", "card": "card_only", "card_or_face": "or_face", "card_and_face": "and_face",
                      "face_and_code": "face_and_code"}
PASSBACK_MODES = {"off": CheckMode.off, "soft": CheckMode.advisory, "hard": CheckMode.required}


@dataclass
class Outcome:
    status: str  # pass | fail | pending
    reason: str  # for people
    code: str = ""  # for machines (stats, alarms, the screens' words from the message catalogue)
    params: dict = field(default_factory=dict)  # what the words need: a name, a temperature, a threshold


# every code an outcome can carry; the message catalogue has words for each (tests/edge/test_messages.py)
OUTCOME_CODES = ("resident", "visitor_pass", "face_not_recognised", "unknown_face", "face_masked", "mask_required",
                 "card", "card_and_face", "card_unknown", "card_needs_face", "face_needs_card", "card_face_mismatch",
                 "face_needs_code",
                 "outside_hours", "group_not_admitted", "passback", "passback_clear", "hours_not_held",
                 "hours_always", "within_hours", "temperature_unavailable", "spoof", "fever", "temperature_uncertain",
                 "temperature_normal", "temperature_no_reading", "code_valid", "no_code", "no_required_check",
                 *(f"code_{status}" for status in ("invalid", "expired", "untrusted", "unreadable", "unsupported")))


class Policy:
    def __init__(self, checks: ChecksConfig, *, window_s: float,
                 personal: Callable[[int], PersonalOffset | None] | None = None,
                 passback: Callable[[Person | None], Movement | None] | None = None,
                 wall: Callable[[], float] = time.time,
                 groups: Callable[[str], AccessGroupConfig | None] | None = None) -> None:
        """`personal`: a recognised resident's own offset (edge/thermal_profiles.py), taken off their estimate;
        `passback`: the movement that holds a person back at this gate (edge/passback.py), if any;
        `wall`: Unix time, what access groups' hours are judged by (the gate's own clock may be a simulation's);
        `groups`: an access group's rules at this gate (edge/access_groups.py: the site's over the config's)."""
        self.checks = checks
        self.window_s = window_s
        self.personal = personal
        self.passback = passback
        self.wall = wall
        self.groups = groups

    def reconfigured(self, checks: ChecksConfig, *, window_s: float) -> Policy:
        """The same policy under changed settings."""
        return Policy(checks, window_s=window_s, personal=self.personal, passback=self.passback, wall=self.wall,
                      groups=self.groups)

    def group_rules(self, name: str) -> AccessGroupConfig | None:
        """The group's hours and verification mode here; None: not admitted at this gate."""
        return self.groups(name) if self.groups is not None else self.checks.schedule.groups.get(name)

    def outcomes(self, visit: Visit, *, final: bool = False) -> dict[str, Outcome]:
        """Each check's outcome; `final`: the window has ended, so what is still open is decided as it stands."""
        result: dict[str, Outcome] = {}
        if self.checks.face.mode is not CheckMode.off:
            result["face"] = self._face(visit)
        if self.checks.temperature.mode is not CheckMode.off:
            result["temperature"] = self._temperature(visit, final=final)
        if self.checks.qr.mode is not CheckMode.off:
            result["qr"] = self._qr(visit)
        if self.checks.schedule.mode is not CheckMode.off:
            result["schedule"] = self._schedule(visit)
        if self.checks.antipassback.mode != "off":
            result["antipassback"] = self._passback(visit)
        return result

    def _passback(self, visit: Visit) -> Outcome:
        """Someone known who already went this way (at any gate of the site) and has not come back."""
        held = self.passback(who(visit)) if self.passback is not None else None
        if held is None:
            return Outcome("pass", "no earlier movement this way", "passback_clear")
        return Outcome("fail", f"already went {held.direction} at {held.gate}", "passback",
                       {"direction": held.direction, "gate": held.gate, "since": round(held.time, 3)})

    def _face(self, visit: Visit) -> Outcome:
        mask_rule = self._mask_rule(visit.match)
        if mask_rule is not None:
            return mask_rule
        card_rule = self._card_rule(visit)
        if card_rule is not None:
            return card_rule
        if visit.match is not None and visit.match.known:
            return Outcome("pass", f"resident {visit.match.name} ({visit.match.similarity:.2f})", "resident",
                           {"name": visit.match.name, "similarity": round(visit.match.similarity, 3),
                            **({"masked": True} if visit.match.masked else {})})
        substitute = visit.valid_pass if self.checks.qr.pass_substitutes_face else None
        if substitute is not None:
            return Outcome("pass", f"visitor pass {substitute.pass_id or ''}".strip(), "visitor_pass",
                           {"pass_id": substitute.pass_id or ""})
        if visit.match is None:
            return Outcome("pending", "face not recognised yet", "face_not_recognised")
        return Outcome("fail", f"unknown face ({visit.match.reason})", "unknown_face", {"why": visit.match.reason})

    def _schedule(self, visit: Visit) -> Outcome:
        """A known resident (face or card), or a pass, in an access group passes within the group's hours at this
        gate; in no group, always; anyone else is for the other checks to judge."""
        settings = self.checks.schedule
        match, card = visit.match, visit.card
        if match is not None and match.known:
            group = match.group
        elif card is not None and card.status == "valid":
            group = card.group
        elif visit.valid_pass is not None:
            group = visit.valid_pass.group
        else:
            return Outcome("pass", "no resident to hold to hours", "hours_not_held")
        if group is None:
            return Outcome("pass", "in no access group: always", "hours_always")
        hours = self.group_rules(group)
        if hours is None:
            return Outcome("fail", f"group {group} is not admitted at this gate", "group_not_admitted",
                           {"group": group})
        verdict = judge({str(day): spans for day, spans in hours.weekly.items()}, hours.holidays, settings.timezone,
                        self.wall())
        if verdict.allowed:
            return Outcome("pass", f"group {group}: {verdict.why}", "within_hours", {"group": group})
        return Outcome("fail", f"group {group}: {verdict.why.replace('_', ' ')}", "outside_hours",
                       {"group": group, "why": verdict.why})

    def _verification(self, visit: Visit) -> str:
        """How this person must prove who they are: their access group's verification mode, else checks.card.mode."""
        match, card = visit.match, visit.card
        group = match.group if match is not None and match.known else \
            card.group if card is not None and card.status == "valid" else None
        settings = self.group_rules(group) if group is not None else None
        if settings is None or settings.verification is None:
            return self.checks.card.mode
        return VERIFICATION_MODES[settings.verification]

    def _card_rule(self, visit: Visit) -> Outcome | None:
        """What checks.card.mode (or the person's group) says: a resident's card instead of the face (or_face), with
        it (and_face), the face alone (face_only) or the card alone (card_only)."""
        mode, card = self._verification(visit), visit.card
        face_of = visit.match.resident_id if visit.match is not None and visit.match.known else None
        face_known = face_of is not None
        if mode == "face_and_code" and face_known and visit.valid_code is None:
            return Outcome("pending", "face recognised: now the code", "face_needs_code")
        if mode in ("face_only", "face_and_code"):
            if face_known or card is None or card.status != "valid":
                return None
            return Outcome("pending", "card read: now the face", "card_needs_face", {"card": card.payload})
        if mode == "card_only" and card is None:
            return Outcome("pending", "face recognised: now the card", "face_needs_card") if face_known else None
        if mode == "card_only" and card is not None and card.status == "valid" and face_of in (None, card.resident_id):
            return Outcome("pass", f"card of {card.holder} ({card.payload})", "card",
                           {"name": card.holder, "card": card.payload})
        if mode == "off" or (card is None and mode == "or_face"):
            return None
        if card is None:  # and_face: a face alone is not enough
            return Outcome("pending", "face recognised: now the card", "face_needs_card") if face_known else None
        if card.status != "valid":
            return None if face_known and mode == "or_face" else \
                Outcome("fail", f"card {card.payload} is not enrolled", "card_unknown", {"card": card.payload})
        if mode == "or_face" and face_of in (None, card.resident_id):
            return Outcome("pass", f"card of {card.holder} ({card.payload})", "card",
                           {"name": card.holder, "card": card.payload})
        if not face_known:
            return Outcome("pending", "card read: now the face", "card_needs_face", {"card": card.payload})
        if face_of != card.resident_id:
            return Outcome("fail", f"card of {card.holder} shown by another face", "card_face_mismatch",
                           {"card": card.payload})
        return Outcome("pass", f"card and face of {card.holder}", "card_and_face", {"name": card.holder,
                                                                                   "card": card.payload})

    def _mask_rule(self, match: Match | None) -> Outcome | None:
        """What checks.face.mask says of the face seen: asked to lower it, asked to wear one, or nothing."""
        rule = self.checks.face.mask
        if match is not None and match.masked and rule == "ask_to_lower":
            return Outcome("pending", "face masked: asked to lower the mask", "face_masked")
        if match is not None and not match.masked and rule == "require":
            return Outcome("pending", "no mask: one is required here", "mask_required")
        return None

    def _temperature(self, visit: Visit, *, final: bool = False) -> Outcome:
        readings = visit.temperature
        if readings.liveness() is False or (final and readings.liveness() is None and
                                            any(r.live is False for r in readings.readings)):
            return Outcome("fail", "spoof: no live skin-temperature pattern", "spoof")
        estimate = self._personal(visit, readings.estimate())
        if estimate is None:
            return self._no_estimate(visit, final=final)
        verdict = self._judge(estimate, final=final)
        if verdict == "fever":
            if self._face_pending(visit, final=final):  # a resident's own offset may yet apply
                return Outcome("pending", "temperature elevated: waiting for the face", "temperature_unavailable",
                               {"why": "face_pending"})
            return self._fever(estimate)
        fault = readings.fault()
        if fault is not None and verdict != "normal":  # the sensor or its reference failed before it was settled
            why, reason = fault
            if final:
                return Outcome("fail", f"no temperature reading ({why})", "temperature_no_reading", {"why": why})
            return Outcome("pending", f"temperature unavailable: {reason}", "temperature_unavailable", {"why": why})
        if verdict == "normal" and readings.liveness() is True:
            return Outcome("pass", f"{estimate.temperature_c:.1f} °C", "temperature_normal",
                           {"temperature_c": round(estimate.temperature_c, 1)})
        params = {"temperature_c": round(estimate.temperature_c, 2), "uncertainty_c": round(estimate.uncertainty_c, 2)}
        reason = f"temperature uncertain ({params['temperature_c']} ± {params['uncertainty_c']} °C)"
        return Outcome("fail" if final else "pending", reason, "temperature_uncertain", params)

    def _personal(self, visit: Visit, estimate: TemperatureEstimate | None) -> TemperatureEstimate | None:
        match = visit.match
        if estimate is None or self.personal is None or match is None or match.resident_id is None:
            return estimate
        offset = self.personal(match.resident_id)
        return offset.apply(estimate) if offset is not None else estimate

    def _face_pending(self, visit: Visit, *, final: bool) -> bool:
        """A fever waits for the face while it may still be a resident's with an offset of their own."""
        return (self.personal is not None and not final and self.checks.face.mode is not CheckMode.off
                and visit.match is None)

    def _judge(self, estimate: TemperatureEstimate, *, final: bool) -> str:
        """fever, normal or open: clearly above or below the limits, or (window ended) as the estimate stands."""
        settings = self.checks.temperature
        excess = max(estimate.temperature_c - settings.threshold_c,
                     estimate.raw_c - estimate.relative_limit_c if estimate.relative_limit_c is not None else -math.inf)
        if final:  # nothing more to wait for: above is a fever on two readings; normal only a standard uncertainty below
            if excess > 0.0:
                return "fever" if estimate.readings >= min(2, settings.fever_readings) else "open"
            return "normal" if excess + estimate.uncertainty_c <= 0.0 else "open"
        margin = settings.confidence_z * estimate.uncertainty_c
        if excess - margin > 0.0:
            return "fever" if estimate.readings >= settings.fever_readings else "open"
        if excess + margin <= 0.0:
            return "normal"
        return "open"

    def _fever(self, estimate: TemperatureEstimate) -> Outcome:
        threshold = self.checks.temperature.threshold_c
        relative = estimate.relative_limit_c is not None and estimate.raw_c > estimate.relative_limit_c and \
            estimate.temperature_c <= threshold
        params: dict[str, float | str] = {"temperature_c": round(estimate.temperature_c, 1), "threshold_c": threshold}
        if relative:
            params["rule"] = "relative"
            return Outcome("fail", f"fever {estimate.temperature_c:.1f} °C (above recent visitors by more than the "
                                   "allowed deviation)", "fever", params)
        return Outcome("fail", f"fever {estimate.temperature_c:.1f} °C (threshold {threshold:.1f} °C)", "fever", params)

    def _no_estimate(self, visit: Visit, *, final: bool) -> Outcome:
        """No trusted canthus reading: a face maximum may still show a fever; otherwise wait, or (final) no reading."""
        readings = visit.temperature
        far = readings.estimate("face maximum")
        if far is not None and self._judge(far, final=False) == "fever":
            return self._fever(far)
        if final:
            why = readings.why_none()
            return Outcome("fail", f"no temperature reading ({why})", "temperature_no_reading", {"why": why})
        newest = readings.newest
        if newest is None:
            return Outcome("pending", "no temperature reading yet", "temperature_unavailable")
        return Outcome("pending", f"temperature unavailable: {newest.reason or 'not yet trusted'}",
                       "temperature_unavailable", {"why": newest.code or newest.reason or "not_trusted"})

    def _qr(self, visit: Visit) -> Outcome:
        if visit.valid_code is not None:
            return Outcome("pass", f"code valid ({visit.valid_code.reason})", "code_valid",
                           {"why": visit.valid_code.reason})
        if visit.shown_codes:
            last = visit.shown_codes[-1]
            return Outcome("fail", f"code {last.status}: {last.reason}", f"code_{last.status}", {"why": last.reason})
        return Outcome("pending", "no code shown", "no_code")

    def mode_of(self, check: str) -> CheckMode:
        if check == "antipassback":
            return PASSBACK_MODES[self.checks.antipassback.mode]
        return getattr(self.checks, check).mode

    def evaluate(self, visit: Visit, now: float) -> Decision | None:
        """A decision, or None to keep waiting for more results."""
        final = now - visit.started >= self.window_s
        outcomes = self.outcomes(visit, final=final)
        required = {name: o for name, o in outcomes.items() if self.mode_of(name) is CheckMode.required}
        hard_fail = [o for name, o in required.items() if o.status == "fail" and
                     name in ("temperature", "schedule", "antipassback")]
        if hard_fail and not final:  # fever, spoof, hours, passback: at once (at the window's end each failing named)
            return self._denial(visit, hard_fail, outcomes)
        if required and all(o.status == "pass" for o in required.values()):
            advisory = [f"advisory {name}: {o.reason}" for name, o in outcomes.items()
                        if name not in required and o.status == "fail"]
            return self._decision(visit, True, [o.reason for o in required.values()] + advisory, [], outcomes)
        if final:
            failing = [o for o in required.values() if o.status != "pass"]
            if not failing:
                return self._decision(visit, False, ["no required check configured"], ["no_required_check"], outcomes)
            return self._denial(visit, failing, outcomes)
        return None

    def _denial(self, visit: Visit, why: list[Outcome], outcomes: dict[str, Outcome]) -> Decision:
        return self._decision(visit, False, [o.reason for o in why], [o.code for o in why if o.code], outcomes)

    def _decision(self, visit: Visit, granted: bool, reasons: list[str], codes: list[str],
                  outcomes: dict[str, Outcome]) -> Decision:
        match = visit.match if visit.match is not None and visit.match.known else None  # pragma: no mutate
        card = visit.card if visit.card is not None and visit.card.status == "valid" else None
        if match is None and card is not None and card.resident_id is not None and granted:  # let in by the card
            match = Match(card.resident_id, card.holder, 1.0, -1.0, "card")
        valid_pass = visit.valid_pass
        estimate = self._personal(visit, visit.temperature.estimate())
        return Decision(
            granted=granted, source=DecisionSource.pipeline, reasons=reasons, reason_codes=codes,
            visit_id=visit.visit_id,
            resident_id=match.resident_id if match else None, resident_name=match.name if match else None,
            resident_unit=match.unit if match else None,
            pass_id=valid_pass.pass_id if valid_pass else None,
            temperature_c=round(estimate.temperature_c, 2) if estimate is not None else None,
            temperature={**estimate.as_dict(), "samples": visit.temperature.samples()} if estimate is not None else None,
            stage_ms=dict(visit.stage_ms), latency_ms=(time.perf_counter() - visit.started_perf) * 1000.0,
            checks={name: {"status": o.status, "reason": o.reason, "mode": self.mode_of(name).value, "code": o.code,
                           "params": o.params} for name, o in outcomes.items()})


def who(visit: Visit) -> Person | None:
    """Who the visit is of, as far as anyone is known: a resident (face or card), else a visitor's pass."""
    if visit.match is not None and visit.match.known:
        return ("resident", visit.match.resident_id)
    card = visit.card
    if card is not None and card.status == "valid" and card.resident_id is not None:
        return ("resident", card.resident_id)
    valid_pass = visit.valid_pass
    return ("pass", valid_pass.pass_id) if valid_pass is not None and valid_pass.pass_id else None
