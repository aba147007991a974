"""What every section shares: strict models, the modes of checks and of failure, key and address checks."""

from __future__ import annotations

from enum import Enum

from pydantic import BaseModel, ConfigDict


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)


class CheckMode(str, Enum):
    required = "required"  # a failure denies
    advisory = "advisory"  # logged, never denies
    off = "off"  # not run


class FailMode(str, Enum):
    secure = "secure"  # relay closed (gate locked) when unpowered or in doubt
    safe = "safe"  # relay held open on a fault (fire-exit gates), only where required by law


def ed25519_keys(keys: dict[str, str]) -> dict[str, str]:
    """Key ids to base64 public keys of 32 bytes: a key the daemon could not load is an error now, not at start."""
    import base64
    import binascii

    for key_id, value in keys.items():
        try:
            raw = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise ValueError(f"{key_id}: not base64") from None
        if len(raw) != 32:
            raise ValueError(f"{key_id}: an Ed25519 public key is 32 bytes, this is {len(raw)}")
    return keys


def is_loopback(host: str) -> bool:
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
