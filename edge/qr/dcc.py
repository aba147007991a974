"""EU Digital COVID Certificates (`HC1:`), verified offline.

HC1: prefix → base45 → zlib → COSE_Sign1 (tagged, untagged or inside the CWT tag) → signature
(ECDSA or RSA-PSS) against the trust list by key id → CWT issue and expiry times against the
validation clock → key usage (the signer's extended key usage must allow the certificate's
kind) → JSON schema of the version the certificate names. Every stage's outcome is kept, so the
EU test suite can be compared stage by stage; `status` and `reason` summarise it for the gate.
"""

from __future__ import annotations

import base64
import datetime
import json
import zlib
from dataclasses import dataclass, field
from functools import lru_cache
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import base45
import cbor2

from edge.qr import cbor_guard
from edge.qr.dcc_signers import (ALGORITHMS, Signer, TrustList, key_usage_allows, kid_of, signer_from_der,
                                  verify_signature)

__all__ = ["DccResult", "Signer", "TrustList", "key_usage_allows", "kid_of", "parse_clock", "signer_from_der",
           "verify_dcc"]

PREFIX = "HC1:"
MAX_PAYLOAD = 8192  # characters of a QR payload; larger is refused before decoding
MAX_INFLATED = 64 * 1024  # bytes after zlib; a larger certificate is a zip bomb, not a DCC
SCHEMA_DIR = Path(__file__).with_name("dcc_schemas")

COSE_SIGN1_TAG = 18
CWT_TAG = 61
KIND_NAMES = {"v": "vaccination", "t": "test", "r": "recovery"}


@dataclass
class DccResult:
    status: str = "unreadable"  # valid | invalid | expired | untrusted | unreadable | unsupported
    reason: str = ""
    stages: dict[str, bool | None] = field(default_factory=lambda: dict.fromkeys(
        ("unprefix", "b45decode", "compression", "decode", "verify", "signer", "expiration", "keyusage", "schema")))
    kid: str | None = None
    issued: float | None = None
    expires: float | None = None
    certificate: dict[str, Any] | None = None  # the hcert JSON
    kind: str | None = None  # v | t | r

    def fail(self, stage: str, status: str, reason: str) -> "DccResult":
        self.stages[stage] = False
        if self.status in ("unreadable", "valid") or not self.reason:
            self.status, self.reason = status, reason
        return self


@lru_cache(maxsize=16)
def _schema_validator(version: str):
    import jsonschema

    path = SCHEMA_DIR / f"{version}.json"
    if not path.exists():
        path = sorted(SCHEMA_DIR.glob("1.3.*.json"))[-1]
    schema = json.loads(path.read_text())
    return jsonschema.Draft202012Validator(schema)


@lru_cache(maxsize=512)
def _schema_problem(version: str, certificate_json: str) -> str:
    """Where the certificate breaks its schema and which rule ('' if nowhere), e.g. `v/0/dn:minimum`.

    Keys whose value is null are left out first: the DCC guidance has verifiers tolerate them in
    optional fields (a required one then reads as missing).
    """
    from jsonschema.exceptions import best_match

    error = best_match(_schema_validator(version).iter_errors(_without_nulls(json.loads(certificate_json))))
    if error is None:
        return ""
    while error.context:  # anyOf / oneOf: the branch that came closest names the real fault
        error = best_match(error.context)
    return f"{'/'.join(str(p) for p in error.absolute_path) or '(top)'}:{error.validator}"


def _without_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value


def _decode_cose(raw: bytes) -> tuple[bytes, Mapping, bytes, bytes]:
    """(protected header bytes, unprotected map, payload, signature) of a COSE_Sign1."""
    cbor_guard.check(raw)
    message = cbor2.loads(raw)
    if isinstance(message, cbor2.CBORTag) and message.tag == CWT_TAG:
        message = message.value
    if isinstance(message, cbor2.CBORTag):
        if message.tag != COSE_SIGN1_TAG:
            raise ValueError(f"CBOR tag {message.tag} is not COSE_Sign1")  # pragma: no mutate (unread)
        message = message.value
    match message:
        case [bytes() as protected, Mapping() as unprotected, bytes() as payload, bytes() as signature]:
            return protected, unprotected, payload, signature
    raise ValueError("not a COSE_Sign1 array of protected header, unprotected header, payload and signature")  # pragma: no mutate (unread)


def verify_dcc(payload: str, trust: TrustList, *, now: float, schema_version: str | None = None,
               thorough: bool = True) -> DccResult:
    """Every stage of one HC1: payload; never raises for bad input. `thorough=False` (the gate) stops before the
    schema when the code is refused already: a code from an unknown signer with a thousand entries cost half a
    second of schema checking, on the frame loop's clock, to be refused anyway."""
    result = DccResult()
    raw = _unwrap(payload, result)
    decoded = _decode(raw, result) if raw is not None else None
    if decoded is None:
        return result
    protected_bytes, protected, unprotected, cose_payload, signature, claims, hcert = decoded
    result.certificate = hcert
    result.kind = next((k for k in ("v", "t", "r") if hcert.get(k)), None)
    issued, expires = claims.get(6), claims.get(4)
    result.issued = float(issued) if isinstance(issued, (int, float)) else None
    result.expires = float(expires) if isinstance(expires, (int, float)) else None
    _check_signer(result, trust, protected, unprotected, [protected_bytes, cose_payload, signature])
    _check_times(result, now)
    if not thorough and result.reason:  # refused already (signer, signature, key usage or time)
        return result
    entries = [hcert.get(kind) for kind in ("v", "t", "r") if hcert.get(kind) is not None]
    if not thorough and any(not isinstance(entry, list) or len(entry) != 1 for entry in entries):
        return result.fail("schema", "invalid", "schema:one_entry_expected")  # the EU DCC holds exactly one
    version = schema_version or str(hcert.get("ver"))  # a version without a schema here: the newest 1.3
    problem = _schema_problem(version, json.dumps(hcert, sort_keys=True))  # sorted: one cache entry per certificate
    if problem:
        result.fail("schema", "invalid", f"schema:{problem}")
    else:
        result.stages["schema"] = True
    if all(result.stages.values()):
        result.status, result.reason = "valid", "ok"
    return result


