"""The face gallery's one owner: the residents' templates as the running gate searches them.

Every change of templates goes through the store, which bumps `gallery_version` in the same
transaction, whoever makes it (this daemon's console or touchscreen, `gatepost residents` in
another process, a site record, an adaptive template). `FaceGallery` holds the matcher the engine
searches, and nothing else replaces it: a thread watches the version and the count of visit
scores, builds a new matcher (gallery, operating point, lookalike pairs) off the frame loop and
swaps it in one assignment. An enrolment made here swaps at once. A removed resident is refused
within `face.recalibrate_s` plus one gallery load.

The operating point costs little to derive again: the pair scores it rests on are kept and
updated by the templates that changed (edge/face/pair_statistics.py), O(templates) per resident
added or removed, and counted from scratch only every RECOUNT_EVERY_S or for a new model. A batch
(an import, a site roster) is searched as it arrives, at the operating point in force; the point
is derived once the batch has settled.

The engine reads `FaceGallery.matcher` once per frame and never builds one itself, so a frame is
searched against one consistent gallery and the engine does not know where templates come from.

Templates that keep up: a visit recognised with a wide margin may teach its resident one
template (the visit's fused embedding), at most one per `adapt_every_s`, up to
`adaptive_templates`, the oldest replaced first; enrolment photos are never replaced. A visit
teaches only if it scores `adapt_margin` above the threshold against the resident's *enrolment*
templates, so learned templates stay anchored to them, and the matcher takes a learned template's
word only for a face its resident's enrolment photos score within LEARNED_SLACK of the threshold
(edge/face/matcher.py): a stranger who tailgates a resident's visits cannot walk the gallery
towards themselves one learned template at a time. A guard's "not this person" removes what that
visit taught, or withdraws the lesson if it has not been taught yet.

A visit that ends on the frame loop hands its lesson to the gallery's thread (`teach`,
edge/face/lessons.py): the store write and the gallery re-read it costs (13 ms of CPU at 5,000
residents) never delay a frame.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from typing import Protocol

import numpy as np

from edge.config import FaceConfig
from edge.face.fused import with_fused
from edge.face.lessons import Adaptation, Lesson, Lessons
from edge.face.matcher import Lookalikes, Matcher
from edge.face.operating_point import PairLaw, PairScores, fixed, operating_point
from edge.face.pair_statistics import PairStatistics, pair_scores
from edge.store import Gallery, ResidentRecords

log = logging.getLogger(__name__)

VISIT_SCORES_KEPT = 5000
REFIT_EVERY_VISITS = 25
SAME_TEMPLATE_AT = 0.95  # a visit this close to a template already kept teaches nothing new
TAUGHT_KEPT = 200  # visits whose learned template a guard's "not this person" can still remove
SETTLE_S = 2.0  # templates that changed again within this are a batch (an import): its operating point waits
DEFER_AT_MOST_S = 60.0  # ... for the batch's end, but no longer than this
RECOUNT_EVERY_S = 6 * 3600.0  # every pair is counted again from scratch this often (changes are counted as they come)


class MatcherSource(Protocol):
    """What the engine needs of a gallery: the matcher to search now."""

    @property
    def matcher(self) -> Matcher: ...


class FixedMatcher:
    """One matcher for good: benchmarks and tools that search a gallery held in memory."""

    def __init__(self, matcher: Matcher) -> None:
        self.matcher = matcher


def default_law(config: FaceConfig) -> PairLaw:
    """The embedder's shipped score law (models/manifest.json), for a gallery too small to measure its own."""
    from models.fetch import load_manifest

    law = load_manifest()[config.pack].calibration
    return PairLaw(float(law["t1"]), float(law["share1"]), float(law["t2"]), float(law["share2"]))


