"""What a visit teaches once the person has gone: the gallery a template, the resident their temperature offset.

Both listen to the gate's ended visits, on the frame loop. The gallery's lesson is taught on its own
thread (edge/face/lessons.py); what it taught comes back to the loop to be recorded, as every event is.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from edge.decision import Visit
from edge.events import EventKind
from edge.face.gallery import FaceGallery
from edge.face.lessons import Adaptation, Lesson
from edge.gate import Gate
from edge.stages.thermal import ThermalStage
from edge.thermal_profiles import ResidentProfiles


def gallery_teacher(gate: Gate, gallery: FaceGallery) -> Callable[[Visit], None]:
    def recorded(taught: Adaptation) -> None:  # on the gallery's thread
        gate.call_soon(lambda: gate.record(EventKind.action, {
            "action": "template_learned", "resident_id": taught.resident_id, "template_id": taught.template_id,
            "visit_id": taught.visit_id, "score": round(taught.score, 3), "replaced": taught.replaced}))

    def teach(visit: Visit) -> None:
        """A resident let in with a wide margin has gone: their visit may teach the gallery a template."""
        match, decision = visit.match, visit.decision
        if decision is None or not decision.granted or match is None or not match.known \
                or match.masked:  # a masked face teaches nothing: most of what tells people apart is hidden
            return
        if not isinstance(visit.embedding, np.ndarray) or match.resident_id is None:
            return
        gallery.teach(Lesson(visit.visit_id, match.resident_id, visit.embedding, frames=match.frames,
                             match_similarity=match.similarity, runner_up=match.runner_up, then=recorded))
    return teach


def temperature_teacher(stage: ThermalStage, profiles: ResidentProfiles) -> Callable[[Visit], None]:
    def teach(visit: Visit) -> None:
        """A resident read live has gone: their visit may teach their own offset (never a fever)."""
        match = visit.match
        if match is None or match.resident_id is None:
            return
        estimate = visit.temperature.estimate()
        if estimate is None:
            return
        calibrated = not stage.baseline.config.enabled or stage.baseline.ready
        profiles.learn(match.resident_id, visit.visit_id, estimate, live=visit.temperature.liveness(),
                       calibrated=calibrated)
    return teach
