"""Make EU DCC payloads with our own signer: for demos, tests and fuzzing (never for real use)."""

from __future__ import annotations

import base64
import datetime
import zlib

import base45
import cbor2
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID

from edge.qr.dcc import COSE_SIGN1_TAG, kid_of


def make_signer(country: str = "XX", *, usage: list[str] | None = None,
                valid: tuple[datetime.datetime, datetime.datetime] | None = None) -> tuple[ec.EllipticCurvePrivateKey, bytes]:
    """A self-signed document signer certificate (DER) and its key; valid from yesterday for ten years unless given."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, country),
                      x509.NameAttribute(NameOID.COMMON_NAME, "gatepost demo DSC")])
    now = datetime.datetime.now(datetime.timezone.utc)
    start, end = valid or (now - datetime.timedelta(days=1), now + datetime.timedelta(days=3650))
    builder = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
               .serial_number(x509.random_serial_number()).not_valid_before(start).not_valid_after(end))
    if usage:
        builder = builder.add_extension(x509.ExtendedKeyUsage([x509.ObjectIdentifier(u) for u in usage]), critical=False)
    return key, builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)


def encode_dcc(certificate: dict, key: ec.EllipticCurvePrivateKey, signer_der: bytes, *, issued: float,
               expires: float, issuer: str = "XX") -> str:
    protected = cbor2.dumps({1: -7, 4: kid_of(signer_der)})
    payload = cbor2.dumps({1: issuer, 6: int(issued), 4: int(expires), -260: {1: certificate}})
    to_sign = cbor2.dumps(["Signature1", protected, b"", payload])
    r, s = decode_dss_signature(key.sign(to_sign, ec.ECDSA(hashes.SHA256())))
    signature = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    cose = cbor2.dumps(cbor2.CBORTag(COSE_SIGN1_TAG, [protected, {}, payload, signature]))
    return "HC1:" + base45.b45encode(zlib.compress(cose, 9)).decode()


def vaccination(name: str = "Demo", given: str = "Visitor", dose: int = 2, of: int = 2) -> dict:
    return {"ver": "1.3.0", "nam": {"fn": name, "fnt": name.upper(), "gn": given, "gnt": given.upper()},
            "dob": "1980-01-01", "v": [{"tg": "840539006", "vp": "1119349007", "mp": "EU/1/20/1528",
                                        "ma": "ORG-100030215", "dn": dose, "sd": of, "dt": "2021-06-01",
                                        "co": "XX", "is": "gatepost demo issuer",
                                        "ci": "URN:UVCI:01:XX:GATEPOSTDEMO0000000001#0"}]}


def signer_b64(signer_der: bytes) -> str:
    return base64.b64encode(signer_der).decode()
