"""The face stage: wraps the FaceEngine for the pipeline."""

from __future__ import annotations

from edge.face.engine import FaceEngine
from edge.stages.base import FrameContext


class FaceStage:
    name = "face"
    rests_when_quiet = True  # with nobody near there is no face to find: most of an idle gate's CPU is saved

    def __init__(self, engine: FaceEngine) -> None:
        self.engine = engine

    @property
    def fault(self) -> str | None:
        """The gallery's owner could not rebuild the matcher (the gate keeps searching the last one)."""
        return getattr(self.engine.source, "error", None)

    def anyone_there(self, image) -> bool:
        return self.engine.anyone_there(image)

    def process(self, context: FrameContext) -> None:
        result = self.engine.process(context.frame.image, context.now)
        context.face = result
        context.stage_ms.update({f"face.{k}": v for k, v in result.stage_ms.items()})
