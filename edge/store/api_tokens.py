"""Integrators' API tokens: a name, scopes, and a hash of the secret (the secret itself is shown once)."""

from __future__ import annotations

from dataclasses import dataclass

from edge.store.database import Database


@dataclass(frozen=True)
class TokenRecord:
    token_id: str
    name: str
    secret_hash: bytes
    scopes: tuple[str, ...]
    created: float
    revoked: float | None


class ApiTokenRecords(Database):
    def add_token(self, token_id: str, name: str, secret_hash: bytes, scopes: tuple[str, ...]) -> None:
        with self._transaction() as db:
            db.execute("INSERT INTO api_tokens(token_id, name, secret_hash, scopes, created) VALUES (?, ?, ?, ?, ?)",
                       (token_id, name, secret_hash, " ".join(scopes), self._clock()))

    def token(self, token_id: str) -> TokenRecord | None:
        rows = self._query("SELECT token_id, name, secret_hash, scopes, created, revoked FROM api_tokens "
                           "WHERE token_id = ?", (token_id,))
        return _record(rows[0]) if rows else None

    def tokens(self) -> list[TokenRecord]:
        return [_record(row) for row in self._query(
            "SELECT token_id, name, secret_hash, scopes, created, revoked FROM api_tokens ORDER BY created")]

    def revoke_token(self, token_id: str) -> bool:
        with self._transaction() as db:
            return db.execute("UPDATE api_tokens SET revoked = ? WHERE token_id = ? AND revoked IS NULL",
                              (self._clock(), token_id)).rowcount > 0


def _record(row: tuple) -> TokenRecord:
    token_id, name, secret_hash, scopes, created, revoked = row
    return TokenRecord(token_id, name, bytes(secret_hash), tuple(scopes.split()), float(created),
                       None if revoked is None else float(revoked))
