"""The gate's state database: one SQLite file in WAL mode under the state directory.

`Database` owns the connection, its lock, transactions and the schema's migrations; each concern
(residents, events and outbox, passes, guards, command nonces) is a class of its own over it.
Every write is one transaction with synchronous=FULL, so a power cut or SIGKILL never loses a
committed one; a database that is locked, full or corrupt is a StorageError in one line.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from edge.errors import StorageError

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
    [
        """CREATE TABLE thermal_rechecks (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            time REAL NOT NULL,
            visit_id TEXT NOT NULL,
            gate_c REAL NOT NULL,
            raw_c REAL NOT NULL,
            clinical_c REAL NOT NULL,
            actor TEXT NOT NULL
        )""",
        """CREATE TABLE thermal_offsets (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            time REAL NOT NULL,
            offset_c REAL NOT NULL,
            previous_c REAL NOT NULL,
            pairs INTEGER NOT NULL,
            reason TEXT NOT NULL,
            actor TEXT NOT NULL
        )""",
    ],
    [
        "ALTER TABLE templates ADD COLUMN adaptive INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE residents ADD COLUMN lookalike_of TEXT NOT NULL DEFAULT ''",
    ],
    [
        """CREATE TABLE pass_uses_elsewhere (
            pass_id TEXT NOT NULL,
            gate TEXT NOT NULL,
            uses INTEGER NOT NULL,
            PRIMARY KEY (pass_id, gate)
        )""",
    ],
    [
        """CREATE TABLE resident_temperatures (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            resident_id INTEGER NOT NULL REFERENCES residents(id) ON DELETE CASCADE,
            visit_id TEXT NOT NULL,
            time REAL NOT NULL,
            deviation_c REAL NOT NULL
        )""",
        "CREATE INDEX resident_temperatures_resident ON resident_temperatures(resident_id, id)",
    ],
    [
        # events waiting for a webhook receiver, written with the event itself (edge/webhooks.py)
        """CREATE TABLE webhook_queue (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            hook TEXT NOT NULL,
            event_id TEXT NOT NULL,
            payload TEXT NOT NULL,
            created REAL NOT NULL
        )""",
        "CREATE INDEX webhook_queue_hook ON webhook_queue(hook, seq)",
    ],
    [
        # integrators' API tokens: only a hash of each secret is kept (edge/api_tokens.py)
        """CREATE TABLE api_tokens (
            token_id TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            secret_hash BLOB NOT NULL,
            scopes TEXT NOT NULL,
            created REAL NOT NULL,
            revoked REAL
        )""",
    ],
    [
        # residents' cards: the number only as an HMAC under the gate's card key (edge/cards.py), never in plain
        """CREATE TABLE cards (
            card_key BLOB PRIMARY KEY,
            resident_id INTEGER NOT NULL REFERENCES residents(id) ON DELETE CASCADE,
            label TEXT NOT NULL,
            created REAL NOT NULL
        )""",
        "CREATE INDEX cards_resident ON cards(resident_id)",
    ],
    [
        # a resident's access group (checks.schedule): NULL, in none (always admitted)
        "ALTER TABLE residents ADD COLUMN access_group TEXT",
    ],
    [
        # anti-passback: each person's newest movement through each gate of the site (this one included)
        """CREATE TABLE movements (
            person TEXT NOT NULL,
            gate TEXT NOT NULL,
            direction TEXT NOT NULL,
            time REAL NOT NULL,
            PRIMARY KEY (person, gate)
        )""",
    ],
    [
        # the number a Wiegand output sends for a resident let in (hardware.wiegand_output); NULL: none
        "ALTER TABLE residents ADD COLUMN controller_number INTEGER",
    ],
    [
        # a visitor enrolled at the booth for their visit: removed once this Unix time has passed; NULL: a resident
        "ALTER TABLE residents ADD COLUMN valid_until REAL",
    ],
    [
        # access groups edited from the console, site-wide (signed records); body NULL: removed
        """CREATE TABLE site_groups (
            name TEXT PRIMARY KEY,
            version INTEGER NOT NULL,
            body TEXT
        )""",
    ],
]


def row_id(cursor: sqlite3.Cursor) -> int:
    """The id SQLite gave the row just inserted."""
    if cursor.lastrowid is None:
        raise StorageError("the database gave no id for a new row")
    return int(cursor.lastrowid)


class Database:
    def __init__(self, state_dir: str | Path, *, clock=time.time) -> None:
        self.path = Path(state_dir) / DB_NAME
        self._clock = clock
        self._lock = threading.RLock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, check_same_thread=False, timeout=BUSY_TIMEOUT_S,
                                       isolation_level=None)  # pragma: no mutate (Python begins none here: no write runs outside `_transaction`)
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

    def __enter__(self):  # noqa: ANN204 - returns the subclass
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _transaction(self, *, reading: bool = False) -> Iterator[sqlite3.Connection]:
        """One transaction; a database that is locked, full or corrupt is a StorageError in one line. `reading`:
        several reads that see one state of the database whoever writes meanwhile, and take no write lock."""
        with self._lock:
            if self._db is None:
                raise StorageError(f"{self.path}: store used after close()")
            try:
                self._db.execute("BEGIN DEFERRED" if reading else "BEGIN IMMEDIATE")
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

    def now(self) -> float:
        """The wall clock this database dates its rows by."""
        return self._clock()

    @property
    def schema_version(self) -> int:
        return self._query("PRAGMA user_version")[0][0]

