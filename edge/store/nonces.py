"""Nonces of signed commands already run, so a captured command cannot be replayed."""

from __future__ import annotations

import sqlite3

from edge.store.database import Database


class CommandNonces(Database):
    def remember_nonce(self, nonce: str, now: float, *, keep_s: float) -> bool:
        """True the first time a nonce is seen (within `keep_s`); False for a replay."""
        with self._transaction() as db:
            db.execute("DELETE FROM nonces WHERE seen < ?", (now - keep_s,))
            try:
                db.execute("INSERT INTO nonces(nonce, seen) VALUES (?, ?)", (nonce, now))
            except sqlite3.IntegrityError:
                return False
        return True

