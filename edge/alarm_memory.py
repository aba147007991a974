"""One person, one alarm: a feverish or spoofing person who stays at the gate is not alarmed again.

A face track breaks when the person turns, is hidden for a moment or the detector misses a few
frames; each piece is a new visit, decided again. The decision is recorded each time, but the
guard hears one alarm per person until they leave: the same alarm kind is not raised again until
the camera's frames have shown nobody for `leave_after_s` (frames missing altogether, a camera
down, do not count as nobody), or another person's visit was decided (in a busy queue the camera
always sees a face, and the person alarmed has left the front all the same), unless the new visit's
face is another person's (their embeddings disagree).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from edge.config import CheckMode
from edge.events import AlarmKind, Decision, Event, EventKind

if TYPE_CHECKING:
    from edge.decision import Visit

log = logging.getLogger(__name__)

SAME_PERSON_AT = 0.5  # cosine of two embeddings of one person at one gate, well above different people's


@dataclass
class _Raised:
    kind: str
    event_id: str
    embedding: np.ndarray | None


class AlarmMemory:
    def __init__(self, *, leave_after_s: float) -> None:
        self.leave_after_s = leave_after_s
        self._raised: list[_Raised] = []
        self._nobody_since: float | None = None

    def face_seen(self) -> None:
        """A frame with a face in it."""
        self._nobody_since = None

    def tick(self, now: float) -> None:
        """A frame without a face: once frames have shown nobody for `leave_after_s`, whoever was alarmed has left.
        (No frames at all, a camera down, say nothing: the person may still be there.)"""
        if self._nobody_since is None:
            self._nobody_since = now
        elif now - self._nobody_since >= self.leave_after_s:
            self._raised.clear()

    def front_taken(self, embedding: np.ndarray | None) -> None:
        """A visit of this face was decided: whoever else was alarmed has left the front (one person at a time), even
        if the queue never left the camera a moment without a face."""
        if embedding is not None:
            self._raised = [raised for raised in self._raised if _same_person(raised.embedding, embedding)]

    def already_raised(self, kind: str, embedding: np.ndarray | None) -> str | None:
        """The event id of the alarm of this kind already raised for this person, if they have not left since."""
        for raised in self._raised:
            if raised.kind == kind and _same_person(raised.embedding, embedding):
                return raised.event_id
        return None

    def raised(self, kind: str, event_id: str, embedding: np.ndarray | None) -> None:
        self._nobody_since = None
        kept = None if embedding is None else np.asarray(embedding, np.float32)  # pragma: no mutate (small; the same cosine)
        self._raised.append(_Raised(kind, event_id, kept))


class VisitAlarms:
    """The guard's alarms for decided visits, one per person: recorded through the gate's own `record`."""

    def __init__(self, record: Callable[[EventKind, dict[str, Any]], Event | None], *, leave_after_s: float) -> None:
        self._record = record
        self.memory = AlarmMemory(leave_after_s=leave_after_s)

    def face_seen(self) -> None:
        self.memory.face_seen()

    def tick(self, now: float) -> None:
        self.memory.tick(now)

    def decided(self, visit: Visit, decision: Decision) -> None:
        """The guard's alarm for a fever, a spoof, a visit without a reading or a passback: once per person until
        they leave."""
        embedding = visit.embedding
        self.memory.front_taken(embedding)
        for body in (self._temperature_alarm(decision), self._passback_alarm(decision)):
            if body is None:
                continue
            kind = body["alarm"]
            earlier = self.memory.already_raised(kind, embedding)
            if earlier is not None:
                log.info("%s alarm for visit %s not raised again: the same person (alarm %s)", kind,
                         visit.visit_id, earlier)
                continue
            event = self._record(EventKind.alarm, {**body, "visit_id": visit.visit_id})
            if event is not None:
                self.memory.raised(kind, event.event_id, embedding)

    @staticmethod
    def _temperature_alarm(decision: Decision) -> dict[str, Any] | None:
        outcome = decision.checks.get("temperature")
        if outcome is None or outcome["status"] != "fail":
            return None  # alarms follow the machine codes, never the words
        kind = {"fever": AlarmKind.fever, "spoof": AlarmKind.spoof, "temperature_no_reading": AlarmKind.no_reading,
                "temperature_uncertain": AlarmKind.no_reading}.get(outcome["code"])
        if kind is None or (kind is AlarmKind.no_reading and outcome["mode"] != CheckMode.required.value):
            return None
        body: dict[str, Any] = {"alarm": kind.value, "detail": outcome["reason"]}
        if kind is AlarmKind.fever:
            body.update(temperature_c=decision.temperature_c, detail=outcome["reason"] + "; recheck with a clinical "
                                                                                         "thermometer")
        elif kind is AlarmKind.no_reading:
            body.update(why=outcome["params"].get("why", outcome["code"]), detail=outcome["reason"] +
                        "; measure with a clinical thermometer")
        return body

    @staticmethod
    def _passback_alarm(decision: Decision) -> dict[str, Any] | None:
        """Soft anti-passback lets them through with this alarm; hard refuses them with it."""
        outcome = decision.checks.get("antipassback")
        if outcome is None or outcome["code"] != "passback":
            return None
        return {"alarm": AlarmKind.passback.value, "detail": outcome["reason"], "granted": decision.granted,
                "name": decision.resident_name or "", "resident_id": decision.resident_id, "pass_id": decision.pass_id,
                **outcome["params"]}


def _same_person(first: np.ndarray | None, second: np.ndarray | None) -> bool:
    if first is None or second is None:
        return True  # nothing tells them apart, and nobody has left in between
    # a zero vector is nobody's face: any divisor but 0 makes it another person's
    denominator = float(np.linalg.norm(first) * np.linalg.norm(second)) or 1.0  # pragma: no mutate
    return float(np.dot(first, second)) / denominator >= SAME_PERSON_AT
