"""The collector's database: SQLite by default, PostgreSQL when given a postgresql:// URL.

Inserts are idempotent by event id, so a message delivered twice is stored once.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path
from typing import Any

from edge.errors import StorageError

SCHEMA = [
    """CREATE TABLE IF NOT EXISTS events (
        event_id TEXT PRIMARY KEY,
        site TEXT NOT NULL,
        gate TEXT NOT NULL,
        kind TEXT NOT NULL,
        time DOUBLE PRECISION NOT NULL,
        payload TEXT NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS events_gate_time ON events(site, gate, time)",
    """CREATE TABLE IF NOT EXISTS gate_status (
        site TEXT NOT NULL,
        gate TEXT NOT NULL,
        status TEXT NOT NULL,
        time DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (site, gate)
    )""",
    # messages refused with their reason, kept so that one poison message is looked at, not redelivered forever
    """CREATE TABLE IF NOT EXISTS quarantine (
        received DOUBLE PRECISION NOT NULL,
        topic TEXT NOT NULL,
        payload TEXT NOT NULL,
        reason TEXT NOT NULL
    )""",
    # per gate, hour and stage, from the gates' telemetry: the mean of the reported p50s and the
    # worst reported p95 (each report covers the gate's latest frames)
    """CREATE TABLE IF NOT EXISTS stage_timings (
        site TEXT NOT NULL,
        gate TEXT NOT NULL,
        hour BIGINT NOT NULL,
        stage TEXT NOT NULL,
        reports INTEGER NOT NULL,
        p50_sum DOUBLE PRECISION NOT NULL,
        p95_max DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (site, gate, hour, stage)
    )""",
]


