"""From a face configuration to a running FaceEngine: the models loaded and the gallery it searches."""

from __future__ import annotations

from pathlib import Path

from edge.config import FaceConfig
from edge.face.engine import FaceEngine, load_models
from edge.face.gallery import FixedMatcher, MatcherSource, build_matcher
from edge.store import Gallery


def build_engine(config: FaceConfig, source: Gallery | MatcherSource, *, focal_px: float = 520.0,
                 models_dir: Path | None = None, search_window_s: float = 3.0) -> FaceEngine:
    """An engine searching `source`: a gate's FaceGallery, or a gallery held in memory (tools, benchmarks)."""
    detector, embedder, limits = load_models(config, models_dir=models_dir)
    if isinstance(source, Gallery):
        source = FixedMatcher(build_matcher(source, config))
    engine = FaceEngine(detector=detector, embedder=embedder, source=source, limits=limits, focal_px=focal_px,
                        search_window_s=search_window_s)
    return configure(engine, config)


def configure(engine: FaceEngine, config: FaceConfig) -> FaceEngine:
    """The settings an engine takes from `face`: when it is built, and again when one changes at run time."""
    engine.better_by = config.better_by
    engine.evidence_frames = config.evidence_frames
    engine.single_frame_margin = config.single_frame_margin
    engine.detect_width = config.detect_width
    engine.mask_margin = config.mask_margin
    engine.regions.whole_frame_every_s = config.whole_frame_every_s
    return engine
