"""Residents and their face templates, the gallery built from them, and the scores that calibrate it.

Every change of templates bumps `gallery_version` in the same transaction; the running engine
follows that number (edge/face/gallery.py), so no caller has to remember to reload.
"""

from __future__ import annotations

import sqlite3
import uuid
from dataclasses import dataclass, field

import numpy as np

from edge.errors import StorageError
from edge.store.database import Database, row_id


RECORD_AHEAD_S = 86400.0


@dataclass(frozen=True)
class Resident:
    id: int
    name: str
    unit: str
    templates: int
    uid: str = ""
    record_version: int = 0
    access_group: str | None = None


@dataclass(frozen=True)
class Gallery:
    """Templates as one matrix for 1:N search; `owners[i]` is the resident of row i."""

    embeddings: np.ndarray  # (n, d) float32, L2-normalised
    owners: np.ndarray  # (n,) int64
    negative: np.ndarray  # (n,) bool: templates marked "not this person" for their owner
    names: dict[int, str]
    version: int
    adaptive: np.ndarray | None = None  # (n,) bool: learned from visits (None: none are)
    ids: np.ndarray | None = None  # (n,) int64: the templates' ids in the store (None: a gallery held in memory)
    units: dict[int, str] = field(default_factory=dict)  # each resident's unit, where one is recorded
    groups: dict[int, str] = field(default_factory=dict)  # each resident's access group, where they have one

    def enrolled(self, resident_id: int) -> np.ndarray:
        """A resident's enrolment templates: what adaptive ones are anchored to, never replaced."""
        mask = (self.owners == resident_id) & ~self.negative
        if self.adaptive is not None:
            mask &= ~self.adaptive
        return self.embeddings[mask]


@dataclass(frozen=True)
class TemplateRecord:
    id: int
    resident_id: int
    name: str
    source: str
    adaptive: bool
    negative: bool
    quality: float
    created: float


