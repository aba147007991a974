"""The site's temperature calibration: the guards' clinical rechecks and every change of the offset they taught.

Each recheck pairs the gate's estimate of a visit with a clinical reading; each change of the
site's offset is a row of its own (when, from what, to what, on how many pairs, why, by whom), so
the history can be shown and any change reverted. The offset in force is the newest row's.
"""

from __future__ import annotations

from dataclasses import dataclass

from edge.store.database import Database, row_id

RECHECK_LOOKBACK_S = 7 * 86400.0  # a recheck names a visit decided within this


@dataclass(frozen=True)
class Recheck:
    id: int
    time: float
    visit_id: str
    gate_c: float  # the visit's estimate as the gate decided it
    raw_c: float  # the same before the screening-mode shift and the site offset
    clinical_c: float
    actor: str


@dataclass(frozen=True)
class OffsetChange:
    id: int
    time: float
    offset_c: float
    previous_c: float
    pairs: int
    reason: str  # learned | revert of N | reset
    actor: str


class ThermalRecords(Database):
    def add_recheck(self, visit_id: str, gate_c: float, raw_c: float, clinical_c: float, actor: str) -> Recheck:
        with self._transaction() as db:
            now = self._clock()
            cursor = db.execute("INSERT INTO thermal_rechecks(time, visit_id, gate_c, raw_c, clinical_c, actor) "
                                "VALUES (?, ?, ?, ?, ?, ?)", (now, visit_id, gate_c, raw_c, clinical_c, actor))
            return Recheck(row_id(cursor), now, visit_id, gate_c, raw_c, clinical_c, actor)

    def rechecks(self, limit: int) -> list[Recheck]:
        """The newest `limit` rechecks, newest first."""
        return [Recheck(*row) for row in self._query(
            "SELECT id, time, visit_id, gate_c, raw_c, clinical_c, actor FROM thermal_rechecks "
            "ORDER BY id DESC LIMIT ?", (limit,))]

    def offset_changes(self, limit: int = 1000) -> list[OffsetChange]:
        """The history of the site's offset, newest first."""
        return [OffsetChange(*row) for row in self._query(
            "SELECT id, time, offset_c, previous_c, pairs, reason, actor FROM thermal_offsets "
            "ORDER BY id DESC LIMIT ?", (limit,))]

    def add_resident_deviation(self, resident_id: int, visit_id: str, deviation_c: float, *, keep: int) -> None:
        """How far a resident's visit read above the healthy mean; only their newest `keep` are kept."""
        with self._transaction() as db:
            db.execute("INSERT INTO resident_temperatures(resident_id, visit_id, time, deviation_c) VALUES (?, ?, ?, ?)",
                       (resident_id, visit_id, self._clock(), float(deviation_c)))
            db.execute("DELETE FROM resident_temperatures WHERE resident_id = ? AND id NOT IN (SELECT id FROM "
                       "resident_temperatures WHERE resident_id = ? ORDER BY id DESC LIMIT ?)",
                       (resident_id, resident_id, keep))

    def resident_deviations(self, resident_id: int, *, since: float, limit: int) -> list[float]:
        """A resident's deviations, newest first."""
        return [row[0] for row in self._query(
            "SELECT deviation_c FROM resident_temperatures WHERE resident_id = ? AND time >= ? ORDER BY id DESC "
            "LIMIT ?", (resident_id, since, limit))]

    def forget_resident_deviation(self, visit_id: str) -> bool:
        with self._transaction() as db:
            return db.execute("DELETE FROM resident_temperatures WHERE visit_id = ?", (visit_id,)).rowcount > 0

    def prune_resident_deviations(self, older_than: float) -> int:
        with self._transaction() as db:
            return db.execute("DELETE FROM resident_temperatures WHERE time < ?", (older_than,)).rowcount

    def site_offset(self) -> tuple[int, float]:
        """(id of the newest change, the offset in force); (0, 0.0) before any."""
        rows = self._query("SELECT id, offset_c FROM thermal_offsets ORDER BY id DESC LIMIT 1")
        return (int(rows[0][0]), float(rows[0][1])) if rows else (0, 0.0)

    def change_offset(self, offset_c: float, pairs: int, reason: str, actor: str) -> OffsetChange:
        with self._transaction() as db:
            row = db.execute("SELECT offset_c FROM thermal_offsets ORDER BY id DESC LIMIT 1").fetchone()
            previous = float(row[0]) if row else 0.0
            now = self._clock()
            cursor = db.execute("INSERT INTO thermal_offsets(time, offset_c, previous_c, pairs, reason, actor) "
                                "VALUES (?, ?, ?, ?, ?, ?)", (now, offset_c, previous, pairs, reason, actor))
            return OffsetChange(row_id(cursor), now, offset_c, previous, pairs, reason, actor)

    def decided_visit(self, visit_id: str) -> dict | None:
        """The decision event of a visit decided within the last week, or None."""
        import json

        rows = self._query("SELECT payload FROM events WHERE kind = 'decision' AND time >= ? "
                           "AND json_extract(payload, '$.visit_id') = ? ORDER BY seq DESC LIMIT 1",
                           (self._clock() - RECHECK_LOOKBACK_S, visit_id))
        return json.loads(rows[0][0]) if rows else None