class CollectorDB:
    def __init__(self, url: str) -> None:
        self.url = url
        self._lock = threading.Lock()
        self._db: Any  # a DB-API connection: psycopg's or sqlite3's
        if url.startswith(("postgresql://", "postgres://")):
            try:
                import psycopg
            except ImportError:
                raise StorageError("a PostgreSQL URL needs the psycopg package (pip install 'psycopg[binary]')") from None
            self.placeholder = "%s"
            self.postgres = True
            try:
                self._db = psycopg.connect(url, autocommit=False)
            except psycopg.Error as error:
                raise StorageError(f"cannot connect to {url.split('@')[-1]}: {error}") from None
        else:
            path = Path(url.removeprefix("sqlite:///").removeprefix("sqlite://"))
            path.parent.mkdir(parents=True, exist_ok=True)
            self.placeholder = "?"
            self.postgres = False
            self._db = sqlite3.connect(path, check_same_thread=False, timeout=30)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
        with self._lock:
            cursor = self._db.cursor()
            for statement in SCHEMA:
                cursor.execute(statement)
            self._db.commit()

    def close(self) -> None:
        self._db.close()

    def _sql(self, text: str) -> str:
        return text.replace("?", self.placeholder)

    def insert_events(self, messages: list[dict[str, Any]]) -> int:
        """Insert (ignoring ones already stored); returns how many were new. One commit for all."""
        rows = [(m["event_id"], m.get("site", ""), m.get("gate", ""), m.get("kind", ""), float(m.get("time", 0)),
                 json.dumps(m, separators=(",", ":"), sort_keys=True)) for m in messages]
        conflict = "ON CONFLICT (event_id) DO NOTHING" if self.postgres else "ON CONFLICT(event_id) DO NOTHING"
        with self._lock:
            cursor = self._db.cursor()
            try:
                cursor.executemany(self._sql(f"INSERT INTO events(event_id, site, gate, kind, time, payload) "
                                             f"VALUES (?, ?, ?, ?, ?, ?) {conflict}"), rows)
                inserted = cursor.rowcount
                self._db.commit()
            except Exception:
                self._db.rollback()  # PostgreSQL refuses every later statement until the failed one is rolled back
                raise
            return inserted

    def quarantine(self, topic: str, payload: bytes, reason: str, received: float) -> None:
        """Keep a refused message as text (bytes that are not UTF-8 escaped), at most 64 KB of it."""
        text = payload[:65536].decode("utf-8", errors="backslashreplace").replace("\x00", "\\x00")
        with self._lock:
            cursor = self._db.cursor()
            try:
                cursor.execute(self._sql("INSERT INTO quarantine(received, topic, payload, reason) VALUES (?, ?, ?, ?)"),
                               (received, topic.replace("\x00", "")[:512], text, reason.replace("\x00", "")[:512]))
                self._db.commit()
            except Exception:
                self._db.rollback()
                raise

    def quarantined(self, limit: int = 100) -> list[tuple[float, str, str, str]]:
        with self._lock:
            cursor = self._db.cursor()
            cursor.execute(self._sql("SELECT received, topic, payload, reason FROM quarantine ORDER BY received DESC "
                                     "LIMIT ?"), (limit,))
            return [tuple(row) for row in cursor.fetchall()]

    def _count(self, cursor) -> int:
        cursor.execute("SELECT COUNT(*) FROM events")
        return int(cursor.fetchone()[0])

    def set_status(self, site: str, gate: str, status: str, time: float) -> None:
        with self._lock:
            cursor = self._db.cursor()
            cursor.execute(self._sql("INSERT INTO gate_status(site, gate, status, time) VALUES (?, ?, ?, ?) "
                                     "ON CONFLICT (site, gate) DO UPDATE SET status = excluded.status, "
                                     "time = excluded.time"), (site, gate, status, time))
            self._db.commit()

    def add_stage_timings(self, site: str, gate: str, time: float, timings: dict[str, tuple[float, float]]) -> None:
        """Fold one telemetry report's {stage: (p50, p95)} into that hour's row per stage."""
        hour = int(time) // 3600 * 3600
        larger = "GREATEST" if self.postgres else "MAX"
        rows = [(site, gate, hour, stage, p50, p95) for stage, (p50, p95) in timings.items()]
        with self._lock:
            cursor = self._db.cursor()
            cursor.executemany(self._sql(
                "INSERT INTO stage_timings(site, gate, hour, stage, reports, p50_sum, p95_max) "
                "VALUES (?, ?, ?, ?, 1, ?, ?) ON CONFLICT (site, gate, hour, stage) DO UPDATE SET "
                "reports = stage_timings.reports + 1, p50_sum = stage_timings.p50_sum + excluded.p50_sum, "
                f"p95_max = {larger}(stage_timings.p95_max, excluded.p95_max)"), rows)
            self._db.commit()

    def stage_timings(self, *, site: str | None = None, gate: str | None = None,
                      since: float = 0.0) -> list[tuple[str, str, int, str, float, float]]:
        """(site, gate, hour, stage, mean p50, worst p95) rows."""
        sql = "SELECT site, gate, hour, stage, p50_sum / reports, p95_max FROM stage_timings WHERE hour >= ?"
        params: list[Any] = [int(since) // 3600 * 3600]
        for column, value in (("site", site), ("gate", gate)):
            if value:
                sql += f" AND {column} = ?"
                params.append(value)
        with self._lock:
            cursor = self._db.cursor()
            cursor.execute(self._sql(sql + " ORDER BY site, gate, hour, stage"), params)
            return [(row[0], row[1], int(row[2]), row[3], float(row[4]), float(row[5])) for row in cursor.fetchall()]

    def statuses(self) -> list[tuple[str, str, str, float]]:
        with self._lock:
            cursor = self._db.cursor()
            cursor.execute("SELECT site, gate, status, time FROM gate_status ORDER BY site, gate")
            return [tuple(row) for row in cursor.fetchall()]

    def events(self, *, site: str | None = None, gate: str | None = None, kind: str | None = None,
               since: float = 0.0, limit: int = 1000) -> list[dict[str, Any]]:
        sql = "SELECT payload FROM events WHERE time >= ?"
        params: list[Any] = [since]
        for column, value in (("site", site), ("gate", gate), ("kind", kind)):
            if value:
                sql += f" AND {column} = ?"
                params.append(value)
        sql += " ORDER BY time, event_id LIMIT ?"
        params.append(limit)
        with self._lock:
            cursor = self._db.cursor()
            cursor.execute(self._sql(sql), params)
            return [json.loads(row[0]) for row in cursor.fetchall()]

    def count(self) -> int:
        with self._lock:
            return self._count(self._db.cursor())
