"""Residents' cards: a number is kept only as HMAC-SHA256 under the gate's own card key, shown to people by its
last four digits. The key is `state_dir/card.key` (32 random bytes, made on first use, readable by the daemon
only): the database alone does not give the numbers back. Mifare Classic UIDs and EM4100 numbers can be
copied with a cheap tool; where that matters, use `checks.card.mode: and_face` (the card and the face must
agree)."""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

from drivers.cards import card_number
from edge.errors import ConfigError
from edge.store import CardRecord, CardRecords

KEY_FILE = "card.key"


def label_of(number: str) -> str:
    """What people see of a card: its last four digits."""
    return "…" + number[-4:]


class CardBook:
    def __init__(self, store: CardRecords, state_dir: Path) -> None:
        self.store = store
        self._key = _card_key(Path(state_dir) / KEY_FILE)

    def keyed(self, number: str) -> bytes:
        return hmac.new(self._key, number.encode(), hashlib.sha256).digest()

    def enrol(self, number: str, resident_id: int) -> str:
        """The card's label; ConfigError naming the field when the number is not one, or the card is taken."""
        clean = card_number(number)
        if clean is None:
            raise ConfigError("number: 1 to 20 digits, as the reader prints it")
        if not self.store.add_card(self.keyed(clean), resident_id, label_of(clean)):
            raise ConfigError(f"number: card {label_of(clean)} already belongs to a resident (cards list)")
        return label_of(clean)

    def enrol_holder(self, name: str, unit: str, number: str) -> tuple[int, str]:
        """A new resident known by this card alone: (their id, the card's label); ConfigError naming the field."""
        clean = card_number(number)
        if clean is None:
            raise ConfigError("number: 1 to 20 digits, as the reader prints it")
        if not name.strip():
            raise ConfigError("name: the resident's name is needed")
        resident_id = self.store.add_card_holder(name.strip(), unit.strip(), self.keyed(clean), label_of(clean))
        if resident_id is None:
            raise ConfigError(f"number: card {label_of(clean)} already belongs to a resident (cards list)")
        return resident_id, label_of(clean)

    def holder(self, number: str) -> tuple[int, str, str | None] | None:
        """(resident id, name, access group) of the card's holder, or None."""
        return self.store.card_holder(self.keyed(number))

    def remove(self, number: str) -> bool:
        clean = card_number(number)
        return clean is not None and self.store.remove_card(self.keyed(clean))

    def cards(self) -> list[CardRecord]:
        return self.store.cards()


def _card_key(path: Path) -> bytes:
    try:
        key = path.read_bytes()
    except FileNotFoundError:
        key = secrets.token_bytes(32)  # pragma: no mutate (None is the default: 32 bytes)
        try:
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # made meanwhile by the daemon or a tool beside it
            return _card_key(path)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(key)
            handle.flush()
            os.fsync(handle.fileno())
    if len(key) != 32:
        raise ConfigError(f"{path}: a card key is 32 bytes; this file has {len(key)} (restore it from a backup)")
    return key