class ResidentRecords(Database):
    def add_resident(self, name: str, unit: str, embeddings: list[np.ndarray], qualities: list[float],
                     sources: list[str], *, uid: str | None = None, record_version: int = 1,
                     lookalike_of: tuple[int, ...] = (), valid_until: float | None = None) -> int:
        """One resident and all their templates in one transaction: nothing partial is stored. `lookalike_of`:
        residents they were declared to resemble when enrolled (twins), kept with them; `valid_until`: a visitor
        enrolled for their visit, removed once it has passed (`expired`)."""
        if not embeddings:
            raise StorageError("a resident needs at least one template")
        with self._transaction() as db:
            cursor = db.execute("INSERT INTO residents(name, unit, created, uid, record_version, lookalike_of, "
                                "valid_until) VALUES (?, ?, ?, ?, ?, ?, ?)",
                                (name, unit, self._clock(), uid or uuid.uuid4().hex, record_version,
                                 ",".join(map(str, lookalike_of)), valid_until))
            resident_id = row_id(cursor)
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
            trusted_until = (self._clock() + RECORD_AHEAD_S) * 1000  # versions are administrators' clocks, in ms
            if held is not None and held >= version and held <= trusted_until:
                return False  # (a version dated far ahead, from a wrong clock, is no reason to keep what is held)
            db.execute("DELETE FROM residents WHERE uid = ?", (uid,))
            if embeddings is None:
                db.execute("INSERT OR REPLACE INTO removed_residents(uid, record_version) VALUES (?, ?)", (uid, version))
            else:
                db.execute("DELETE FROM removed_residents WHERE uid = ?", (uid,))
                cursor = db.execute("INSERT INTO residents(name, unit, created, uid, record_version) VALUES (?, ?, ?, ?, ?)",
                                    (name, unit, self._clock(), uid, version))
                for embedding in embeddings:
                    self._insert_template(db, row_id(cursor), embedding, 0.0, "site record", negative=False)
            self._bump_gallery(db)
        return True

    def expired(self, now: float) -> list[tuple[int, str]]:
        """Visitors enrolled for a visit that has ended: (id, name)."""
        return [(int(rid), str(name)) for rid, name in
                self._query("SELECT id, name FROM residents WHERE valid_until IS NOT NULL AND valid_until <= ?",
                            (now,))]

    def uid_of(self, resident_id: int) -> str | None:
        """The site-wide id of a resident of this gate."""
        rows = self._query("SELECT uid FROM residents WHERE id = ?", (resident_id,))
        return str(rows[0][0]) if rows and rows[0][0] else None

    def resident_by_uid(self, uid: str) -> Resident | None:
        return next((r for r in self.residents() if r.uid == uid), None)

    def find_residents(self, name: str) -> list[Resident]:
        return [r for r in self.residents() if r.name == name]

    def set_access_group(self, resident_id: int, group: str | None) -> bool:
        """A resident's access group (None: none); the gallery's version moves so the running gate sees it."""
        with self._transaction() as db:
            changed = db.execute("UPDATE residents SET access_group = ? WHERE id = ?", (group, resident_id)).rowcount
            if changed:
                self._bump_gallery(db)
            return changed > 0

    def set_controller_number(self, resident_id: int, number: int | None) -> bool:
        """The number sent to the site's access controller when the resident is let in (None: none)."""
        with self._transaction() as db:
            return db.execute("UPDATE residents SET controller_number = ? WHERE id = ?",
                              (number, resident_id)).rowcount > 0

    def controller_number(self, resident_id: int) -> int | None:
        rows = self._query("SELECT controller_number FROM residents WHERE id = ?", (resident_id,))
        return int(rows[0][0]) if rows and rows[0][0] is not None else None

    def residents(self) -> list[Resident]:
        rows = self._query(
            "SELECT r.id, r.name, r.unit, COUNT(t.id), r.uid, r.record_version, r.access_group FROM residents r "
            "LEFT JOIN templates t ON t.resident_id = r.id AND t.negative = 0 GROUP BY r.id ORDER BY r.id")
        return [Resident(*row) for row in rows]

    def gallery(self, since: Gallery | None = None) -> Gallery:
        """Every template as one matrix. With `since` (a gallery read before from this store), only templates
        stored after it are read from disk, with the ids of those still kept; the others are taken from it (ids
        are never reused, and a stored template never changes)."""
        known = since.ids if since is not None and since.ids is not None and len(since.ids) else None
        after = -1 if known is None else int(known.max())
        still = None  # which rows of `since` are kept (None: no gallery was read before)
        with self._transaction(reading=True) as db:  # one state: the version, the templates, the residents
            version = int(db.execute("SELECT value FROM meta WHERE key = 'gallery_version'").fetchone()[0])
            rows = db.execute("SELECT id, resident_id, negative, adaptive, embedding FROM templates WHERE id > ? "
                              "ORDER BY id", (after,)).fetchall()
            people = db.execute("SELECT id, name, unit, access_group FROM residents").fetchall()
            if known is not None:
                stored = known >= 0  # a gallery's own additions (fused templates) have negative ids
                count = db.execute("SELECT COUNT(*) FROM templates").fetchone()[0]
                if count != int(stored.sum()) + len(rows):  # some were removed: which (the ids alone, from an index)
                    every = db.execute("SELECT group_concat(id) FROM templates").fetchone()[0]
                    still = np.isin(known, np.array(every.split(","), dtype=np.int64) if every else ())
                else:
                    still = stored
        names = {int(row[0]): str(row[1]) for row in people}
        units = {int(row[0]): str(row[2]) for row in people if row[2]}
        groups = {int(row[0]): str(row[3]) for row in people if row[3]}
        ids = np.array([row[0] for row in rows], dtype=np.int64)
        owners = np.array([row[1] for row in rows], dtype=np.int64)
        negative = np.array([bool(row[2]) for row in rows], dtype=bool)
        adaptive = np.array([bool(row[3]) for row in rows], dtype=bool)
        embeddings = np.stack([np.frombuffer(row[4], dtype=np.float32) for row in rows]) if rows else None
        if known is not None and since is not None and still is not None:
            before = since.adaptive[still] if since.adaptive is not None else np.zeros(int(still.sum()), bool)
            ids, owners = np.concatenate([known[still], ids]), np.concatenate([since.owners[still], owners])
            negative, adaptive = np.concatenate([since.negative[still], negative]), np.concatenate([before, adaptive])
            kept = since.embeddings[still]
            embeddings = kept if embeddings is None else np.concatenate([kept, embeddings])
        if embeddings is None or not len(ids):
            embeddings = np.zeros((0, 0), dtype=np.float32)
        return Gallery(embeddings, owners, negative, names, version, adaptive, ids, units, groups)

    # templates learned from visits: bounded per resident, the oldest replaced first, enrolment never

    def adapt(self, resident_id: int, embedding: np.ndarray, quality: float, source: str, *,
              keep: int) -> tuple[int, list[int]]:
        """Add an adaptive template, dropping the resident's oldest beyond `keep`; (its id, the ids dropped)."""
        with self._transaction() as db:
            if not db.execute("SELECT 1 FROM residents WHERE id = ?", (resident_id,)).fetchone():
                raise StorageError(f"no resident with id {resident_id}")
            self._insert_template(db, resident_id, embedding, quality, source, negative=False)
            added = int(db.execute("SELECT last_insert_rowid()").fetchone()[0])
            db.execute("UPDATE templates SET adaptive = 1 WHERE id = ?", (added,))
            kept = [row[0] for row in db.execute("SELECT id FROM templates WHERE resident_id = ? AND adaptive = 1 "
                                                 "ORDER BY created DESC, id DESC", (resident_id,))]
            dropped = kept[keep:]
            db.executemany("DELETE FROM templates WHERE id = ?", [(t,) for t in dropped])
            self._bump_gallery(db)
        return added, dropped

    def templates(self, resident_id: int | None = None) -> list[TemplateRecord]:
        sql = ("SELECT t.id, t.resident_id, r.name, t.source, t.adaptive, t.negative, t.quality, t.created "
               "FROM templates t JOIN residents r ON r.id = t.resident_id")
        params: tuple = ()  # pragma: no mutate (sqlite reads no parameters as none)
        if resident_id is not None:
            sql, params = sql + " WHERE t.resident_id = ?", (resident_id,)
        return [TemplateRecord(int(i), int(r), n, s, bool(a), bool(neg), float(q), float(c))
                for i, r, n, s, a, neg, q, c in self._query(sql + " ORDER BY t.id", params)]

    def remove_template(self, template_id: int) -> bool:
        """Remove one template (never a resident's last positive one: remove the resident instead)."""
        with self._transaction() as db:
            row = db.execute("SELECT resident_id, negative FROM templates WHERE id = ?", (template_id,)).fetchone()
            if row is None:
                return False
            left = db.execute("SELECT COUNT(*) FROM templates WHERE resident_id = ? AND negative = 0 AND id != ?",
                              (row[0], template_id)).fetchone()[0]
            if not row[1] and left == 0:
                raise StorageError(f"template {template_id} is resident {row[0]}'s last; remove the resident instead")
            db.execute("DELETE FROM templates WHERE id = ?", (template_id,))
            self._bump_gallery(db)
        return True

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

