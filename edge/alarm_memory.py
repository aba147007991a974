"""One person, one alarm: a feverish or spoofing person who stays at the gate is not alarmed again.

A face track breaks when the person turns, is hidden for a moment or the detector misses a few
frames; each piece is a new visit, decided again. The decision is recorded each time, but the
guard hears one alarm per person until they leave: the same alarm kind is not raised again until
the camera's frames have shown nobody for `leave_after_s` (frames missing altogether, a camera
down, do not count as nobody), unless the new visit's face is another person's (their embeddings
disagree).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

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

    def face_seen(self, now: float) -> None:
        """A frame with a face in it."""
        self._nobody_since = None

    def tick(self, now: float) -> None:
        """A frame without a face: once frames have shown nobody for `leave_after_s`, whoever was alarmed has left.
        (No frames at all, a camera down, say nothing: the person may still be there.)"""
        if self._nobody_since is None:
            self._nobody_since = now
        elif now - self._nobody_since >= self.leave_after_s:
            self._raised.clear()

    def already_raised(self, kind: str, embedding: np.ndarray | None) -> str | None:
        """The event id of the alarm of this kind already raised for this person, if they have not left since."""
        for raised in self._raised:
            if raised.kind == kind and _same_person(raised.embedding, embedding):
                return raised.event_id
        return None

    def raised(self, kind: str, event_id: str, embedding: np.ndarray | None, now: float) -> None:
        self._nobody_since = None
        self._raised.append(_Raised(kind, event_id, None if embedding is None else np.asarray(embedding, np.float32)))


def _same_person(first: np.ndarray | None, second: np.ndarray | None) -> bool:
    if first is None or second is None:
        return True  # nothing tells them apart, and nobody has left in between
    denominator = float(np.linalg.norm(first) * np.linalg.norm(second)) or 1.0
    return float(np.dot(first, second)) / denominator >= SAME_PERSON_AT
