"""Secrets people type (guards' PINs, operators' passwords) are kept only as scrypt hashes."""

from __future__ import annotations

import hashlib
import hmac
import os

SCRYPT = {"n": 2**14, "r": 8, "p": 1, "dklen": 32}


def hash_secret(secret: str, salt: bytes | None = None) -> tuple[bytes, bytes]:
    """(hash, salt); a new random salt unless one is given."""
    salt = salt or os.urandom(16)
    return hashlib.scrypt(secret.encode(), salt=salt, **SCRYPT), salt


def secret_matches(secret: str, stored_hash: bytes, salt: bytes) -> bool:
    """In constant time."""
    return hmac.compare_digest(hash_secret(secret, salt)[0], stored_hash)
