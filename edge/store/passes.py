"""Visitor passes this gate has seen: their use counts and revocations."""

from __future__ import annotations

from dataclasses import dataclass

from edge.store.database import Database


@dataclass(frozen=True)
class PassRecord:
    pass_id: str
    holder: str
    valid_from: float
    valid_until: float
    max_uses: int
    uses: int
    revoked: bool


class PassRecords(Database):
    def remember_pass(self, claims, token: str) -> None:
        """Note a pass this gate has seen (for use counts and listing); keeps counts and revocation."""
        with self._transaction() as db:
            db.execute("INSERT INTO passes(pass_id, holder, token, valid_from, valid_until, max_uses, created) "
                       "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(pass_id) DO UPDATE SET holder = excluded.holder, "
                       "token = excluded.token, valid_from = excluded.valid_from, "
                       "valid_until = excluded.valid_until, max_uses = excluded.max_uses",
                       (claims.pid, claims.holder, token, claims.nbf, claims.exp, claims.uses, self._clock()))

    def pass_state(self, pass_id: str) -> PassRecord | None:
        """The pass as the site knows it: its uses here and at the other gates, revoked here or site-wide."""
        found = self._pass_rows("WHERE pass_id = ?", (pass_id,))
        if found:
            return found[0]
        elsewhere = self._uses_elsewhere(pass_id)
        return PassRecord(pass_id, "", 0.0, 0.0, 0, elsewhere, False) if elsewhere else None

    def _pass_rows(self, where: str = "", params: tuple = ()) -> list[PassRecord]:  # pragma: no mutate (another word there is read as an alias)
        rows = self._query("SELECT pass_id, holder, valid_from, valid_until, max_uses, uses, revoked FROM passes "
                           f"{where} ORDER BY created", params)
        return [PassRecord(pass_id, holder, valid_from, valid_until, max_uses, uses + self._uses_elsewhere(pass_id),
                           bool(revoked))
                for pass_id, holder, valid_from, valid_until, max_uses, uses, revoked in rows]

    def _uses_elsewhere(self, pass_id: str) -> int:
        rows = self._query("SELECT COALESCE(SUM(uses), 0) FROM pass_uses_elsewhere WHERE pass_id = ?", (pass_id,))
        return int(rows[0][0])

    def note_uses_elsewhere(self, pass_id: str, gate: str, uses: int) -> bool:
        """Another gate of the site says how often it let this pass through; counts only grow (a late or replayed
        report changes nothing). True if the count rose."""
        with self._transaction() as db:
            before = db.execute("SELECT uses FROM pass_uses_elsewhere WHERE pass_id = ? AND gate = ?",
                                (pass_id, gate)).fetchone()
            if before is not None and before[0] >= uses:
                return False
            db.execute("INSERT INTO pass_uses_elsewhere(pass_id, gate, uses) VALUES (?, ?, ?) "
                       "ON CONFLICT(pass_id, gate) DO UPDATE SET uses = excluded.uses", (pass_id, gate, uses))
            return True

    def own_pass_uses(self, *, valid_after: float) -> list[tuple[str, int]]:
        """The passes this gate let through that are still worth telling the site about: (pass id, uses here)."""
        rows = self._query("SELECT pass_id, uses FROM passes WHERE uses > 0 AND valid_until >= ? ORDER BY created DESC",
                           (valid_after,))
        return [(pass_id, int(uses)) for pass_id, uses in rows]

    def own_uses_of(self, pass_id: str) -> int:
        rows = self._query("SELECT uses FROM passes WHERE pass_id = ?", (pass_id,))
        return int(rows[0][0]) if rows else 0

    def count_pass_use(self, pass_id: str) -> None:
        with self._transaction() as db:
            db.execute("UPDATE passes SET uses = uses + 1 WHERE pass_id = ?", (pass_id,))

    def revoke_pass(self, pass_id: str) -> None:
        """Revoked here even if this gate has never seen the pass."""
        with self._transaction() as db:
            db.execute("INSERT INTO passes(pass_id, holder, token, valid_from, valid_until, max_uses, revoked, created) "
                       "VALUES (?, '', '', 0, 0, 0, 1, ?) ON CONFLICT(pass_id) DO UPDATE SET revoked = 1",
                       (pass_id, self._clock()))

    def passes(self) -> list[PassRecord]:
        return self._pass_rows()
