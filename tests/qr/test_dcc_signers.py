"""Signer certificates: the DER walk used where `cryptography` refuses a certificate must read the same
key and key usage that `cryptography` reads from a well-formed one; trust lists from files."""

import base64
import datetime
import json

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from edge.qr.dcc import DccResult
from edge.qr.dcc_signers import Signer, TrustList, _fallback_key_and_usage, _oid_text, kid_of, signer_from_der

VACCINATION, TEST, RECOVERY = "1.3.6.1.4.1.1847.2021.1.2", "1.3.6.1.4.1.1847.2021.1.1", "1.3.6.1.4.1.1847.2021.1.3"
OLD_RECOVERY = "1.3.6.1.4.1.0.1847.2021.1.3"
START = datetime.datetime(2021, 6, 1, tzinfo=datetime.timezone.utc)


def certificate(key, usages=(), *, extra=True, long_name=False) -> bytes:
    attributes = [x509.NameAttribute(NameOID.COMMON_NAME, "DSC AT")]
    if long_name:  # a subject over 255 bytes: two-byte DER lengths
        attributes += [x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, f"unit {n} " + "x" * 50) for n in range(6)]
    name = x509.Name(attributes)
    builder = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
               .serial_number(7).not_valid_before(START).not_valid_after(START + datetime.timedelta(days=730)))
    if extra:
        builder = builder.add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        builder = builder.add_extension(x509.KeyUsage(True, False, False, False, False, False, False, False, False),
                                        critical=True)
    if usages:
        builder = builder.add_extension(x509.ExtendedKeyUsage([x509.ObjectIdentifier(u) for u in usages]),
                                        critical=False)
    return builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)


def public_bytes(key) -> bytes:
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


EC_KEY = ec.generate_private_key(ec.SECP256R1())
RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.mark.parametrize("key, usages, kinds, options", [
    (EC_KEY, (VACCINATION, TEST), frozenset({"v", "t"}), {}),
    (EC_KEY, (), None, {}),
    (EC_KEY, (RECOVERY,), frozenset({"r"}), {"extra": False}),
    (EC_KEY, (OLD_RECOVERY, "1.3.6.1.5.5.7.3.2"), frozenset({"r"}), {}),  # an unrelated usage is ignored
    (RSA_KEY, (VACCINATION,), frozenset({"v"}), {"long_name": True}),  # long-form DER lengths throughout
    (ec.generate_private_key(ec.SECP521R1()), (TEST,), frozenset({"t"}), {}),  # a key of 158 bytes: one length octet
])
def test_the_der_walk_reads_what_cryptography_reads(key, usages, kinds, options):
    der = certificate(key, usages, **options)
    walked_key, walked_kinds = _fallback_key_and_usage(der)
    parsed = signer_from_der(der)
    assert public_bytes(walked_key) == public_bytes(parsed.public_key) == public_bytes(key.public_key())
    assert walked_kinds == parsed.kinds == kinds


def test_a_signer_carries_its_key_id_and_validity():
    der = certificate(EC_KEY, (VACCINATION,))
    signer = signer_from_der(der)
    assert signer.kid == kid_of(der) and len(signer.kid) == 8
    assert signer.not_before == START.timestamp() and signer.not_after == (START + datetime.timedelta(days=730)).timestamp()


@pytest.mark.parametrize("body, text", [(bytes([0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D]), "1.2.840.113549"),
                                        (bytes([0x55, 0x1D, 0x25]), "2.5.29.37"),
                                        (bytes([0x2B, 0x06, 0x01, 0x04, 0x01, 0x8E, 0x37, 0x8F, 0x65, 0x01, 0x02]),
                                         "1.3.6.1.4.1.1847.2021.1.2"),
                                        (bytes([0x27]), "0.39"), (bytes([0x28]), "1.0"), (bytes([0x50]), "2.0"),
                                        (bytes([0x78, 0x01]), "2.40.1"), (bytes([0x88, 0x37]), "2.999")])
def test_object_identifiers_are_decoded_as_x690_says(body, text):
    assert _oid_text(body) == text


