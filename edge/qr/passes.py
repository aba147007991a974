"""Community passes: compact Ed25519-signed tokens issued by the administrator, verified offline.

    GP1:<base64url(JSON claims)>.<base64url(signature)>

Claims: pid (pass id), kid (signing key id), site, gates (list, "*" for all), nbf and exp (unix
times), uses (how many entries it allows), holder, kind (visitor, courier, ...). The gate keeps
use counts and revocations in its store.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from edge.readings import QrResult
from edge.store import PassRecords

PREFIX = "GP1:"
MAX_TOKEN = 1024


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class PassClaims:
    pid: str
    kid: str
    site: str
    gates: tuple[str, ...]
    nbf: float
    exp: float
    uses: int
    holder: str
    kind: str


def issue_pass(private_key_b64: str, kid: str, *, site: str, gates: list[str], holder: str, valid_from: float,
               valid_until: float, uses: int = 1, kind: str = "visitor", pid: str | None = None,
               host: str | None = None, group: str | None = None) -> tuple[str, PassClaims]:
    """`host`: the unit visited, carried for whoever reads the pass (gates do not judge it); `group`: the access
    group whose hours the pass is held to (checks.schedule), as a courier's is."""
    if valid_until <= valid_from:
        raise ValueError("valid_until must be after valid_from")
    if uses < 1:
        raise ValueError("uses must be at least 1")
    claims = {"pid": pid or secrets.token_hex(6), "kid": kid, "site": site, "gates": gates, "nbf": int(valid_from),
              "exp": int(valid_until), "uses": uses, "holder": holder, "kind": kind, **({"host": host} if host else {}),
              **({"group": group} if group else {})}
    body = json.dumps(claims, separators=(",", ":"), sort_keys=True, ensure_ascii=False).encode()
    signature = Ed25519PrivateKey.from_private_bytes(base64.b64decode(private_key_b64)).sign(body)
    return f"{PREFIX}{_b64(body)}.{_b64(signature)}", _claims(claims)


def _claims(data: dict[str, Any]) -> PassClaims:
    return PassClaims(str(data["pid"]), str(data["kid"]), str(data["site"]), tuple(data["gates"]), float(data["nbf"]),
                      float(data["exp"]), int(data["uses"]), str(data["holder"]), str(data.get("kind", "visitor")))


CLAIM_TYPES: dict[str, type | tuple[type, ...]] = {"pid": str, "kid": str, "site": str, "gates": list, "nbf": (int, float), "exp": (int, float),
               "uses": int, "holder": str}


class PassVerifier:
    def __init__(self, public_keys: dict[str, str], *, site: str, gate: str, store: PassRecords,
                 clock=time.time) -> None:
        self._keys = {kid: Ed25519PublicKey.from_public_bytes(base64.b64decode(value))
                      for kid, value in public_keys.items()}
        self.site, self.gate = site, gate
        self.store = store
        self.clock = clock

    def __call__(self, payload: str, source: str) -> QrResult:
        short = payload[:64]

        group: str | None = None

        def result(status: str, reason: str, pid: str | None = None) -> QrResult:
            return QrResult(short, source, status, reason, "pass", pid, group=group)

        if len(payload) > MAX_TOKEN:
            return result("unreadable", "pass_too_long")
        body_text, dot, signature_text = payload[len(PREFIX):].partition(".")  # pragma: no mutate (base64url has no ".")
        if not dot:
            return result("unreadable", "pass_missing_signature")
        try:
            body, signature = _unb64(body_text), _unb64(signature_text)
            data = json.loads(body.decode("utf-8"))  # pragma: no mutate (codec names are case-blind)
        except (ValueError, UnicodeDecodeError):
            return result("unreadable", "pass_not_base64_json")
        if not isinstance(data, dict):
            return result("unreadable", "pass_claims_not_object")
        for name, kind in CLAIM_TYPES.items():
            if not isinstance(data.get(name), kind) or isinstance(data.get(name), bool):
                return result("unreadable", f"pass_claim_{name}_invalid")
        if not all(isinstance(g, str) for g in data["gates"]):
            return result("unreadable", "pass_claim_gates_invalid")
        claims = _claims(data)
        if "group" in data and (not isinstance(data["group"], str) or not 0 < len(data["group"]) <= 64):
            return result("unreadable", "pass_claim_group_invalid")
        key = self._keys.get(claims.kid)
        if key is None:
            return result("untrusted", "pass_key_unknown", claims.pid)
        try:
            key.verify(signature, body)
        except InvalidSignature:
            return result("invalid", "pass_signature_invalid", claims.pid)
        now = self.clock()
        if claims.site != self.site:
            return result("invalid", "pass_other_site", claims.pid)
        if "*" not in claims.gates and self.gate not in claims.gates:
            return result("invalid", "pass_not_for_this_gate", claims.pid)
        if now < claims.nbf:
            return result("invalid", "pass_not_yet_valid", claims.pid)
        if now > claims.exp:
            return result("expired", "pass_expired", claims.pid)
        state = self.store.pass_state(claims.pid)
        if state is not None and state.revoked:
            return result("invalid", "pass_revoked", claims.pid)
        used = state.uses if state else 0
        if used >= claims.uses:
            return result("invalid", "pass_used_up", claims.pid)
        self.store.remember_pass(claims, payload)
        group = data.get("group")  # signed: the hours it is held to
        return result("valid", f"pass_{claims.kind}", claims.pid)
