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
import hashlib
import json
import zlib
from dataclasses import dataclass, field
from functools import lru_cache
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import base45
import cbor2
from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from edge.qr import cbor_guard

PREFIX = "HC1:"
MAX_PAYLOAD = 8192  # characters of a QR payload; larger is refused before decoding
MAX_INFLATED = 64 * 1024  # bytes after zlib; a larger certificate is a zip bomb, not a DCC
SCHEMA_DIR = Path(__file__).with_name("dcc_schemas")

COSE_SIGN1_TAG = 18
CWT_TAG = 61
ALGORITHMS = {-7: ("EC", hashes.SHA256), -35: ("EC", hashes.SHA384), -36: ("EC", hashes.SHA512),
              -37: ("PSS", hashes.SHA256), -38: ("PSS", hashes.SHA384), -39: ("PSS", hashes.SHA512)}
# Extended key usages of DCC signer certificates: which kinds a signer may sign.
KEY_USAGE = {"1.3.6.1.4.1.1847.2021.1.1": "t", "1.3.6.1.4.1.1847.2021.1.2": "v", "1.3.6.1.4.1.1847.2021.1.3": "r",
             "1.3.6.1.4.1.0.1847.2021.1.1": "t", "1.3.6.1.4.1.0.1847.2021.1.2": "v",
             "1.3.6.1.4.1.0.1847.2021.1.3": "r"}
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


@dataclass(frozen=True)
class Signer:
    kid: bytes
    public_key: Any
    kinds: frozenset[str] | None  # None: no DCC key usage restriction
    not_after: float | None
    not_before: float | None = None  # validity of the signer certificate; None where it could not be read

    def valid_at(self, when: float) -> bool:
        return (self.not_before is None or when >= self.not_before) and (self.not_after is None or when <= self.not_after)


def kid_of(der: bytes) -> bytes:
    return hashlib.sha256(der).digest()[:8]


def _der_items(data: bytes, start: int, end: int):
    """(tag, content start, content end) of each DER element between start and end."""
    position = start
    while position < end:
        tag = data[position]
        length = data[position + 1]
        position += 2
        if length & 0x80:
            count = length & 0x7F
            length = int.from_bytes(data[position:position + count], "big")  # pragma: no mutate (big is the default)
            position += count
        yield tag, position, position + length
        position += length