def build_matcher(gallery: Gallery, config: FaceConfig, *, visit_scores: list[tuple[float, int]] | None = None,
                  law: PairLaw | None = None, scores: PairScores | None = None) -> Matcher:
    """The matcher for this gallery at the operating point `config` asks for (`scores`: its pair scores, if kept)."""
    scores = pair_scores(gallery) if scores is None else scores
    if config.match_threshold is not None:
        point = fixed(config.match_threshold, int(len(np.unique(scores.owners))))
    else:
        point = operating_point(scores, target_fpir=config.max_false_accept, default=law or default_law(config),
                                visit_scores=visit_scores)
    return Matcher(gallery, point=point, margin=config.match_margin, lookalike_margin=config.lookalike_margin,
                   lookalikes=lookalikes_of(scores.owners, scores.best, scores.closest,
                                            point.threshold - config.lookalike_margin))


def teaching_score(matcher: Matcher, config: FaceConfig, resident_id: int, probe: np.ndarray, *, frames: int,
                   match_similarity: float, runner_up: float) -> float | None:
    """The visit's score against its resident's enrolment templates when the visit may teach them a template (the
    rule alone: how often, and what is kept, are the gallery's); None when it may not."""
    if config.adaptive_templates <= 0 or frames < 2:
        return None
    if match_similarity < matcher.threshold + config.adapt_margin or match_similarity - runner_up < 2 * matcher.margin:
        return None  # never from a borderline visit
    enrolled = matcher.gallery.enrolled(resident_id)
    if not len(enrolled):
        return None
    anchor = float((enrolled @ probe).max())
    if anchor < matcher.threshold + config.adapt_margin:
        return None  # anchored to the enrolment photos, not to what was learned before
    own = matcher.gallery.embeddings[(matcher.gallery.owners == resident_id) & ~matcher.gallery.negative]
    if float((own @ probe).max()) >= SAME_TEMPLATE_AT:
        return None  # nothing new
    return anchor


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