def _unwrap(payload: str, result: DccResult) -> bytes | None:
    """The COSE bytes inside `HC1:` + base45 + zlib, each step bounded; None (and the reason) when one fails."""
    if len(payload) > MAX_PAYLOAD:
        result.fail("unprefix", "unreadable", "payload_too_large")
        return None
    if not payload.startswith(PREFIX):
        result.fail("unprefix", "unreadable", "missing_hc1_prefix")
        return None
    result.stages["unprefix"] = True
    try:
        compressed = base45.b45decode(payload[len(PREFIX):])
    except (ValueError, KeyError, TypeError):
        result.fail("b45decode", "unreadable", "base45_invalid")
        return None
    result.stages["b45decode"] = True
    try:
        inflater = zlib.decompressobj()
        raw = inflater.decompress(compressed, MAX_INFLATED)
        problem = "inflated_too_large" if inflater.unconsumed_tail else ("zlib_truncated" if not inflater.eof else "")
    except zlib.error:
        problem = "zlib_invalid"
    if problem:
        result.fail("compression", "unreadable", problem)
        return None
    result.stages["compression"] = True
    return raw


def _decode(raw: bytes, result: DccResult) -> tuple | None:
    """COSE_Sign1's parts, its CWT claims and the health certificate as plain JSON; None when unreadable."""
    try:
        protected_bytes, unprotected, cose_payload, signature = _decode_cose(raw)
        cbor_guard.check(protected_bytes or b"\xa0")
        protected = cbor2.loads(protected_bytes) if protected_bytes else {}
        if not isinstance(protected, Mapping):
            raise ValueError("protected header is not a map")  # pragma: no mutate (unread)
        cbor_guard.check(cose_payload)
        claims = cbor2.loads(cose_payload)
        if not isinstance(claims, Mapping):
            raise ValueError("CWT claims are not a map")  # pragma: no mutate (unread)
        health = claims.get(-260)
        hcert = health.get(1) if isinstance(health, Mapping) else None
        if not isinstance(hcert, Mapping) and isinstance(health, Mapping) and -6 in health:
            result.fail("decode", "unsupported", "unsupported_format:who_ddcc")  # WHO DDCC:VS, not an EU DCC
            return None
        if not isinstance(hcert, Mapping):
            raise ValueError("no health certificate (claim -260/1)")  # pragma: no mutate (unread)
        hcert = json.loads(json.dumps(hcert, default=_plain))  # plain JSON types, as the schema expects
    except (ValueError, TypeError, cbor2.CBORDecodeError, RecursionError, OverflowError, MemoryError):
        result.fail("decode", "unreadable", "cose_or_cbor_invalid")
        return None
    result.stages["decode"] = True
    return protected_bytes, protected, unprotected, cose_payload, signature, claims, hcert


def _check_signer(result: DccResult, trust: TrustList, protected: Mapping, unprotected: Mapping,
                  signed: list[bytes]) -> None:
    """The signature by a signer on the trust list, valid when the certificate was issued, allowed its kind."""
    protected_bytes, cose_payload, signature = signed
    kid = protected.get(4) or unprotected.get(4)
    algorithm = protected.get(1, unprotected.get(1))
    result.kid = base64.b64encode(kid).decode() if isinstance(kid, bytes) else None
    signers = trust.lookup(kid if isinstance(kid, bytes) else None)
    if algorithm not in ALGORITHMS:
        result.fail("verify", "invalid", f"unsupported_algorithm:{algorithm}")
        return
    if not signers:
        result.fail("verify", "untrusted", "kid_not_in_trust_list")
        return
    to_sign = cbor2.dumps(["Signature1", protected_bytes, b"", cose_payload])
    signer = next((s for s in signers if verify_signature(s, algorithm, to_sign, signature)), None)
    if signer is None:
        result.fail("verify", "invalid", "signature_invalid")
        return
    result.stages["verify"] = True
    # the DCC rules: the signer's certificate must be valid when the certificate was issued
    if result.issued is not None and not signer.valid_at(result.issued):
        result.fail("signer", "invalid", "signer_certificate_not_valid_at_issue")
    else:
        result.stages["signer"] = True
    if not key_usage_allows(signer, result.kind):
        result.fail("keyusage", "invalid", f"signer_not_allowed_for_{KIND_NAMES[result.kind] if result.kind else 'kind'}")
    else:
        result.stages["keyusage"] = True


def _check_times(result: DccResult, now: float) -> None:
    if result.expires is None or result.issued is None:
        result.fail("expiration", "invalid", "cwt_times_missing")
    elif now > result.expires:
        result.fail("expiration", "expired", "certificate_expired")
    elif now < result.issued - 300:
        result.fail("expiration", "invalid", "issued_in_the_future")
    else:
        result.stages["expiration"] = True


def _plain(value: Any) -> Any:
    if isinstance(value, datetime.datetime):  # CBOR tag 0/1 (the test's sample time, "sc")
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, datetime.date):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON")  # pragma: no mutate (unread: the code is unreadable)


def parse_clock(text: str) -> float:
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()  # pragma: no mutate (3.11 reads Z)