def test_the_first_failure_names_the_result_and_every_failing_stage_is_marked():
    result = DccResult()
    assert result.fail("b45decode", "unreadable", "base45") is result
    assert (result.status, result.reason) == ("unreadable", "base45")  # unreadable gives way to a sharper reason
    result.fail("verify", "invalid", "signature")
    assert (result.status, result.reason, result.stages["verify"]) == ("invalid", "signature", False)
    result.fail("expiration", "expired", "expired")
    assert (result.status, result.reason) == ("invalid", "signature")  # the first real failure stands
    assert result.stages["expiration"] is False and result.stages["schema"] is None
    passed = DccResult(status="valid", reason="ok")
    passed.fail("schema", "invalid", "schema:v")
    assert (passed.status, passed.reason) == ("invalid", "schema:v")
    blank = DccResult(status="invalid", reason="")
    blank.fail("signer", "untrusted", "signer expired")
    assert (blank.status, blank.reason) == ("untrusted", "signer expired")


@pytest.mark.parametrize("when, valid", [(99.0, False), (100.0, True), (200.0, True), (200.5, False)])
def test_a_signer_is_valid_from_its_first_to_its_last_second(when, valid):
    assert Signer(b"k" * 8, None, None, not_after=200.0, not_before=100.0).valid_at(when) is valid
    assert Signer(b"k" * 8, None, None, not_after=None, not_before=None).valid_at(when)


def test_a_trust_list_from_a_file_of_certificates_or_entries(tmp_path):
    first, second = certificate(EC_KEY, (VACCINATION,)), certificate(RSA_KEY, (TEST,))
    path = tmp_path / "trust.json"
    path.write_text(json.dumps([base64.b64encode(first).decode(), {"certificate": base64.b64encode(second).decode()}]))
    trust = TrustList.from_file(path)
    assert len(trust) == 2
    assert [s.kinds for s in trust.lookup(kid_of(first))] == [frozenset({"v"})]
    assert trust.lookup(None) == [] and trust.lookup(b"nope") == []
    twice = TrustList([signer_from_der(first), signer_from_der(first)])
    assert len(twice) == 2 and len(twice.lookup(kid_of(first))) == 2
    path.write_text(json.dumps(["bm90IGEgY2VydGlmaWNhdGU=", {}]))
    with pytest.raises(ValueError, match=r"trust.json: entry 0 is not a signer certificate"):
        TrustList.from_file(path)
    path.write_text(json.dumps([{}]))
    with pytest.raises(ValueError, match=r"entry 0 is not a signer certificate"):
        TrustList.from_file(path)


def test_a_certificate_whose_extensions_cryptography_refuses_is_walked_and_keeps_its_dates():
    from cryptography.x509.oid import ExtensionOID

    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "DSC")])
    builder = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(EC_KEY.public_key())
               .serial_number(7).not_valid_before(START).not_valid_after(START + datetime.timedelta(days=730))
               .add_extension(x509.UnrecognizedExtension(ExtensionOID.KEY_USAGE, b"\x04\x00"), critical=True)
               .add_extension(x509.ExtendedKeyUsage([x509.ObjectIdentifier(VACCINATION)]), critical=True))
    der = builder.sign(EC_KEY, hashes.SHA256()).public_bytes(serialization.Encoding.DER)
    with pytest.raises(ValueError):
        _ = x509.load_der_x509_certificate(der).extensions  # what the EU suite's odd signers do
    signer = signer_from_der(der)
    assert signer.kinds == frozenset({"v"})  # read from a critical extension: three parts, the value last
    assert public_bytes(signer.public_key) == public_bytes(EC_KEY.public_key())
    assert signer.not_before == START.timestamp()
    assert signer.not_after == (START + datetime.timedelta(days=730)).timestamp()


@pytest.mark.parametrize("der", [b"", b"\x30\x03\x02\x01", b"\x30\x00", b"not a certificate at all"])
def test_bytes_that_are_no_certificate_say_so_with_the_reason(der):
    with pytest.raises(ValueError, match=r"^not a certificate \((IndexError|ValueError|StopIteration)\)$"):
        signer_from_der(der)
