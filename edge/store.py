"""The gate's state: one SQLite database in WAL mode under the state directory.

Residents, face templates, passes, events and the outbox of events not yet delivered live in
one file, changed only through this module. Every event is written to `events` and `outbox` in
one transaction with synchronous=FULL, so a power cut or SIGKILL never loses a committed one.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge.errors import StorageError
from edge.events import Event

log = logging.getLogger(__name__)

DB_NAME = "gatepost.db"
BUSY_TIMEOUT_S = 1.0  # a write lock held longer (another process) fails the write: the gate stays shut, not stalled

# Each entry moves the schema one version up, a list of statements; never edit one that has shipped.
MIGRATIONS: list[list[str]] = [
    [
        """CREATE TABLE residents (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            name TEXT NOT NULL,
            unit TEXT NOT NULL DEFAULT '',
            created REAL NOT NULL
        )""",
        """CREATE TABLE templates (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            resident_id INTEGER NOT NULL REFERENCES residents(id) ON DELETE CASCADE,
            embedding BLOB NOT NULL,
            quality REAL NOT NULL DEFAULT 0,
            negative INTEGER NOT NULL DEFAULT 0,
            source TEXT NOT NULL DEFAULT '',
            created REAL NOT NULL
        )""",
        "CREATE INDEX templates_resident ON templates(resident_id)",
        """CREATE TABLE passes (
            pass_id TEXT PRIMARY KEY,
            holder TEXT NOT NULL,
            token TEXT NOT NULL,
            valid_from REAL NOT NULL,
            valid_until REAL NOT NULL,
            max_uses INTEGER NOT NULL,
            uses INTEGER NOT NULL DEFAULT 0,
            revoked INTEGER NOT NULL DEFAULT 0,
            created REAL NOT NULL
        )""",
        """CREATE TABLE events (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            event_id TEXT NOT NULL UNIQUE,
            kind TEXT NOT NULL,
            time REAL NOT NULL,
            payload TEXT NOT NULL
        )""",
        "CREATE INDEX events_time ON events(time)",
        """CREATE TABLE outbox (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            event_id TEXT NOT NULL UNIQUE,
            topic TEXT NOT NULL,
            payload TEXT NOT NULL,
            created REAL NOT NULL
        )""",
        """CREATE TABLE meta (
            key TEXT PRIMARY KEY,
            value TEXT NOT NULL
        )""",
        "INSERT INTO meta(key, value) VALUES ('gallery_version', '0')",
    ],
    [
        "ALTER TABLE outbox ADD COLUMN kind TEXT NOT NULL DEFAULT 'event'",
        "ALTER TABLE outbox ADD COLUMN qos INTEGER NOT NULL DEFAULT 1",
        "ALTER TABLE outbox ADD COLUMN sent_at REAL",
        "CREATE INDEX outbox_kind ON outbox(kind, seq)",
        "ALTER TABLE residents ADD COLUMN uid TEXT",
        "ALTER TABLE residents ADD COLUMN record_version INTEGER NOT NULL DEFAULT 0",
        "CREATE UNIQUE INDEX residents_uid ON residents(uid)",
        """CREATE TABLE removed_residents (
            uid TEXT PRIMARY KEY,
            record_version INTEGER NOT NULL
        )""",
        """CREATE TABLE nonces (
            nonce TEXT PRIMARY KEY,
            seen REAL NOT NULL
        )""",
    ],
    [
        """CREATE TABLE guards (
            guard_id TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            pin_hash BLOB NOT NULL,
            salt BLOB NOT NULL,
            failed INTEGER NOT NULL DEFAULT 0,
            locked_until REAL NOT NULL DEFAULT 0,
            created REAL NOT NULL
        )""",
    ],
    [
        """CREATE TABLE visit_scores (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            score REAL NOT NULL,
            residents INTEGER NOT NULL,
            time REAL NOT NULL
        )""",
    ],
]


def _row_id(cursor: sqlite3.Cursor) -> int:
    """The id SQLite gave the row just inserted."""
    if cursor.lastrowid is None:
        raise StorageError("the database gave no id for a new row")
    return int(cursor.lastrowid)


@dataclass(frozen=True)
class Resident:
    id: int
    name: str
    unit: str
    templates: int
    uid: str = ""
    record_version: int = 0


@dataclass(frozen=True)
class Gallery:
    """Templates as one matrix for 1:N search; `owners[i]` is the resident of row i."""

    embeddings: np.ndarray  # (n, d) float32, L2-normalised
    owners: np.ndarray  # (n,) int64
    negative: np.ndarray  # (n,) bool: templates marked "not this person" for their owner
    names: dict[int, str]
    version: int


@dataclass(frozen=True)
class OutboxItem:
    seq: int
    event_id: str
    topic: str
    payload: str
    qos: int = 1


class Store:
    def __init__(self, state_dir: str | Path, *, clock=time.time) -> None:
        self.path = Path(state_dir) / DB_NAME
        self._clock = clock
        self._lock = threading.RLock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None,
                                       timeout=BUSY_TIMEOUT_S)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("PRAGMA foreign_keys=ON")
            self._migrate()
        except sqlite3.DatabaseError as error:
            raise StorageError(f"{self.path}: cannot open the state database ({error})") from None
        except OSError as error:
            raise StorageError(f"{self.path.parent}: cannot create the state directory ({error})") from None

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None  # type: ignore[assignment]

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """One transaction; a database that is locked, full or corrupt is a StorageError in one line."""
        with self._lock:
            if self._db is None:
                raise StorageError(f"{self.path}: store used after close()")
            try:
                self._db.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as error:
                raise StorageError(f"{self.path}: {error}") from None
            try:
                yield self._db
                self._db.execute("COMMIT")
            except BaseException as error:
                try:
                    self._db.execute("ROLLBACK")
                except sqlite3.Error:
                    pass  # the transaction may already be gone (disk full, I/O error)
                if isinstance(error, sqlite3.Error):
                    raise StorageError(f"{self.path}: {error}") from None
                raise

    def _query(self, sql: str, params: tuple = ()) -> list[tuple]:
        with self._lock:
            if self._db is None:
                raise StorageError(f"{self.path}: store used after close()")
            try:
                return self._db.execute(sql, params).fetchall()
            except sqlite3.Error as error:
                raise StorageError(f"{self.path}: {error}") from None

    def _migrate(self) -> None:
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        if version > len(MIGRATIONS):
            raise StorageError(f"{self.path}: schema version {version} is newer than this gatepost "
                               f"({len(MIGRATIONS)}); upgrade gatepost")
        for number in range(version, len(MIGRATIONS)):
            with self._transaction() as db:
                for statement in MIGRATIONS[number]:
                    db.execute(statement)
                db.execute(f"PRAGMA user_version = {number + 1}")
            log.info("state database migrated to schema %d", number + 1)

    @property
    def schema_version(self) -> int:
        return self._query("PRAGMA user_version")[0][0]

    # residents and templates

    def add_resident(self, name: str, unit: str, embeddings: list[np.ndarray], qualities: list[float],
                     sources: list[str], *, uid: str | None = None, record_version: int = 1) -> int:
        """One resident and all their templates in one transaction: nothing partial is stored."""
        if not embeddings:
            raise StorageError("a resident needs at least one template")
        with self._transaction() as db:
            cursor = db.execute("INSERT INTO residents(name, unit, created, uid, record_version) VALUES (?, ?, ?, ?, ?)",
                                (name, unit, self._clock(), uid or uuid.uuid4().hex, record_version))
            resident_id = _row_id(cursor)
            for embedding, quality, source in zip(embeddings, qualities, sources, strict=True):
                self._insert_template(db, resident_id, embedding, quality, source, negative=False)
            self._bump_gallery(db)
        return resident_id

    def add_templates(self, resident_id: int, embeddings: list[np.ndarray], qualities: list[float],
                      sources: list[str], *, negative: bool = False) -> None:
        with self._transaction() as db:
            if not db.execute("SELECT 1 FROM residents WHERE id = ?", (resident_id,)).fetchone():
                raise StorageError(f"no resident with id {resident_id}")
            for embedding, quality, source in zip(embeddings, qualities, sources, strict=True):
                self._insert_template(db, resident_id, embedding, quality, source, negative=negative)
            self._bump_gallery(db)

    def _insert_template(self, db: sqlite3.Connection, resident_id: int, embedding: np.ndarray,
                         quality: float, source: str, *, negative: bool) -> None:
        vector = np.asarray(embedding, dtype=np.float32).ravel()
        db.execute("INSERT INTO templates(resident_id, embedding, quality, negative, source, created) "
                   "VALUES (?, ?, ?, ?, ?, ?)",
                   (resident_id, vector.tobytes(), float(quality), int(negative), source, self._clock()))

    def remove_resident(self, resident_id: int) -> bool:
        """Remove a resident by any local path; a tombstone one version up stops any older record bringing them back."""
        with self._transaction() as db:
            row = db.execute("SELECT uid, record_version FROM residents WHERE id = ?", (resident_id,)).fetchone()
            if row is None:
                return False
            db.execute("DELETE FROM residents WHERE id = ?", (resident_id,))
            db.execute("INSERT OR REPLACE INTO removed_residents(uid, record_version) VALUES (?, ?)",
                       (row[0], int(row[1]) + 1))
            self._bump_gallery(db)
        return True

    def apply_resident_record(self, uid: str, version: int, *, name: str = "", unit: str = "",
                              embeddings: list[np.ndarray] | None = None) -> bool:
        """A site-wide resident record (added, changed, or removed when `embeddings` is None).

        Applied only if newer than what this gate holds for `uid`, so replays and out-of-order
        deliveries change nothing. Returns whether it was applied.
        """
        with self._transaction() as db:
            held = db.execute("SELECT MAX(v) FROM (SELECT record_version AS v FROM residents WHERE uid = ? "
                              "UNION ALL SELECT record_version FROM removed_residents WHERE uid = ?)",
                              (uid, uid)).fetchone()[0]
            if held is not None and held >= version:
                return False
            db.execute("DELETE FROM residents WHERE uid = ?", (uid,))
            if embeddings is None:
                db.execute("INSERT OR REPLACE INTO removed_residents(uid, record_version) VALUES (?, ?)", (uid, version))
            else:
                db.execute("DELETE FROM removed_residents WHERE uid = ?", (uid,))
                cursor = db.execute("INSERT INTO residents(name, unit, created, uid, record_version) VALUES (?, ?, ?, ?, ?)",
                                    (name, unit, self._clock(), uid, version))
                for embedding in embeddings:
                    self._insert_template(db, _row_id(cursor), embedding, 0.0, "site record", negative=False)
            self._bump_gallery(db)
        return True

    def resident_by_uid(self, uid: str) -> Resident | None:
        return next((r for r in self.residents() if r.uid == uid), None)

    def find_residents(self, name: str) -> list[Resident]:
        return [r for r in self.residents() if r.name == name]

    def residents(self) -> list[Resident]:
        rows = self._query(
            "SELECT r.id, r.name, r.unit, COUNT(t.id), r.uid, r.record_version FROM residents r "
            "LEFT JOIN templates t ON t.resident_id = r.id AND t.negative = 0 GROUP BY r.id ORDER BY r.id")
        return [Resident(*row) for row in rows]

    def gallery(self) -> Gallery:
        with self._lock:
            rows = self._query("SELECT resident_id, embedding, negative FROM templates ORDER BY id")
            names = dict(self._query("SELECT id, name FROM residents"))
            version = self.gallery_version
        if rows:
            embeddings = np.stack([np.frombuffer(blob, dtype=np.float32) for _, blob, _ in rows])
        else:
            embeddings = np.zeros((0, 0), dtype=np.float32)
        owners = np.array([row[0] for row in rows], dtype=np.int64)
        negative = np.array([bool(row[2]) for row in rows], dtype=bool)
        return Gallery(embeddings, owners, negative, names, version)

    @property
    def gallery_version(self) -> int:
        return int(self._query("SELECT value FROM meta WHERE key = 'gallery_version'")[0][0])

    def _bump_gallery(self, db: sqlite3.Connection) -> None:
        db.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'gallery_version'")

    # scores of recognised visits against the other residents: how strangers look through this camera

    def add_visit_score(self, score: float, residents: int, *, keep: int = 5000) -> None:
        with self._transaction() as db:
            db.execute("INSERT INTO visit_scores(score, residents, time) VALUES (?, ?, ?)",
                       (float(score), int(residents), self._clock()))
            db.execute("DELETE FROM visit_scores WHERE id <= (SELECT MAX(id) FROM visit_scores) - ?", (keep,))

    def visit_scores(self, limit: int) -> list[tuple[float, int]]:
        """The newest `limit` runner-up scores, each with the number of residents when it was taken."""
        return [(float(s), int(n)) for s, n in
                self._query("SELECT score, residents FROM visit_scores ORDER BY id DESC LIMIT ?", (limit,))]

    def visit_score_count(self) -> int:
        return int(self._query("SELECT COALESCE(MAX(id), 0) FROM visit_scores")[0][0])

    # events and the outbox

    def record_event(self, event: Event, topic: str) -> None:
        """The event and its outbox entry, committed together before anyone publishes it."""
        payload = event.to_json()
        with self._transaction() as db:
            db.execute("INSERT INTO events(event_id, kind, time, payload) VALUES (?, ?, ?, ?)",
                       (event.event_id, event.kind.value, event.time, payload))
            db.execute("INSERT INTO outbox(event_id, topic, payload, created, kind) VALUES (?, ?, ?, ?, 'event')",
                       (event.event_id, topic, payload, self._clock()))

    def queue_telemetry(self, message_id: str, topic: str, payload: str) -> None:
        """Telemetry goes through the outbox too, but is the first thing dropped when it is full."""
        with self._transaction() as db:
            db.execute("INSERT INTO outbox(event_id, topic, payload, created, kind, qos) VALUES (?, ?, ?, ?, 'telemetry', 0)",
                       (message_id, topic, payload, self._clock()))

    def outbox_bytes(self) -> int:
        return int(self._query("SELECT COALESCE(SUM(LENGTH(payload) + LENGTH(topic) + 64), 0) FROM outbox")[0][0])

    def enforce_outbox_limit(self, max_bytes: int) -> dict[str, int]:
        """Drop the oldest telemetry, then (only if still over) the oldest events; counts dropped by kind."""
        dropped = {"telemetry": 0, "event": 0}
        with self._transaction() as db:
            size = int(db.execute("SELECT COALESCE(SUM(LENGTH(payload) + LENGTH(topic) + 64), 0) FROM outbox")
                       .fetchone()[0])
            for kind in ("telemetry", "event"):
                while size > max_bytes:
                    rows = db.execute("SELECT seq, LENGTH(payload) + LENGTH(topic) + 64 FROM outbox WHERE kind = ? "
                                      "ORDER BY seq LIMIT 100", (kind,)).fetchall()
                    if not rows:
                        break
                    for seq, length in rows:
                        if size <= max_bytes:
                            break
                        db.execute("DELETE FROM outbox WHERE seq = ?", (seq,))
                        size -= length
                        dropped[kind] += 1
        return dropped

    def events(self, *, since: float = 0.0, kind: str | None = None, limit: int = 1000) -> list[dict]:
        sql = "SELECT payload FROM events WHERE time >= ?"
        params: list = [since]
        if kind:
            sql += " AND kind = ?"
            params.append(kind)
        sql += " ORDER BY seq LIMIT ?"
        params.append(limit)
        return [json.loads(row[0]) for row in self._query(sql, tuple(params))]

    def latest_events(self, count: int) -> list[dict]:
        """The newest `count` events, oldest first."""
        rows = self._query("SELECT payload FROM events ORDER BY seq DESC LIMIT ?", (count,))
        return [json.loads(row[0]) for row in reversed(rows)]

    def event_count(self) -> int:
        return self._query("SELECT COUNT(*) FROM events")[0][0]

    def outbox_pending(self, limit: int = 100) -> list[OutboxItem]:
        """Entries not yet published (or due again), oldest first."""
        rows = self._query("SELECT seq, event_id, topic, payload, qos FROM outbox WHERE sent_at IS NULL "
                           "ORDER BY seq LIMIT ?", (limit,))
        return [OutboxItem(*row) for row in rows]

    def outbox_sent(self, event_ids: list[str], when: float) -> None:
        """The broker has them; they stay until the collector confirms it stored them."""
        with self._transaction() as db:
            db.executemany("UPDATE outbox SET sent_at = ? WHERE event_id = ?", [(when, i) for i in event_ids])

    def outbox_resend_unconfirmed(self, older_than: float) -> int:
        """Entries the broker took but no collector confirmed in time are published again."""
        with self._transaction() as db:
            return db.execute("UPDATE outbox SET sent_at = NULL WHERE sent_at < ?", (older_than,)).rowcount

    def outbox_size(self) -> int:
        return self._query("SELECT COUNT(*) FROM outbox")[0][0]

    def outbox_delivered(self, event_ids: list[str]) -> int:
        """Entries settled for good; returns how many the outbox held (a confirmation may repeat or name others)."""
        with self._transaction() as db:
            return db.executemany("DELETE FROM outbox WHERE event_id = ?",
                                  [(event_id,) for event_id in event_ids]).rowcount

    # passes

    def remember_pass(self, claims, token: str) -> None:
        """Note a pass this gate has seen (for use counts and listing); keeps counts and revocation."""
        with self._transaction() as db:
            db.execute("INSERT INTO passes(pass_id, holder, token, valid_from, valid_until, max_uses, created) "
                       "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(pass_id) DO UPDATE SET holder = excluded.holder, "
                       "token = excluded.token, valid_from = excluded.valid_from, "
                       "valid_until = excluded.valid_until, max_uses = excluded.max_uses",
                       (claims.pid, claims.holder, token, claims.nbf, claims.exp, claims.uses, self._clock()))

    def pass_state(self, pass_id: str) -> dict | None:
        rows = self._query("SELECT uses, revoked, max_uses FROM passes WHERE pass_id = ?", (pass_id,))
        return {"uses": rows[0][0], "revoked": bool(rows[0][1]), "max_uses": rows[0][2]} if rows else None

    def count_pass_use(self, pass_id: str) -> None:
        with self._transaction() as db:
            db.execute("UPDATE passes SET uses = uses + 1 WHERE pass_id = ?", (pass_id,))

    def revoke_pass(self, pass_id: str) -> None:
        """Revoked here even if this gate has never seen the pass."""
        with self._transaction() as db:
            db.execute("INSERT INTO passes(pass_id, holder, token, valid_from, valid_until, max_uses, revoked, created) "
                       "VALUES (?, '', '', 0, 0, 0, 1, ?) ON CONFLICT(pass_id) DO UPDATE SET revoked = 1",
                       (pass_id, self._clock()))

    def passes(self) -> list[dict]:
        rows = self._query("SELECT pass_id, holder, valid_from, valid_until, max_uses, uses, revoked FROM passes "
                           "ORDER BY created")
        keys = ("pass_id", "holder", "valid_from", "valid_until", "max_uses", "uses", "revoked")
        return [dict(zip(keys, row)) for row in rows]

    # guards

    def set_guard(self, guard_id: str, name: str, pin_hash: bytes, salt: bytes) -> None:
        with self._transaction() as db:
            db.execute("INSERT INTO guards(guard_id, name, pin_hash, salt, created) VALUES (?, ?, ?, ?, ?) "
                       "ON CONFLICT(guard_id) DO UPDATE SET name = excluded.name, pin_hash = excluded.pin_hash, "
                       "salt = excluded.salt, failed = 0, locked_until = 0",
                       (guard_id, name, pin_hash, salt, self._clock()))

    def remove_guard(self, guard_id: str) -> bool:
        with self._transaction() as db:
            return db.execute("DELETE FROM guards WHERE guard_id = ?", (guard_id,)).rowcount > 0

    def guard(self, guard_id: str) -> dict | None:
        rows = self._query("SELECT guard_id, name, pin_hash, salt, failed, locked_until FROM guards WHERE guard_id = ?",
                           (guard_id,))
        keys = ("guard_id", "name", "pin_hash", "salt", "failed", "locked_until")
        return dict(zip(keys, rows[0])) if rows else None

    def guards(self) -> list[dict]:
        return [{"guard_id": g, "name": n} for g, n in self._query("SELECT guard_id, name FROM guards ORDER BY guard_id")]

    def record_pin_attempt(self, guard_id: str, ok: bool, *, max_failures: int, lockout_s: float,
                           now: float | None = None) -> None:
        """Count a failure (locking the guard out at `max_failures`) or reset the count; `now` on the caller's clock."""
        with self._transaction() as db:
            if ok:
                db.execute("UPDATE guards SET failed = 0 WHERE guard_id = ?", (guard_id,))
                return
            db.execute("UPDATE guards SET failed = failed + 1 WHERE guard_id = ?", (guard_id,))
            db.execute("UPDATE guards SET locked_until = ?, failed = 0 WHERE guard_id = ? AND failed >= ?",
                       ((self._clock() if now is None else now) + lockout_s, guard_id, max_failures))

    def remember_nonce(self, nonce: str, now: float, *, keep_s: float) -> bool:
        """True the first time a nonce is seen (within `keep_s`); False for a replay."""
        with self._transaction() as db:
            db.execute("DELETE FROM nonces WHERE seen < ?", (now - keep_s,))
            try:
                db.execute("INSERT INTO nonces(nonce, seen) VALUES (?, ?)", (nonce, now))
            except sqlite3.IntegrityError:
                return False
        return True

    def prune_events(self, older_than: float) -> int:
        """Delete delivered events older than `older_than`; undelivered ones stay."""
        with self._transaction() as db:
            return db.execute("DELETE FROM events WHERE time < ? AND event_id NOT IN "
                              "(SELECT event_id FROM outbox)", (older_than,)).rowcount
