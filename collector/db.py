"""The collector's database: SQLite by default, PostgreSQL when given a postgresql:// URL.

Inserts are idempotent by event id, so a message delivered twice is stored once. On PostgreSQL a
batch is COPYed into a session-local staging table and moved with one INSERT ... ON CONFLICT DO
NOTHING, and the events table is partitioned by day: retention drops whole partitions. With every
batch the hourly counters the fleet view draws (entries, denials by reason, alarms by kind) are
updated in the same transaction, from the rows that were new, so a redelivery counts nothing twice.
A connection lost (the database restarted) is opened again on the next call.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from collector.database_url import credentials_unclear, database_address, sqlite_file
from collector.operators import OperatorRecords
from collector.schema import ADDED_COLUMNS, EVENT_COLUMNS, event_row, metrics, tables
from collector.snapshots import SnapshotRecords
from edge.errors import StorageError

DAY_S = 86_400

OLDEST_FIRST = "time, event_id"  # pragma: no mutate (SQL reads a name in any case)
NEWEST_FIRST = "time DESC"  # pragma: no mutate (likewise)


@dataclass(frozen=True)
class GateRow:
    site: str
    gate: str
    status: str  # online | offline | unknown (never heard its status)
    last_seen: float
    faults: dict[str, str]
    outbox: int | None
    fps: float | None


class CollectorDB(OperatorRecords, SnapshotRecords):
    def __init__(self, url: str) -> None:
        self.url = url
        self.postgres = url.startswith(("postgresql://", "postgres://"))
        self.placeholder = "%s" if self.postgres else "?"
        self._lock = threading.RLock()
        self._db: Any = None  # pragma: no mutate (a DB-API connection, psycopg's or sqlite3's: _open sets it at once)
        self._partitions: set[int] = set()  # day starts whose partition exists
        with self._lock:
            self._open()

    # connection

    def _open(self) -> None:
        if self.postgres:
            try:
                import psycopg
            except ImportError:
                raise StorageError("a PostgreSQL URL needs the psycopg package (pip install 'psycopg[binary]')") from None
            if credentials_unclear(self.url):
                raise StorageError("database URL: write '@', '/', '?' and '#' in its user name or password as "
                                   "%40, %2F, %3F and %23")
            try:
                # psycopg's default, written out; a bound for a server that never answers, which no test here has
                self._db = psycopg.connect(self.url, autocommit=False, connect_timeout=5)  # pragma: no mutate
            except psycopg.Error as error:
                raise StorageError(f"cannot connect to {database_address(self.url)}: {error}") from None
        else:
            path = sqlite_file(self.url)
            path.parent.mkdir(parents=True, exist_ok=True)
            # a bound for another writer (collectors sharing one file wait for each other): no test holds a lock so long
            self._db = sqlite3.connect(path, check_same_thread=False, timeout=30)  # pragma: no mutate
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
        cursor = self._db.cursor()
        if self.postgres:  # one writer creates the schema at a time
            cursor.execute("SELECT pg_advisory_xact_lock(726374)")
        statements = tables(self.postgres)
        for statement in statements:  # tables first: an older database gains its new columns before the indexes
            if statement.startswith("CREATE TABLE"):
                cursor.execute(statement)
        self._add_missing_columns(cursor)
        for statement in statements:
            if not statement.startswith("CREATE TABLE"):
                cursor.execute(statement)
        if self.postgres:
            cursor.execute("CREATE TEMP TABLE IF NOT EXISTS staging AS SELECT * FROM events WITH NO DATA")
        self._db.commit()
        self._partitions.clear()

    def _add_missing_columns(self, cursor) -> None:
        for table, column, kind in ADDED_COLUMNS:
            if self.postgres:
                cursor.execute(f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS {column} {kind}")
            else:
                present = {row[1] for row in cursor.execute(f"PRAGMA table_info({table})").fetchall()}
                if column not in present:
                    cursor.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")

    @contextmanager
    def _cursor(self) -> Iterator[Any]:
        """A cursor in one transaction: committed on success, rolled back on failure; a broken
        PostgreSQL connection is opened again by the next call."""
        with self._lock:
            if self._db is None or (self.postgres and (self._db.closed or self._db.broken)):
                self._open()
            cursor = self._db.cursor()
            try:
                yield cursor
                self._db.commit()
            except BaseException:
                try:
                    self._db.rollback()  # PostgreSQL refuses every later statement until the failed one is rolled back
                except Exception:
                    pass  # the connection is gone; the next call opens a new one
                raise

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    def _sql(self, text: str) -> str:
        return text.replace("?", self.placeholder)

    # events

    def insert_events(self, messages: list[dict[str, Any]], texts: list[str | None] | None = None) -> int:
        """Insert (ignoring ones already stored); returns how many were new. One transaction for all,
        the hourly counters included. `texts`: each message's JSON as received, where it is stored as is."""
        stored = time.time()
        rows = [event_row(m, stored, t) for m, t in zip(messages, texts or [None] * len(messages), strict=True)]
        by_id = {m["event_id"]: m for m in messages}
        made: set[int] = set()
        with self._cursor() as cursor:
            if self.postgres:
                made = self._make_partitions(cursor, {row[4] for row in rows})
                new_ids = self._insert_postgres(cursor, rows)
            else:
                new_ids = self._insert_sqlite(cursor, rows)
            self._count_hours(cursor, [by_id[event_id] for event_id in new_ids])
        # only once committed: a batch rolled back takes the partitions it made with it, and a day cached
        # without its partition sent every later event of that day to quarantine
        self._partitions.update(made)
        return len(new_ids)

    def _insert_postgres(self, cursor, rows: list[tuple]) -> list[str]:
        columns = ", ".join(EVENT_COLUMNS)
        with cursor.copy(f"COPY staging ({columns}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        cursor.execute(f"INSERT INTO events ({columns}) SELECT {columns} FROM staging "
                       "ON CONFLICT DO NOTHING RETURNING event_id")
        new_ids = [row[0] for row in cursor.fetchall()]
        cursor.execute("TRUNCATE staging")
        return new_ids

    def _insert_sqlite(self, cursor, rows: list[tuple]) -> list[str]:
        sql = f"INSERT INTO events ({', '.join(EVENT_COLUMNS)}) VALUES ({', '.join('?' * len(EVENT_COLUMNS))}) " \
              "ON CONFLICT(event_id) DO NOTHING"
        new_ids = []
        for row in rows:
            if cursor.execute(sql, row).rowcount:
                new_ids.append(row[0])
        return new_ids

    def _make_partitions(self, cursor, times: set[float]) -> set[int]:
        """The days of `times` not known to have a partition, each made if missing (IF NOT EXISTS: another
        collector may have made it); returns them, to be cached once the transaction commits."""
        days = {int(t) // DAY_S * DAY_S for t in times} - self._partitions
        for day in sorted(days):
            cursor.execute(f"CREATE TABLE IF NOT EXISTS events_d{day // DAY_S} PARTITION OF events "
                           f"FOR VALUES FROM ({day}) TO ({day + DAY_S})")
        return days

    def _count_hours(self, cursor, messages: list[dict[str, Any]]) -> None:
        counts: Counter = Counter()
        for message in messages:
            hour = int(float(message.get("time", 0))) // 3600 * 3600  # pragma: no mutate (0 and 1 are one hour)
            # the collector's events carry their topic's site and gate; one without is counted under "", which no
            # filter names (so no other default could be told from it)
            site, gate = str(message.get("site", "")), str(message.get("gate", ""))  # pragma: no mutate
            for metric in metrics(message):
                counts[(site, gate, hour, metric)] += 1
        if not counts:
            return
        rows = [(*key, n) for key, n in sorted(counts.items())]  # sorted: concurrent collectors lock rows in one order
        upsert = "ON CONFLICT (site, gate, hour, metric) DO UPDATE SET count = hourly_counts.count + excluded.count"
        if self.postgres:  # one statement for the batch: a row each through executemany cost the writer a tenth
            cursor.execute("INSERT INTO hourly_counts(site, gate, hour, metric, count) SELECT * FROM "
                           f"unnest(%s::text[], %s::text[], %s::bigint[], %s::text[], %s::bigint[]) {upsert}",
                           [list(column) for column in zip(*rows)])
        else:
            cursor.executemany("INSERT INTO hourly_counts(site, gate, hour, metric, count) VALUES (?, ?, ?, ?, ?) "
                               + upsert, rows)

    def drop_before(self, cutoff: float) -> int:
        """Retention: events older than `cutoff` go (on PostgreSQL, whole days: their partitions are
        dropped); the hourly counters stay. Returns partitions dropped, or rows deleted on SQLite."""
        with self._cursor() as cursor:
            cursor.execute(self._sql("DELETE FROM snapshots WHERE time < ?"), (cutoff,))
            if not self.postgres:
                cursor.execute("DELETE FROM events WHERE time < ?", (cutoff,))
                return int(cursor.rowcount)
            cursor.execute("SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                           "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = 'events'")
            dropped = 0
            for (name,) in cursor.fetchall():
                day = int(name.removeprefix("events_d")) * DAY_S
                if day + DAY_S <= cutoff:
                    cursor.execute(f"DROP TABLE {name}")
                    self._partitions.discard(day)
                    dropped += 1
            return dropped

    def events(self, *, site: str | None = None, gate: str | None = None, kind: str | None = None,
               since: float = 0.0, limit: int = 1000) -> list[dict[str, Any]]:
        """Oldest first (exports, `collector events`)."""
        return [json.loads(payload) for payload, _ in
                self._select_events(dict(site=site, gate=gate, kind=kind), since, None, OLDEST_FIRST, limit)]

    def search(self, *, site: str | None = None, gate: str | None = None, kind: str | None = None,
               resident: str | None = None, pass_id: str | None = None, since: float = 0.0,
               until: float | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """Newest first: events by gate, kind, resident or pass within a time range."""
        rows = self._select_events(dict(site=site, gate=gate, kind=kind, resident_id=resident, pass_id=pass_id),
                                   since, until, NEWEST_FIRST, limit)
        return [{**json.loads(payload), "stored": stored} for payload, stored in rows]

    def _select_events(self, equal: dict[str, str | None], since: float, until: float | None, order: str,
                       limit: int) -> list[tuple[str, float | None]]:
        sql = "SELECT payload, stored FROM events WHERE time >= ?"
        params: list[Any] = [since]
        if until is not None:
            sql += " AND time < ?"
            params.append(until)
        for column, value in equal.items():  # column names are this module's own, never the caller's
            if value:
                sql += f" AND {column} = ?"
                params.append(value)
        with self._cursor() as cursor:
            cursor.execute(self._sql(f"{sql} ORDER BY {order} LIMIT ?"), [*params, limit])
            return [(row[0], row[1]) for row in cursor.fetchall()]

    def ping(self) -> None:
        """A trivial query: raises if the database does not answer."""
        with self._cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()

    def count(self) -> int:
        with self._cursor() as cursor:
            cursor.execute("SELECT COUNT(*) FROM events")
            return int(cursor.fetchone()[0])

    def batches(self, *, since: float) -> list[tuple[float, int]]:
        """(time the batch was written, rows) of each batch stored since `since`, oldest first."""
        with self._cursor() as cursor:
            cursor.execute(self._sql("SELECT stored, COUNT(*) FROM events WHERE stored >= ? GROUP BY stored ORDER BY stored"),
                           (since,))
            return [(float(row[0]), int(row[1])) for row in cursor.fetchall()]

    def lag(self, *, since: float = 0.0) -> list[float]:
        """Seconds from each event's time at its gate to its row committed here."""
        with self._cursor() as cursor:
            cursor.execute(self._sql("SELECT stored - time FROM events WHERE time >= ? AND stored IS NOT NULL"),
                           (since,))
            return [float(row[0]) for row in cursor.fetchall()]

    # refused messages

    def quarantine(self, topic: str, payload: bytes, reason: str, received: float) -> None:
        """Keep a refused message as text (bytes that are not UTF-8 escaped), at most 64 KB of it."""
        text = payload[:65536].decode(errors="backslashreplace").replace("\x00", "\\x00")  # UTF-8; other bytes escaped
        with self._cursor() as cursor:
            cursor.execute(self._sql("INSERT INTO quarantine(received, topic, payload, reason) VALUES (?, ?, ?, ?)"),
                           (received, topic.replace("\x00", "")[:512], text, reason.replace("\x00", "")[:512]))

    def quarantined(self, limit: int = 100) -> list[tuple[float, str, str, str]]:
        with self._cursor() as cursor:
            cursor.execute(self._sql("SELECT received, topic, payload, reason FROM quarantine ORDER BY received DESC "
                                     "LIMIT ?"), (limit,))
            return [tuple(row) for row in cursor.fetchall()]

    # gates: status, telemetry

    def set_statuses(self, rows: list[tuple[str, str, str]], time: float) -> None:
        """(site, gate, status) of several gates, in one transaction."""
        with self._cursor() as cursor:
            cursor.executemany(self._sql("INSERT INTO gate_status(site, gate, status, time) VALUES (?, ?, ?, ?) "
                                         "ON CONFLICT (site, gate) DO UPDATE SET status = excluded.status, "
                                         "time = excluded.time"), [(*row, time) for row in rows])

    def add_telemetry(self, reports: list[tuple[str, str, dict[str, tuple[float, float]], dict[str, str], int, float]],
                      time: float) -> None:
        """(site, gate, stage timings, faults, outbox, fps) reports, in one transaction: each gate's
        latest health, and its timings folded into the hour."""
        latest = {(site, gate): (faults, outbox, fps) for site, gate, _, faults, outbox, fps in reports}
        with self._cursor() as cursor:
            cursor.executemany(self._sql("INSERT INTO gate_health(site, gate, time, faults, outbox, fps) "
                                         "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (site, gate) DO UPDATE SET "
                                         "time = excluded.time, faults = excluded.faults, outbox = excluded.outbox, "
                                         "fps = excluded.fps"),
                               [(site, gate, time, json.dumps(faults, ensure_ascii=False), outbox, fps)
                                for (site, gate), (faults, outbox, fps) in sorted(latest.items())])
            self._fold_timings(cursor, [(site, gate, timings) for site, gate, timings, *_ in reports], time)

    def _fold_timings(self, cursor, reports: list[tuple[str, str, dict[str, tuple[float, float]]]],
                      time: float) -> None:
        hour = int(time) // 3600 * 3600
        folded: dict[tuple[str, str, str], list[float]] = {}  # reports, p50 sum, worst p95
        for site, gate, timings in reports:
            for stage, (p50, p95) in timings.items():
                row = folded.setdefault((site, gate, stage), [0, 0.0, 0.0])
                row[0] += 1
                row[1] += p50
                row[2] = max(row[2], p95)
        larger = "GREATEST" if self.postgres else "MAX"
        cursor.executemany(self._sql(
            "INSERT INTO stage_timings(site, gate, hour, stage, reports, p50_sum, p95_max) "
            "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (site, gate, hour, stage) DO UPDATE SET "
            "reports = stage_timings.reports + excluded.reports, p50_sum = stage_timings.p50_sum + excluded.p50_sum, "
            f"p95_max = {larger}(stage_timings.p95_max, excluded.p95_max)"),
            [(site, gate, hour, stage, n, p50_sum, p95) for (site, gate, stage), (n, p50_sum, p95) in sorted(folded.items())])

    def stage_timings(self, *, site: str | None = None, gate: str | None = None,
                      since: float = 0.0,  # pragma: no mutate (rounded down to its hour: 0 and 1 are one)
                      ) -> list[tuple[str, str, int, str, float, float]]:
        """(site, gate, hour, stage, mean p50, worst p95) rows."""
        sql, params = _hours_of("SELECT site, gate, hour, stage, p50_sum / reports, p95_max FROM stage_timings "
                                "WHERE hour >= ?", since, site, gate)
        with self._cursor() as cursor:
            cursor.execute(self._sql(sql + " ORDER BY site, gate, hour, stage"), params)
            return [(row[0], row[1], int(row[2]), row[3], float(row[4]), float(row[5])) for row in cursor.fetchall()]

    def gates(self) -> list[GateRow]:
        """Every gate heard of: its status, when last heard, open faults and outbox depth."""
        with self._cursor() as cursor:
            cursor.execute("SELECT COALESCE(s.site, h.site), COALESCE(s.gate, h.gate), s.status, s.time, h.time, "
                           "h.faults, h.outbox, h.fps FROM gate_status s FULL OUTER JOIN gate_health h "
                           "ON s.site = h.site AND s.gate = h.gate" if self.postgres else
                           "SELECT site, gate, MAX(status), MAX(status_time), MAX(health_time), MAX(faults), "
                           "MAX(outbox), MAX(fps) FROM (SELECT site, gate, status, time AS status_time, "
                           "NULL AS health_time, NULL AS faults, NULL AS outbox, NULL AS fps FROM gate_status "
                           "UNION ALL SELECT site, gate, NULL, NULL, time, faults, outbox, fps FROM gate_health) "
                           "GROUP BY site, gate")
            rows = cursor.fetchall()
        gates = []
        for site, gate, status, status_time, health_time, faults, outbox, fps in rows:
            last_seen = max(t for t in (status_time, health_time) if t is not None)  # each row has one or both
            gates.append(GateRow(site, gate, status or "unknown", last_seen, json.loads(faults) if faults else {},
                                 outbox, fps))
        return sorted(gates, key=lambda g: (g.site, g.gate))

    # the fleet view

    def hourly_counts(self, *, site: str | None = None, gate: str | None = None,
                      since: float = 0.0,  # pragma: no mutate (rounded down to its hour: 0 and 1 are one)
                      ) -> list[tuple[int, str, int]]:
        """(hour, metric, count) summed over the gates chosen."""
        sql, params = _hours_of("SELECT hour, metric, SUM(count) FROM hourly_counts WHERE hour >= ?", since, site,
                                gate)
        with self._cursor() as cursor:
            cursor.execute(self._sql(sql + " GROUP BY hour, metric ORDER BY hour, metric"), params)
            return [(int(hour), metric, int(count)) for hour, metric, count in cursor.fetchall()]

    def alarms(self, *, since: float = 0.0, limit: int = 50) -> list[dict[str, Any]]:
        """The newest alarms, each with who acknowledged it (None while open)."""
        with self._cursor() as cursor:
            cursor.execute(self._sql("SELECT e.payload, a.operator, a.time FROM events e LEFT JOIN alarm_acks a "
                                     "ON a.event_id = e.event_id WHERE e.kind = 'alarm' AND e.time >= ? "
                                     "ORDER BY e.time DESC LIMIT ?"), (since, limit))
            return [{**json.loads(payload), "acknowledged_by": operator, "acknowledged_at": at}
                    for payload, operator, at in cursor.fetchall()]

    def acknowledge_alarm(self, event_id: str, operator: str, when: float) -> bool:
        """False if there is no such alarm or it was acknowledged already."""
        with self._cursor() as cursor:
            cursor.execute(self._sql("SELECT 1 FROM events WHERE event_id = ? AND kind = 'alarm'"), (event_id,))
            if cursor.fetchone() is None:
                return False
            cursor.execute(self._sql("INSERT INTO alarm_acks(event_id, operator, time) VALUES (?, ?, ?) "
                                     "ON CONFLICT (event_id) DO NOTHING"), (event_id, operator, when))
            return bool(cursor.rowcount)


def _hours_of(sql: str, since: float, site: str | None, gate: str | None) -> tuple[str, list[Any]]:
    """`sql` (WHERE hour >= ?) narrowed to the site and gate chosen, and its parameters: `since` to its hour."""
    params: list[Any] = [int(since) // 3600 * 3600]
    for column, value in (("site", site), ("gate", gate)):  # pragma: no mutate (SQL reads a name in any case)
        if value:
            sql += f" AND {column} = ?"
            params.append(value)
    return sql, params