class FaceGallery:
    """Watches the store and keeps the matcher current; `refresh()` does one check in the caller's thread."""

    def __init__(self, store: ResidentRecords, config: FaceConfig) -> None:
        self.store = store
        self.config = config
        self._law = default_law(config)  # pragma: no mutate (without one, build_matcher reads this same law)
        self._matcher: Matcher | None = None
        # The first refresh always reads the store whole, counts every pair and sets each value marked below: its first
        # value is never read, so a mutant of it changes nothing.
        self._seen: tuple[int, int] | None = None  # pragma: no mutate
        self._pairs = PairStatistics()
        self._recounted_at = -float("inf")  # pragma: no mutate
        self._change_seen_at = -float("inf")  # pragma: no mutate  (when the follower last found a change)
        self._batch_since = -float("inf")  # pragma: no mutate  (when this run of changes began)
        self._deferred = False  # pragma: no mutate  (a batch is under way: its operating point waits for the end)
        self._reread = False  # the configuration changed what is read from the store (fused templates)
        self._lock = threading.Lock()  # the matcher's swap
        self._deriving = threading.Lock()  # one derivation at a time; the frame loop never takes it
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._taught: OrderedDict[str, int] = OrderedDict()  # visit id -> the template it taught
        self.lessons = Lessons()
        self._teaching = threading.Lock()  # a lesson and a withdrawal, one at a time; never taken to hand one over
        self.error: str | None = None
        self.last_build: dict = {}  # how the newest operating point was derived (for telemetry and benchmarks)

    @property
    def matcher(self) -> Matcher:
        if self._matcher is None:
            self.refresh()
        assert self._matcher is not None  # refresh() always builds the first one
        return self._matcher

    def _key(self) -> tuple[int, int]:
        return self.store.gallery_version, self.store.visit_score_count() // REFIT_EVERY_VISITS

    def refresh(self, *, now: float | None = None) -> bool:
        """Follow the store: a new gallery is searched at once; the operating point is derived again for it
        (or for new visit scores), except in the middle of a batch of changes, which it waits out (SETTLE_S,
        at most DEFER_AT_MOST_S). True if the matcher changed."""
        now = time.monotonic() if now is None else now
        with self._deriving:
            key = self._key()
            current = self._matcher
            if key == self._seen and current is not None and not self._deferred:
                return False
            if key == self._seen and current is not None:  # deferred: derive once the batch has settled
                if now - self._change_seen_at < SETTLE_S and now - self._batch_since < DEFER_AT_MOST_S:
                    return False
                gallery = current.gallery
            elif current is not None and key[0] == current.version and not self._reread:
                gallery = current.gallery  # only the visit scores moved
            else:
                gallery = self._read(since=current.gallery if current is not None else None)
                self._reread = False
                if current is not None and now - self._change_seen_at < SETTLE_S:
                    self._change_seen_at = now
                    if now - self._batch_since < DEFER_AT_MOST_S:  # mid-batch: searched now, derived at the end
                        self._install(current.with_gallery(gallery), key)
                        self._deferred = True
                        return True
                else:
                    self._batch_since = now
                self._change_seen_at = now
            self._install(self._derive(gallery, now), key)
            self._deferred = False
            return True

    def _derive(self, gallery: Gallery, now: float) -> Matcher:
        started, cpu = time.perf_counter(), time.thread_time()
        if now - self._recounted_at >= RECOUNT_EVERY_S:
            self._pairs.rebuild(gallery)
            how = "full"
        else:
            how = self._pairs.update(gallery)
        if how == "full":
            self._recounted_at = now
        matcher = build_matcher(gallery, self.config, law=self._law, scores=self._pairs.scores(),
                                visit_scores=self.store.visit_scores(VISIT_SCORES_KEPT))
        point = matcher.point
        fused = int((gallery.ids < 0).sum()) if gallery.ids is not None else 0
        self.last_build = {"version": gallery.version, "pairs": how, "templates": len(gallery.owners), "fused": fused,
                           "ms": (time.perf_counter() - started) * 1000, "cpu_ms": (time.thread_time() - cpu) * 1000}
        log.info("gallery version %d: %d residents, threshold %.3f (%s), estimated FPIR %.2g, pairs counted %s, "
                 "built in %.0f ms", gallery.version, point.residents, point.threshold, point.source,
                 point.estimated_fpir, how, self.last_build["ms"])
        return matcher

    def _install(self, matcher: Matcher, key: tuple[int, int]) -> None:
        with self._lock:
            current = self._matcher
            if current is not None and current.version > matcher.version:  # this process stored templates meanwhile
                matcher = Matcher(current.gallery, point=matcher.point, margin=matcher.margin,
                                  lookalike_margin=matcher.lookalike_margin, lookalikes=matcher.lookalikes)
                seen: tuple[int, int] | None = None  # derived for an older gallery: the next check derives again
            else:
                seen = key
            self._matcher = matcher
            self._seen = seen

    def _read(self, *, since: Gallery | None) -> Gallery:
        """The store's templates, and each resident's fused one where configured (edge/face/fused.py)."""
        gallery = self.store.gallery(since=since)
        return with_fused(gallery) if self.config.fused_template else gallery

    def changed(self) -> None:
        """Templates were just stored by this process: searchable from the next frame at the operating point in
        force (the thread derives a new one within `recalibrate_s`)."""
        if self._matcher is None:
            self.refresh()
            return
        with self._lock:
            self._matcher = self._matcher.with_gallery(self._read(since=self._matcher.gallery))

    def teach(self, lesson: Lesson) -> None:
        """Thread-safe and quick: the lesson is taught on the gallery's thread (in the caller's, before `start`)."""
        if self._thread is not None:
            self.lessons.hand_over(lesson)
            return
        with self._teaching:
            taught = self._adapt_lesson(lesson)
        if taught is not None:
            lesson.then(taught)

    def _learn(self, lesson: Lesson) -> None:
        with self._teaching:
            taught = self._adapt_lesson(lesson) if self.lessons.claim(lesson.visit_id) else None
        if taught is not None:
            lesson.then(taught)

    def _adapt_lesson(self, lesson: Lesson) -> Adaptation | None:
        return self._adapt(lesson.visit_id, lesson.resident_id, lesson.probe, frames=lesson.frames,
                           match_similarity=lesson.match_similarity, runner_up=lesson.runner_up)

    def adapt(self, visit_id: str, resident_id: int, probe: np.ndarray, *, frames: int,
              match_similarity: float, runner_up: float) -> Adaptation | None:
        """A recognised visit may teach its resident one template, now, in the caller's thread; None when it may
        not."""
        with self._teaching:
            return self._adapt(visit_id, resident_id, probe, frames=frames, match_similarity=match_similarity,
                               runner_up=runner_up)

    def _adapt(self, visit_id: str, resident_id: int, probe: np.ndarray, *, frames: int,
               match_similarity: float, runner_up: float) -> Adaptation | None:
        config = self.config
        anchor = teaching_score(self.matcher, config, resident_id, probe, frames=frames,
                                match_similarity=match_similarity, runner_up=runner_up)
        if anchor is None:
            return None
        taught = [t for t in self.store.templates(resident_id) if t.adaptive]
        if taught and self.store.now() - max(t.created for t in taught) < config.adapt_every_s:
            return None
        template_id, replaced = self.store.adapt(resident_id, probe, anchor, f"visit {visit_id}",
                                                 keep=config.adaptive_templates)
        self.changed()
        self._taught[visit_id] = template_id
        while len(self._taught) > TAUGHT_KEPT:
            self._taught.popitem(last=False)
        return Adaptation(resident_id, template_id, anchor, replaced, visit_id)

    def forget_visit(self, visit_id: str) -> int | None:
        """A guard said the visit was not this person: the template it taught goes (its id, or None), and a lesson
        still waiting is withdrawn."""
        with self._teaching:
            self.lessons.withdraw(visit_id)
            template_id = self._taught.pop(visit_id, None)
            if template_id is not None and self.store.remove_template(template_id):
                self.changed()
                return template_id
        return None

    def reconfigure(self, config: FaceConfig) -> None:
        """New thresholds or targets: rebuilt on the next check (another model: every pair counted again)."""
        if config.pack != self.config.pack or config.embedder != self.config.embedder:
            self._recounted_at = -float("inf")
        self._reread = self._reread or config.fused_template != self.config.fused_template
        self.config = config
        self._law = default_law(config)
        self._seen = None

    def start(self) -> None:
        # its name is for people reading a thread dump; being a daemon only matters at an exit without close()
        self._thread = threading.Thread(target=self._run, name="face-gallery", daemon=True)  # pragma: no mutate
        self._thread.start()

    def _run(self) -> None:
        check_at = time.monotonic() + self.config.recalibrate_s
        while not self._stop.is_set():
            lesson = self.lessons.next(max(0.0, check_at - time.monotonic()))
            if lesson is not None:
                try:
                    self._learn(lesson)
                except Exception:  # a visit need not teach; the gallery goes on
                    log.exception("face gallery: visit %s could not teach", lesson.visit_id)
                finally:
                    self.lessons.over()
            if time.monotonic() >= check_at and not self._stop.is_set():
                self._check()
                check_at = time.monotonic() + self.config.recalibrate_s

    def _check(self) -> None:
        try:
            self.refresh()
            self.error = None
        except Exception as error:  # the gate keeps its last matcher; the fault is reported
            if self.error is None:
                log.exception("face gallery: rebuilding the matcher failed")
            self.error = f"gallery: {type(error).__name__}: {error}"

    def close(self) -> None:
        self._stop.set()
        self.lessons.wake()
        if self._thread is not None:
            self._thread.join(timeout=5)  # pragma: no mutate (it ends within one lesson of the stop)
            self._thread = None
