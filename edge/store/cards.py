"""Residents' cards: each number kept only as an HMAC (edge/cards.py computes it), with a label showing its last
digits for people, and the resident it belongs to."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from edge.store.database import Database, row_id


@dataclass(frozen=True)
class CardRecord:
    label: str
    resident_id: int
    resident_name: str
    created: float


class CardRecords(Database):
    def add_card(self, card_key: bytes, resident_id: int, label: str) -> bool:
        """False when the card is already someone's (nothing changed)."""
        with self._transaction() as db:
            return db.execute("INSERT INTO cards(card_key, resident_id, label, created) VALUES (?, ?, ?, ?) "
                              "ON CONFLICT (card_key) DO NOTHING",
                              (card_key, resident_id, label, self._clock())).rowcount > 0

    def add_card_holder(self, name: str, unit: str, card_key: bytes, label: str) -> int | None:
        """A resident known by a card alone (a child, someone whose face does not enrol), with the card, in one
        transaction; None when the card is already someone's (nothing stored)."""
        with self._transaction() as db:
            if db.execute("SELECT 1 FROM cards WHERE card_key = ?", (card_key,)).fetchone():
                return None
            cursor = db.execute("INSERT INTO residents(name, unit, created, uid, record_version, lookalike_of) "
                                "VALUES (?, ?, ?, ?, 1, '')", (name, unit, self._clock(), uuid.uuid4().hex))
            resident_id = row_id(cursor)
            db.execute("INSERT INTO cards(card_key, resident_id, label, created) VALUES (?, ?, ?, ?)",
                       (card_key, resident_id, label, self._clock()))
            return resident_id

    def card_holder(self, card_key: bytes) -> tuple[int, str, str | None] | None:
        """(resident id, name, access group) of the card's holder, or None."""
        rows = self._query("SELECT r.id, r.name, r.access_group FROM cards c JOIN residents r ON r.id = c.resident_id "
                           "WHERE c.card_key = ?", (card_key,))
        return (int(rows[0][0]), str(rows[0][1]), rows[0][2]) if rows else None

    def cards(self) -> list[CardRecord]:
        return [CardRecord(str(label), int(rid), str(name), float(created)) for label, rid, name, created in self._query(
            "SELECT c.label, r.id, r.name, c.created FROM cards c JOIN residents r ON r.id = c.resident_id "
            "ORDER BY c.created")]

    def remove_card(self, card_key: bytes) -> bool:
        with self._transaction() as db:
            return db.execute("DELETE FROM cards WHERE card_key = ?", (card_key,)).rowcount > 0
