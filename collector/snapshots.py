"""Face snapshots some gates send with their decisions (storage.snapshots_to_collector), for the fleet view.

A snapshot message is `{"event_id", "time", "jpeg": base64}` on gatepost/<site>/<gate>/snapshot: parsed with bounds,
the bytes must be a JPEG of at most MAX_JPEG; the site and gate are the topic's. Kept with the events' retention.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

from edge.untrusted import load_json

MAX_JPEG = 200 * 1024


def snapshot_from(payload: bytes, site: str, gate: str) -> tuple[str, str, str, float, bytes]:
    """(event_id, site, gate, time, jpeg) of a snapshot message; ValueError naming the field."""
    body = load_json(payload, max_bytes=2 * MAX_JPEG, what="snapshot")
    if not isinstance(body, dict):
        raise ValueError("snapshot: not a JSON object")
    event_id, when, encoded = body.get("event_id"), body.get("time"), body.get("jpeg")
    if not isinstance(event_id, str) or not 1 <= len(event_id) <= 64:
        raise ValueError("event_id: missing or not a string of 1 to 64 characters")
    if isinstance(when, bool) or not isinstance(when, (int, float)) or not 0 <= when < 1e11:
        raise ValueError("time: not a number of seconds since 1970")
    if not isinstance(encoded, str):
        raise ValueError("jpeg: missing or not a base64 string")
    try:
        jpeg = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("jpeg: not base64") from None
    if len(jpeg) > MAX_JPEG or not jpeg.startswith(b"\xff\xd8\xff"):
        raise ValueError(f"jpeg: not a JPEG of at most {MAX_JPEG // 1024} KB")
    return event_id, site, gate, float(when), jpeg


class SnapshotRecords:
    """Mixed into CollectorDB: uses its cursor and SQL dialect."""

    _cursor: Callable[[], AbstractContextManager[Any]]
    _sql: Callable[[str], str]

    def add_snapshots(self, rows: list[tuple[str, str, str, float, bytes]]) -> None:
        with self._cursor() as cursor:
            cursor.executemany(self._sql(
                "INSERT INTO snapshots(event_id, site, gate, time, jpeg) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (event_id) DO NOTHING"), rows)

    def snapshot(self, event_id: str) -> bytes | None:
        with self._cursor() as cursor:
            cursor.execute(self._sql("SELECT jpeg FROM snapshots WHERE event_id = ?"),
                           (event_id,))
            row = cursor.fetchone()
        return bytes(row[0]) if row else None

    def with_snapshots(self, event_ids: list[str]) -> set[str]:
        """Which of these events have a snapshot."""
        if not event_ids:
            return set()
        marks = ", ".join("?" * len(event_ids))
        with self._cursor() as cursor:
            cursor.execute(self._sql(f"SELECT event_id FROM snapshots WHERE event_id IN ({marks})"),
                           list(event_ids))
            return {str(row[0]) for row in cursor.fetchall()}
