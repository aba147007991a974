"""Whether anything on this gate tells a live face from a printed photo or a screen."""

from __future__ import annotations

from edge.config import GateConfig


def liveness_warning(config: GateConfig) -> str | None:
    """Why nothing tells a live face from a printed photo or a screen on this gate, if nothing does."""
    from edge.config import CheckMode

    if config.checks.face.mode is CheckMode.off:
        return None
    if config.hardware.thermal.driver == "none" or "thermal" not in config.pipeline.stages:
        return "no thermal camera: nothing checks liveness, and a printed photo of a resident is let in as them"
    if config.checks.temperature.mode is not CheckMode.required:
        return ("checks.temperature is not required: a face judged not live (a photo, a screen) is recorded, "
                "not refused")
    return None