def _fallback_key_and_usage(der: bytes) -> tuple[Any, frozenset[str] | None]:
    """For signer certificates whose extensions `cryptography` refuses: walk the DER ourselves."""
    (_, cert_start, cert_end), = list(_der_items(der, 0, len(der)))[:1]
    tbs_tag, tbs_start, tbs_end = next(_der_items(der, cert_start, cert_end))
    fields = list(_der_items(der, tbs_start, tbs_end))
    offset = 1 if fields and fields[0][0] == 0xA0 else 0  # explicit version
    spki_tag, spki_start, spki_end = fields[offset + 5]
    length = spki_end - spki_start
    header = spki_start - (2 if length < 128 else 2 + (length.bit_length() + 7) // 8)  # tag, length octets
    spki = der[header:spki_end]
    public_key = serialization.load_der_public_key(spki)
    kinds: set[str] = set()
    for tag, start, end in fields[offset + 6:]:
        if tag != 0xA3:
            continue
        for _, ext_start, ext_end in _der_items(der, *next(_der_items(der, start, end))[1:]):
            parts = list(_der_items(der, ext_start, ext_end))
            oid = x509.ObjectIdentifier(_oid_text(der[parts[0][1]:parts[0][2]]))
            if oid == x509.ExtensionOID.EXTENDED_KEY_USAGE:
                value = parts[-1]
                for _, u_start, u_end in _der_items(der, *next(_der_items(der, value[1], value[2]))[1:]):
                    usage = _oid_text(der[u_start:u_end])
                    if usage in KEY_USAGE:
                        kinds.add(KEY_USAGE[usage])
    return public_key, frozenset(kinds) or None


def _oid_text(body: bytes) -> str:
    first = body[0]
    parts = [first // 40, first % 40]
    value = 0
    for byte in body[1:]:
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            parts.append(value)
            value = 0
    return ".".join(str(p) for p in parts)


def signer_from_der(der: bytes) -> Signer:
    """A trust-list entry from a signer certificate (DER)."""
    not_after: float | None = None
    not_before: float | None = None
    try:
        certificate = x509.load_der_x509_certificate(der)
        not_after = certificate.not_valid_after_utc.timestamp()  # kept when only the extensions are refused
        not_before = certificate.not_valid_before_utc.timestamp()
        public_key = certificate.public_key()
        try:
            usages = certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
            kinds = frozenset(KEY_USAGE[u.dotted_string] for u in usages if u.dotted_string in KEY_USAGE) or None
        except x509.ExtensionNotFound:
            kinds = None
    except (ValueError, UnsupportedAlgorithm):
        try:
            public_key, kinds = _fallback_key_and_usage(der)
        except (IndexError, ValueError, StopIteration, UnsupportedAlgorithm) as error:
            raise ValueError(f"not a certificate ({type(error).__name__})") from None
    return Signer(kid_of(der), public_key, kinds, not_after, not_before)


class TrustList:
    """Signer certificates by key id."""

    def __init__(self, signers: list[Signer] | None = None) -> None:
        self._by_kid: dict[bytes, list[Signer]] = {}
        for signer in signers or []:
            self.add(signer)

    def add(self, signer: Signer) -> None:
        self._by_kid.setdefault(signer.kid, []).append(signer)

    def lookup(self, kid: bytes | None) -> list[Signer]:
        return list(self._by_kid.get(kid or b"", []))

    def __len__(self) -> int:
        return sum(len(v) for v in self._by_kid.values())

    @classmethod
    def from_file(cls, path: Path) -> "TrustList":
        """JSON: a list of base64 DER signer certificates, or objects with a `certificate` field."""
        data = json.loads(Path(path).read_text())
        signers = []
        for index, entry in enumerate(data):
            try:
                text = entry["certificate"] if isinstance(entry, dict) else entry
                signers.append(signer_from_der(base64.b64decode(text)))
            except (ValueError, KeyError, TypeError, StopIteration) as error:
                raise ValueError(f"{path}: entry {index} is not a signer certificate ({error})") from None
        return cls(signers)


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
    if not isinstance(message, (list, tuple)) or len(message) != 4:
        raise ValueError("not a four-element COSE_Sign1 array")  # pragma: no mutate (unread)
    protected, unprotected, payload, signature = message
    if not isinstance(protected, bytes) or not isinstance(unprotected, Mapping):
        raise ValueError("COSE headers have the wrong CBOR types")  # pragma: no mutate (unread)
    if not isinstance(payload, bytes) or not isinstance(signature, bytes):
        raise ValueError("COSE payload or signature is not a byte string")  # pragma: no mutate (unread)
    return protected, unprotected, payload, signature


def _verify_signature(signer: Signer, algorithm: int, to_sign: bytes, signature: bytes) -> bool:
    family, hash_type = ALGORITHMS[algorithm]
    key = signer.public_key
    try:
        if family == "EC":
            if not isinstance(key, ec.EllipticCurvePublicKey) or len(signature) % 2:
                return False
            half = len(signature) // 2
            r, s = int.from_bytes(signature[:half], "big"), int.from_bytes(signature[half:], "big")  # pragma: no mutate
            der = encode_dss_signature(r, s)
            key.verify(der, to_sign, ec.ECDSA(hash_type()))
        else:
            if not isinstance(key, rsa.RSAPublicKey):
                return False
            key.verify(signature, to_sign, padding.PSS(mgf=padding.MGF1(hash_type()), salt_length=32), hash_type())
    except (InvalidSignature, ValueError):
        return False
    return True


def key_usage_allows(signer: Signer, kind: str | None) -> bool:
    """A signer with no DCC extended key usage may sign every kind; otherwise only those it lists."""
    return signer.kinds is None or kind in signer.kinds


def verify_dcc(payload: str, trust: TrustList, *, now: float, schema_version: str | None = None,
               thorough: bool = True) -> DccResult:
    """Every stage of one HC1: payload; never raises for bad input. `thorough=False` (the gate) stops before the
    schema when the code is refused already: a code from an unknown signer with a thousand entries cost half a
    second of schema checking, on the frame loop's clock, to be refused anyway."""
    result = DccResult()
    if len(payload) > MAX_PAYLOAD:
        return result.fail("unprefix", "unreadable", "payload_too_large")
    if not payload.startswith(PREFIX):
        return result.fail("unprefix", "unreadable", "missing_hc1_prefix")
    result.stages["unprefix"] = True
    try:
        compressed = base45.b45decode(payload[len(PREFIX):])
    except (ValueError, KeyError, TypeError):
        return result.fail("b45decode", "unreadable", "base45_invalid")
    result.stages["b45decode"] = True
    try:
        inflater = zlib.decompressobj()
        raw = inflater.decompress(compressed, MAX_INFLATED)
        if inflater.unconsumed_tail:
            return result.fail("compression", "unreadable", "inflated_too_large")
        if not inflater.eof:
            return result.fail("compression", "unreadable", "zlib_truncated")
    except zlib.error:
        return result.fail("compression", "unreadable", "zlib_invalid")
    result.stages["compression"] = True
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
        hcert = claims.get(-260, {}).get(1) if isinstance(claims.get(-260), Mapping) else None
        if not isinstance(hcert, Mapping) and isinstance(claims.get(-260), Mapping) and -6 in claims[-260]:
            return result.fail("decode", "unsupported", "unsupported_format:who_ddcc")  # WHO DDCC:VS, not an EU DCC
        if not isinstance(hcert, Mapping):
            raise ValueError("no health certificate (claim -260/1)")  # pragma: no mutate (unread)
        hcert = json.loads(json.dumps(hcert, default=_plain))  # plain JSON types, as the schema expects
    except (ValueError, TypeError, cbor2.CBORDecodeError, RecursionError, OverflowError, MemoryError):
        return result.fail("decode", "unreadable", "cose_or_cbor_invalid")
    result.stages["decode"] = True
    result.certificate = hcert
    result.kind = next((k for k in ("v", "t", "r") if hcert.get(k)), None)
    issued, expires = claims.get(6), claims.get(4)
    result.issued = float(issued) if isinstance(issued, (int, float)) else None
    result.expires = float(expires) if isinstance(expires, (int, float)) else None

    kid = protected.get(4) or unprotected.get(4)
    algorithm = protected.get(1, unprotected.get(1))
    result.kid = base64.b64encode(kid).decode() if isinstance(kid, bytes) else None
    signers = trust.lookup(kid if isinstance(kid, bytes) else None)
    if algorithm not in ALGORITHMS:
        result.fail("verify", "invalid", f"unsupported_algorithm:{algorithm}")
    elif not signers:
        result.fail("verify", "untrusted", "kid_not_in_trust_list")
    else:
        to_sign = cbor2.dumps(["Signature1", protected_bytes, b"", cose_payload])
        signer = next((s for s in signers if _verify_signature(s, algorithm, to_sign, signature)), None)
        if signer is None:
            result.fail("verify", "invalid", "signature_invalid")
        else:
            result.stages["verify"] = True
            # the DCC rules: the signer's certificate must be valid when the certificate was issued
            if result.issued is not None and not signer.valid_at(result.issued):
                result.fail("signer", "invalid", "signer_certificate_not_valid_at_issue")
            else:
                result.stages["signer"] = True
            if not key_usage_allows(signer, result.kind):
                result.fail("keyusage", "invalid", f"signer_not_allowed_for_{KIND_NAMES.get(result.kind or '', 'kind')}")
            else:
                result.stages["keyusage"] = True

    if result.expires is None or result.issued is None:
        result.fail("expiration", "invalid", "cwt_times_missing")
    elif now > result.expires:
        result.fail("expiration", "expired", "certificate_expired")
    elif now < result.issued - 300:
        result.fail("expiration", "invalid", "issued_in_the_future")
    else:
        result.stages["expiration"] = True

    if not thorough and result.reason:  # refused already (signer, signature, key usage or time)
        return result
    entries = [hcert.get(kind) for kind in ("v", "t", "r") if hcert.get(kind) is not None]
    if not thorough and any(not isinstance(entry, list) or len(entry) != 1 for entry in entries):
        return result.fail("schema", "invalid", "schema:one_entry_expected")  # the EU DCC holds exactly one
    version = schema_version or str(hcert.get("ver", "1.3.3"))
    problem = _schema_problem(version, json.dumps(hcert, sort_keys=True))
    if problem:
        result.fail("schema", "invalid", f"schema:{problem}")
    else:
        result.stages["schema"] = True
    if all(result.stages.values()):
        result.status, result.reason = "valid", "ok"
    return result


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, datetime.datetime):  # CBOR tag 0/1 (the test's sample time, "sc")
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, datetime.date):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON")


def parse_clock(text: str) -> float:
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()  # pragma: no mutate (3.11 reads Z)
