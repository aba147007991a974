"""Ed25519 key files (an administrator's, the site's pass key): JSON with the id, the private and the public key,
mode 0600, never overwritten."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat

from edge.errors import ConfigError


def generate_key() -> tuple[str, str]:
    """(private key, public key), both base64 of the raw 32 bytes."""
    private = Ed25519PrivateKey.generate()
    raw_private = private.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    raw_public = private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return base64.b64encode(raw_private).decode(), base64.b64encode(raw_public).decode()


def write_key(path: Path, key_id: str) -> str:
    """Write a new private key (mode 0600); returns the public key for the gates' config."""
    private, public = generate_key()
    if path.exists():
        raise ConfigError(f"{path}: exists; refusing to overwrite a key")
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        json.dump({"id": key_id, "private": private, "public": public}, handle)
    return public


def read_key(path: Path) -> tuple[str, str]:
    try:
        data = json.loads(Path(path).read_text())
        return data["id"], data["private"]
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such key file (make one with `gatepost admin keygen`)") from None
    except (ValueError, KeyError, TypeError):
        raise ConfigError(f"{path}: not a gatepost admin key file") from None
