"""Ended visits waiting to teach the gallery: handed over from the frame loop, taught on the gallery's thread.

The loop never waits for a lesson: handing one over takes a short lock that teaching never holds.
At most LESSONS_WAITING wait; more are dropped and counted, as a visit need not teach. A guard's
"not this person" withdraws a lesson that still waits.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

log = logging.getLogger(__name__)

LESSONS_WAITING = 64  # ended visits waiting to teach; a rush ends about one a second


@dataclass(frozen=True)
class Adaptation:
    """What one visit taught: a template for a resident (and which old ones it replaced)."""

    resident_id: int
    template_id: int
    score: float  # the visit's best score against the resident's enrolment templates
    replaced: list[int]
    visit_id: str


@dataclass(frozen=True)
class Lesson:
    """An ended visit that may teach its resident a template; `then` hears what it taught (on the gallery's thread),
    and nothing when it taught nothing."""

    visit_id: str
    resident_id: int
    probe: np.ndarray
    frames: int
    match_similarity: float
    runner_up: float
    then: Callable[[Adaptation], None]


class Lessons:
    def __init__(self, size: int = LESSONS_WAITING) -> None:
        self._queue: queue.Queue[Lesson | None] = queue.Queue(maxsize=size)
        self._waiting: set[str] = set()  # the visits whose lesson waits
        self._unfinished = 0  # handed over and not yet over
        self._changed = threading.Condition()
        self.dropped = 0

    def hand_over(self, lesson: Lesson) -> None:
        """Thread-safe and quick; a lesson beyond the bound is dropped and counted."""
        with self._changed:
            try:
                self._queue.put_nowait(lesson)
            except queue.Full:
                self.dropped += 1
                log.warning("face gallery: %d visits wait to teach; visit %s teaches nothing", self._queue.maxsize,
                            lesson.visit_id)
                return
            self._waiting.add(lesson.visit_id)
            self._unfinished += 1

    def next(self, timeout: float) -> Lesson | None:
        """The oldest lesson handed over, waiting at most `timeout` s; None when there is none (or on `wake`)."""
        try:
            return self._queue.get(timeout=timeout)
        except queue.Empty:
            return None

    def claim(self, visit_id: str) -> bool:
        """True if the visit's lesson is still to be taught (and no longer waits); False if it was withdrawn."""
        with self._changed:
            if visit_id not in self._waiting:
                return False
            self._waiting.discard(visit_id)
            return True

    def withdraw(self, visit_id: str) -> None:
        with self._changed:
            self._waiting.discard(visit_id)

    def over(self) -> None:
        """A lesson taken with `next` has been taught (or not) and heard."""
        with self._changed:
            self._unfinished -= 1
            self._changed.notify_all()

    def finish(self, timeout: float) -> bool:
        """Wait (at most `timeout` s) for the lessons handed over so far to be over; True if they were."""
        with self._changed:
            return self._changed.wait_for(lambda: self._unfinished == 0, timeout)

    def wake(self) -> None:
        """Wake the thread waiting in `next` (a full queue has it busy: it looks up again soon anyway)."""
        try:
            self._queue.put_nowait(None)
        except queue.Full:
            pass
