"""The guards who may use the touchscreen: PIN hashes, failed attempts and lockouts."""

from __future__ import annotations

from dataclasses import dataclass

from edge.store.database import Database


@dataclass(frozen=True)
class GuardRecord:
    guard_id: str
    name: str
    pin_hash: bytes
    salt: bytes
    failed: int
    locked_until: float


class GuardRecords(Database):
    def set_guard(self, guard_id: str, name: str, pin_hash: bytes, salt: bytes) -> None:
        with self._transaction() as db:
            db.execute("INSERT INTO guards(guard_id, name, pin_hash, salt, created) VALUES (?, ?, ?, ?, ?) "
                       "ON CONFLICT(guard_id) DO UPDATE SET name = excluded.name, pin_hash = excluded.pin_hash, "
                       "salt = excluded.salt, failed = 0, locked_until = 0",
                       (guard_id, name, pin_hash, salt, self._clock()))

    def remove_guard(self, guard_id: str) -> bool:
        with self._transaction() as db:
            return db.execute("DELETE FROM guards WHERE guard_id = ?", (guard_id,)).rowcount > 0

    def guard(self, guard_id: str) -> GuardRecord | None:
        found = self._guard_rows("WHERE guard_id = ?", (guard_id,))
        return found[0] if found else None

    def guards(self) -> list[GuardRecord]:
        return self._guard_rows()

    def _guard_rows(self, where: str = "", params: tuple = ()) -> list[GuardRecord]:  # pragma: no mutate (another word there is read as an alias)
        rows = self._query(f"SELECT guard_id, name, pin_hash, salt, failed, locked_until FROM guards {where} "
                           "ORDER BY guard_id", params)
        return [GuardRecord(*row) for row in rows]

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

