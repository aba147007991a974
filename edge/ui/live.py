"""What the touchscreen shows besides events: the newest frame with its overlay, and the faces the
gate recently recognised (so a guard can say "not this person"). Fed by the gate's listeners on the
frame loop, read by the web thread; the gate itself keeps none of it."""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

import numpy as np

from edge.decision import Visit
from edge.events import Decision
from edge.stages.base import FrameContext

RECENT_MATCHES = 50


class LiveView:
    """The newest frame and what was seen in it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.image: np.ndarray | None = None
        self.overlay: dict[str, Any] = {"faces": []}
        self.version = 0
        self.guide = False  # the resident is asked to show a code: the live view shows where

    def show_guide(self, shown: bool) -> None:
        self.guide = shown

    def update(self, image: np.ndarray, context: FrameContext, visit: Visit | None) -> None:
        faces = []
        if context.face is not None:
            for face in context.face.faces:
                match = face.match
                faces.append({"box": [round(v, 1) for v in face.box], "primary": face.primary,
                              "name": match.name if match is not None and match.known else None,
                              "known": bool(match is not None and match.known)})
        temperature = context.thermal.temperature_c if context.thermal and context.thermal.available else None
        overlay = {"faces": faces, "temperature_c": temperature, "codes": [c.status for c in context.codes],
                   "visit": visit.visit_id if visit else None, "size": [image.shape[1], image.shape[0]],
                   "guide": self.guide}
        with self._lock:
            self.image, self.overlay = image, overlay
            self.version += 1

    def snapshot(self) -> tuple[np.ndarray | None, dict[str, Any], int]:
        with self._lock:
            return self.image, self.overlay, self.version


class RecentMatches:
    """visit id -> (resident id, the face's template) for the latest recognised visits."""

    def __init__(self, keep: int = RECENT_MATCHES) -> None:
        self._lock = threading.Lock()
        self._matches: OrderedDict[str, tuple[int, np.ndarray]] = OrderedDict()
        self.keep = keep

    def add(self, visit: Visit, decision: Decision) -> None:
        match = visit.match
        if match is None or match.resident_id is None or visit.embedding is None:
            return
        with self._lock:
            self._matches[visit.visit_id] = (match.resident_id, np.asarray(visit.embedding))
            while len(self._matches) > self.keep:
                self._matches.popitem(last=False)

    def get(self, visit_id: str) -> tuple[int, np.ndarray] | None:
        with self._lock:
            return self._matches.get(visit_id)
