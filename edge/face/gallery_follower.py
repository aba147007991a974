"""The running engine follows the store: a change of templates by any path reaches it, no caller reloads.

The store bumps `gallery_version` in the same transaction as every change of templates, whoever
makes it (this daemon's console or touchscreen, `gatepost residents` in another process, a
site record). A thread watches that number and the count of visit scores, builds a new matcher
(gallery, operating point, lookalike pairs) off the frame loop, and hands it to the engine in
one assignment. A removed resident is refused within `face.recalibrate_s` plus one build.
"""

from __future__ import annotations

import logging
import threading
import time

import numpy as np

from edge.config import FaceConfig
from edge.face.matcher import Lookalikes, Matcher
from edge.face.operating_point import fixed, operating_point, pair_scores
from edge.store import Gallery, ResidentRecords

log = logging.getLogger(__name__)

VISIT_SCORES_KEPT = 5000
REFIT_EVERY_VISITS = 25


def build_matcher(gallery: Gallery, config: FaceConfig, *, visit_scores: list[tuple[float, int]] | None = None) -> Matcher:
    """The matcher for this gallery at the operating point `config` asks for."""
    from edge.face.engine import default_law

    scores = pair_scores(gallery)
    if config.match_threshold is not None:
        point = fixed(config.match_threshold, int(len(np.unique(scores.owners))))
    else:
        point = operating_point(gallery, target_fpir=config.max_false_accept, default=default_law(config),
                                visit_scores=visit_scores, scores=scores)
    return Matcher(gallery, point=point, margin=config.match_margin, lookalike_margin=config.lookalike_margin,
                   lookalikes=lookalikes_of(scores.owners, scores.best, scores.closest,
                                            point.threshold - config.lookalike_margin))


def lookalikes_of(owners: np.ndarray, best: np.ndarray, closest: np.ndarray, floor: float) -> Lookalikes:
    """Each resident's closest other resident, where a template of one scores above `floor` on the other.

    The floor sits `lookalike_margin` below the threshold: near enough that a photo of one of
    them can clear the threshold on the other.
    """
    pairs: dict[frozenset[int], float] = {}
    for owner, score, other in zip(owners.tolist(), best.tolist(), closest.tolist()):
        if score >= floor and owner != other:
            pair = frozenset((owner, other))
            pairs[pair] = max(score, pairs.get(pair, -1.0))
    return Lookalikes(pairs)


class GalleryFollower:
    """Watches the store and keeps `engine.matcher` current; `refresh()` does one check in the caller's thread."""

    def __init__(self, store: ResidentRecords, engine, config: FaceConfig) -> None:
        self.store = store
        self.engine = engine
        self.config = config
        self._seen: tuple[int, int] | None = None  # the first refresh always builds
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.error: str | None = None

    def _key(self) -> tuple[int, int]:
        return self.store.gallery_version, self.store.visit_score_count() // REFIT_EVERY_VISITS

    def refresh(self) -> bool:
        """Rebuild the matcher if the gallery or the visit scores changed; True if it did."""
        key = self._key()
        if key == self._seen:
            return False
        started = time.perf_counter()
        gallery = self.store.gallery()
        matcher = build_matcher(gallery, self.config, visit_scores=self.store.visit_scores(VISIT_SCORES_KEPT))
        self.engine.use(matcher)
        self._seen = (gallery.version, key[1])
        point = matcher.point
        log.info("gallery version %d: %d residents, threshold %.3f (%s), estimated FPIR %.2g, built in %.0f ms",
                 gallery.version, point.residents, point.threshold, point.source, point.estimated_fpir,
                 (time.perf_counter() - started) * 1000)
        return True

    def reconfigure(self, config: FaceConfig) -> None:
        """New thresholds or targets: rebuilt on the next check."""
        self.config = config
        self._seen = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="gallery-follower", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.config.recalibrate_s):
            try:
                self.refresh()
                self.error = None
            except Exception as error:  # the gate keeps its last matcher; the fault is reported
                if self.error is None:
                    log.exception("gallery follower failed")
                self.error = f"gallery: {type(error).__name__}: {error}"

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
