"""DCC signers: certificates read (leniently, where a country's certificate breaks the X.509 rules), held in a trust
list by key id, and the COSE signature checked against them."""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

ALGORITHMS = {-7: ("EC", hashes.SHA256), -35: ("EC", hashes.SHA384), -36: ("EC", hashes.SHA512),
              -37: ("PSS", hashes.SHA256), -38: ("PSS", hashes.SHA384), -39: ("PSS", hashes.SHA512)}
# Extended key usages of DCC signer certificates: which kinds a signer may sign.
KEY_USAGE = {"1.3.6.1.4.1.1847.2021.1.1": "t", "1.3.6.1.4.1.1847.2021.1.2": "v", "1.3.6.1.4.1.1847.2021.1.3": "r",
             "1.3.6.1.4.1.0.1847.2021.1.1": "t", "1.3.6.1.4.1.0.1847.2021.1.2": "v",
             "1.3.6.1.4.1.0.1847.2021.1.3": "r"}


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
    """X.690 8.19: base-128 subidentifiers, the first holding two arcs (40 x + y; under arc 2, y may pass 39)."""
    values = []
    value = 0
    for byte in body:
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            values.append(value)
            value = 0
    first = values[0]
    arcs = [min(first // 40, 2), first - 40 * min(first // 40, 2)]
    return ".".join(str(arc) for arc in arcs + values[1:])


def signer_from_der(der: bytes) -> Signer:
    """A trust-list entry from a signer certificate (DER)."""
    # Set only once the certificate loads; the walk's own certificates all load (their extensions are what fails)
    not_after: float | None = None  # pragma: no mutate
    not_before: float | None = None  # pragma: no mutate
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
        # no signer's key id is empty (or any other made-up bytes): it is the first 8 bytes of a certificate's hash
        return list(self._by_kid.get(kid or b"", []))  # pragma: no mutate

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


def verify_signature(signer: Signer, algorithm: int, to_sign: bytes, signature: bytes) -> bool:
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
