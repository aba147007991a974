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
]


class CollectorDB:
    def __init__(self, url: str) -> None:
        self.url = url
        self._lock = threading.Lock()
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
            cursor.executemany(self._sql(f"INSERT INTO events(event_id, site, gate, kind, time, payload) "
                                         f"VALUES (?, ?, ?, ?, ?, ?) {conflict}"), rows)
            inserted = cursor.rowcount
            self._db.commit()
            return inserted

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

    def statuses(self) -> list[tuple[str, str, str, float]]:
        with self._lock:
            cursor = self._db.cursor()
            cursor.execute("SELECT site, gate, status, time FROM gate_status ORDER BY site, gate")
            return [tuple(row) for row in cursor.fetchall()]

    def events(self, *, site: str | None = None, gate: str | None = None, kind: str | None = None,
               since: float = 0.0, limit: int = 1000) -> list[dict[str, Any]]:
        sql, params = "SELECT payload FROM events WHERE time >= ?", [since]
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
