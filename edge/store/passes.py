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
        found = self._pass_rows("WHERE pass_id = ?", (pass_id,))
        return found[0] if found else None

    def _pass_rows(self, where: str = "", params: tuple = ()) -> list[PassRecord]:
        rows = self._query("SELECT pass_id, holder, valid_from, valid_until, max_uses, uses, revoked FROM passes "
                           f"{where} ORDER BY created", params)
        return [PassRecord(pass_id, holder, valid_from, valid_until, max_uses, uses, bool(revoked))
                for pass_id, holder, valid_from, valid_until, max_uses, uses, revoked in rows]

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
