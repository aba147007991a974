"""API tokens: `gp_<id>_<secret>`. The id finds the record; the secret is checked against its SHA-256 (a token is
32 random bytes, so a fast hash is enough), in constant time. Scopes say what a token may do."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from edge.store import ApiTokenRecords

SCOPES = {
    "status:read": "the gate's status",
    "events:read": "events, from a cursor",
    "residents:read": "the residents list",
    "residents:write": "enrol and remove residents",
    "passes:read": "passes seen or revoked",
    "passes:write": "revoke a visitor pass at this gate",
    "cards:read": "residents' cards (their last four digits)",
    "cards:write": "give a resident a card, or take it back",
    "gate:open": "open the gate once, with a reason",
}
PREFIX = "gp_"


@dataclass(frozen=True)
class Caller:
    token_id: str
    name: str
    scopes: tuple[str, ...]


def _digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


def issue(store: ApiTokenRecords, name: str, scopes: list[str]) -> str:
    """A new token, to be shown once; ValueError naming a scope that does not exist."""
    unknown = [scope for scope in scopes if scope not in SCOPES]
    if unknown or not scopes:
        raise ValueError(f"scope: {unknown[0] if unknown else 'none given'} (one of {', '.join(SCOPES)})")
    if not name.strip() or len(name) > 64:
        raise ValueError("name: 1 to 64 characters")
    token_id, secret = secrets.token_hex(4), secrets.token_urlsafe()  # the default: 32 bytes (a test holds it)
    store.add_token(token_id, name.strip(), _digest(secret), tuple(dict.fromkeys(scopes)))
    return f"{PREFIX}{token_id}_{secret}"


def caller(store: ApiTokenRecords, presented: str) -> Caller | None:
    """The token's holder, or None for anything that is not a live token (the same answer for every kind of wrong)."""
    if not presented.startswith(PREFIX) or len(presented) > 128:
        return None
    token_id, _, secret = presented[len(PREFIX):].partition("_")
    record = store.token(token_id)
    if record is None or record.revoked is not None:
        _digest(secret)  # the same work as a real check
        return None
    if not hmac.compare_digest(record.secret_hash, _digest(secret)):
        return None
    return Caller(record.token_id, record.name, record.scopes)
