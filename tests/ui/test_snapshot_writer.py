"""The snapshot writer works beside the frame loop: a slow disk or a slow send never holds the loop, a backlog is
bounded, and what was handed over is written before the writer stops."""

from __future__ import annotations

import logging
import threading
import time
from types import SimpleNamespace

import numpy as np

from edge.events import EventKind
from edge.snapshots import WAITING_AT_MOST, Snapshots


def hand_over(snapshots: Snapshots, number: int) -> str:
    """One decided visit, as the frame loop hands it over: its frame, then its decision; the event's id."""
    visit_id, event_id = f"visit-{number}", f"{number:016x}"
    face = SimpleNamespace(primary=SimpleNamespace(box=[100.0, 80.0, 120.0, 150.0]))
    frame = np.full((480, 640, 3), number % 250, np.uint8)
    snapshots.on_frame(frame, SimpleNamespace(face=face), SimpleNamespace(visit_id=visit_id, decision=None))
    snapshots.on_event(SimpleNamespace(kind=EventKind.decision, body={"visit_id": visit_id}, event_id=event_id,
                                       time=time.time()))  # today: within the retention
    return event_id


def test_a_send_that_hangs_holds_the_writer_not_the_loop_and_the_backlog_is_bounded(tmp_path, caplog):
    release, sending = threading.Event(), threading.Event()
    sent: list[str] = []

    def slow_send(event_id: str, at: float, jpeg: bytes) -> None:
        sending.set()
        assert release.wait(10)
        sent.append(event_id)

    snapshots = Snapshots(tmp_path / "snapshots", retention_days=7)
    snapshots.send = slow_send
    try:
        first = hand_over(snapshots, 0)  # returns although its send hangs
        assert sending.wait(10) and snapshots.read(first) is not None  # written before it was sent
        with caplog.at_level(logging.WARNING, logger="edge.snapshots"):
            handed = [hand_over(snapshots, n) for n in range(1, WAITING_AT_MOST + 2)]
        assert [m for m in caplog.messages if "waiting to be written" in m] == [
            f"snapshot for event {handed[-1]} not kept: {WAITING_AT_MOST} waiting to be written"]
        assert not snapshots.flush(0.05)  # the writer is still held
        release.set()
        assert snapshots.flush(10)
        assert sent == [first, *handed[:-1]] and snapshots.written == WAITING_AT_MOST + 1
        assert snapshots.read(handed[-2]) is not None and snapshots.read(handed[-1]) is None
    finally:
        release.set()
        snapshots.close()


def test_what_was_handed_over_is_written_before_the_writer_stops(tmp_path):
    snapshots = Snapshots(tmp_path / "snapshots", retention_days=7)
    event_ids = [hand_over(snapshots, n) for n in range(3)]
    snapshots.close()
    assert not snapshots._writer.is_alive()
    assert all(snapshots.read(event_id)[:3] == b"\xff\xd8\xff" for event_id in event_ids)
