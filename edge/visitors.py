"""Visitors registered at the guard's booth: a signed pass with their name, host unit and expiry, printed for them.

The gate signs with the site's pass key (`qr.passes.booth_key`), so every gate of the site that
trusts that key lets the visitor through, within the validity, up to `booth_uses` passages.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from edge.errors import ConfigError
from edge.keys import read_key
from edge.qr.passes import issue_pass
from edge.store import PassRecords

if TYPE_CHECKING:
    from edge.config import GateConfig

MAX_NAME = 64
MAX_UNIT = 32
MAX_PHONE = 20


@dataclass(frozen=True)
class VisitorPass:
    pass_id: str
    token: str
    name: str
    host_unit: str
    valid_from: float
    valid_until: float
    uses: int

    def qr_png(self) -> str:
        """The pass as a printable QR code: a PNG data URI (medium error correction, a quiet zone of four)."""
        import segno

        symbol = segno.make_qr(self.token, error="m")  # pragma: no mutate (segno reads the level in either case)
        return symbol.png_data_uri(scale=6)  # segno's quiet zone is the standard's four modules


def _text(value: str, field: str, longest: int, *, required: bool = True) -> str:
    cleaned = " ".join(value.split())
    if required and not cleaned:
        raise ConfigError(f"{field}: required")
    if len(cleaned) > longest or any(ord(c) < 32 for c in cleaned):
        raise ConfigError(f"{field}: at most {longest} printable characters")
    return cleaned


class VisitorBook:
    def __init__(self, config: Callable[[], GateConfig], store: PassRecords, *,
                 clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self.store = store
        self.clock = clock

    def register(self, *, name: str, host_unit: str, hours: float, phone: str = "") -> VisitorPass:
        """A pass for the visitor, signed and remembered; ConfigError naming the field that is wrong."""
        config = self.config()
        passes = config.qr.passes
        name, host_unit = _text(name, "name", MAX_NAME), _text(host_unit, "host_unit", MAX_UNIT)
        if phone and not all(c.isdigit() or c in "+- " for c in phone) or len(phone) > MAX_PHONE:
            raise ConfigError(f"phone: digits, '+', '-' and spaces, at most {MAX_PHONE}")
        if not 0 < hours <= passes.booth_max_hours:
            raise ConfigError(f"hours: more than 0 and at most {passes.booth_max_hours:g}")
        if not passes.booth_key:
            raise ConfigError("qr.passes.booth_key: not set, so visitors cannot be registered at this gate")
        key_id, private = read_key(Path(passes.booth_key))
        if key_id not in passes.public_keys:
            raise ConfigError(f"qr.passes.booth_key: its key id {key_id!r} is not in qr.passes.public_keys, so the "
                              "site's gates would refuse its passes")
        now = self.clock()
        token, claims = issue_pass(private, key_id, site=config.site.site_id, gates=["*"], holder=name,
                                   valid_from=now - 60, valid_until=now + hours * 3600, uses=passes.booth_uses,
                                   host=host_unit)  # a visitor's pass, the kind issue_pass makes
        self.store.remember_pass(claims, token)
        return VisitorPass(claims.pid, token, name, host_unit, claims.nbf, claims.exp, claims.uses)
