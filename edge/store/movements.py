"""Anti-passback's memory: each person's newest movement through each gate of the site."""

from __future__ import annotations

from dataclasses import dataclass

from edge.store.database import Database


@dataclass(frozen=True)
class Movement:
    person: str  # "resident:<uid>" or "pass:<pass id>"
    gate: str
    direction: str  # in | out | reset (a guard cleared the person)
    time: float  # Unix time, by the clock of the gate that saw it


class MovementRecords(Database):
    def note_movement(self, movement: Movement) -> bool:
        """Keep `movement` if it is newer than what is held for its person at its gate (a late or replayed record
        changes nothing). True if kept."""
        with self._transaction() as db:
            held = db.execute("SELECT time FROM movements WHERE person = ? AND gate = ?",
                              (movement.person, movement.gate)).fetchone()
            if held is not None and held[0] >= movement.time:
                return False
            db.execute("INSERT INTO movements(person, gate, direction, time) VALUES (?, ?, ?, ?) "
                       "ON CONFLICT(person, gate) DO UPDATE SET direction = excluded.direction, time = excluded.time",
                       (movement.person, movement.gate, movement.direction, movement.time))
            return True

    def last_movement(self, person: str) -> Movement | None:
        """The person's newest movement at any gate of the site."""
        rows = self._query("SELECT person, gate, direction, time FROM movements WHERE person = ? "
                           "ORDER BY time DESC, gate LIMIT 1", (person,))
        return Movement(*rows[0]) if rows else None

    def movements_at(self, gate: str, *, since: float, limit: int) -> list[Movement]:
        """`gate`'s own movements since `since`, newest first."""
        rows = self._query("SELECT person, gate, direction, time FROM movements WHERE gate = ? AND time >= ? "
                           "ORDER BY time DESC LIMIT ?", (gate, since, limit))
        return [Movement(*row) for row in rows]

    def forget_movements(self, *, before: float) -> int:
        with self._transaction() as db:
            return db.execute("DELETE FROM movements WHERE time < ?", (before,)).rowcount
