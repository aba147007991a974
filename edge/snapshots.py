"""Face snapshots kept with decisions, only where the operator opts in (`storage.snapshots: face`).

Off by default, and then nothing image-like is written anywhere. On, each decision keeps one JPEG of
the face it was about: the primary face of the newest frame of the visit, cropped with a margin and
no larger than SNAPSHOT_SIDE. Files live in `state_dir/snapshots/YYYY-MM-DD/EVENT_ID.jpg` (the
gate's local day), and day folders older than `storage.snapshot_retention_days` are deleted. Guards
logged in at the touchscreen see them. Only with `storage.snapshots_to_collector` does each also go,
once, over MQTT to the collector, where operators logged in to the fleet view see it.
"""

from __future__ import annotations

import logging
import queue
import re
import shutil
import threading
import time
from collections.abc import Callable
from datetime import date, datetime, timedelta
from pathlib import Path

import cv2
import numpy as np

from edge.events import EventKind

log = logging.getLogger(__name__)

SNAPSHOT_SIDE = 240  # pixels: enough for a person to recognise, small enough to keep weeks of them
MARGIN = 0.25  # of the face box, on each side
PRUNE_EVERY_S = 3600.0
WAITING_AT_MOST = 16  # crops handed over by the frame loop, not yet written: beyond that a snapshot is not kept
EVENT_ID = re.compile(r"^[0-9a-f]{8,64}$")


class Snapshots:
    """Keeps the newest face crop of the open visit; when the visit's decision is recorded, a thread of its own
    encodes, writes (and sends) it, and prunes: the frame loop never waits on the disk."""

    def __init__(self, folder: Path, *, retention_days: int) -> None:
        self.folder = folder
        self.retention_days = retention_days
        self._lock = threading.Lock()
        self._latest: tuple[str, np.ndarray, list[float]] | None = None  # (visit id, frame, face box)
        self._pruned_at = -PRUNE_EVERY_S
        self.written = 0
        self.send: Callable[[str, float, bytes], None] | None = None  # to the collector, where configured
        self._waiting: queue.Queue[tuple[str, float, np.ndarray] | None] = queue.Queue(WAITING_AT_MOST)
        self._writer = threading.Thread(target=self._write_all, name="snapshots", daemon=True)
        self._writer.start()

    def on_frame(self, image: np.ndarray, context, visit) -> None:
        """The frame loop's listener: the newest frame with the visit's face, kept by reference (cropped only when
        a decision is recorded: nothing is copied on frames that decide nothing)."""
        primary = context.face.primary if context.face is not None else None
        if primary is None or visit is None or visit.decision is not None:
            return
        with self._lock:
            self._latest = (visit.visit_id, image, list(primary.box))

    def on_event(self, event) -> None:
        """The gate's event listener: a decision about the visit whose face is held hands its crop to the writer."""
        if event.kind is not EventKind.decision:
            return
        with self._lock:
            latest = self._latest
        if latest is None or latest[0] != event.body.get("visit_id"):
            return
        crop = _face_crop(latest[1], latest[2])
        if crop is None:
            return
        try:  # a copy: the camera may reuse the frame's buffer before the writer gets to it
            self._waiting.put_nowait((event.event_id, event.time, crop.copy()))
        except queue.Full:
            log.warning("snapshot for event %s not kept: %d waiting to be written", event.event_id, WAITING_AT_MOST)

    def flush(self, timeout: float) -> bool:
        """Wait until every snapshot handed over was written (and sent, where configured); False if `timeout`
        ran out first."""
        deadline = time.monotonic() + timeout
        with self._waiting.all_tasks_done:
            while self._waiting.unfinished_tasks:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._waiting.all_tasks_done.wait(left)
        return True

    def close(self, timeout: float = 5.0) -> None:
        """Write what was handed over (within `timeout`), then stop the writer."""
        if self.flush(timeout):
            self._waiting.put(None)
            self._writer.join(timeout)
        else:  # a write or send that hangs: the writer is a daemon thread and does not hold the process
            log.warning("snapshots still waiting to be written at the stop: %d", self._waiting.qsize())

    def _write_all(self) -> None:
        while (item := self._waiting.get()) is not None:
            try:
                self._write(*item)
            except Exception:  # a writer that dies would keep every later snapshot waiting
                log.exception("snapshot for event %s not kept", item[0])
            finally:
                self._waiting.task_done()
        self._waiting.task_done()

    def _write(self, event_id: str, at: float, crop: np.ndarray) -> None:
        ok, jpeg = cv2.imencode(".jpg", crop, [cv2.IMWRITE_JPEG_QUALITY, 85])
        if not ok:
            return
        day = self.folder / datetime.fromtimestamp(at).date().isoformat()
        try:
            day.mkdir(parents=True, exist_ok=True)
            (day / f"{event_id}.jpg").write_bytes(jpeg.tobytes())
            self.written += 1
        except OSError as error:
            log.warning("snapshot for event %s not kept: %s", event_id, error)
        if self.send is not None:
            self.send(event_id, at, jpeg.tobytes())
        self.prune()

    def read(self, event_id: str) -> bytes | None:
        """The snapshot of an event, or None (none kept, pruned, or not an event id)."""
        if not EVENT_ID.match(event_id) or not self.folder.is_dir():
            return None
        for day in sorted(self.folder.iterdir(), reverse=True):
            path = day / f"{event_id}.jpg"
            if path.is_file():
                return path.read_bytes()
        return None

    def prune(self, *, today: date | None = None, force: bool = False) -> int:
        """Delete day folders past the retention (at most once an hour unless forced); how many went."""
        now = time.monotonic()
        if not force and now - self._pruned_at < PRUNE_EVERY_S:
            return 0
        self._pruned_at = now
        oldest = (today or date.today()) - timedelta(days=self.retention_days)
        removed = 0
        for day in self.folder.iterdir() if self.folder.is_dir() else ():
            try:
                if date.fromisoformat(day.name) < oldest:
                    shutil.rmtree(day, ignore_errors=True)
                    removed += 1
            except ValueError:
                continue  # not one of ours
        return removed


def _face_crop(image: np.ndarray, box: list[float]) -> np.ndarray | None:
    """The face and a margin around it, no larger than SNAPSHOT_SIDE; None for a box too small to show."""
    x, y, w, h = box
    pad_x, pad_y = w * MARGIN, h * MARGIN
    top, bottom = int(max(0, y - pad_y)), int(min(image.shape[0], y + h + pad_y))
    left, right = int(max(0, x - pad_x)), int(min(image.shape[1], x + w + pad_x))
    if bottom - top < 8 or right - left < 8:
        return None
    crop = image[top:bottom, left:right]
    scale = SNAPSHOT_SIDE / max(crop.shape[:2])
    return cv2.resize(crop, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) if scale < 1 else crop
