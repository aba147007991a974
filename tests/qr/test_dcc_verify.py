"""Every way a certificate is refused has its own status and reason, and marks the stage that failed."""

import datetime
import zlib

import base45
import cbor2
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from edge.qr.dcc import COSE_SIGN1_TAG, MAX_INFLATED, MAX_PAYLOAD, TrustList, kid_of, signer_from_der, verify_dcc
from edge.qr.dcc_issue import encode_dcc, make_signer, vaccination

NOW = 1_800_000_000.0
KEY, SIGNER = make_signer()
TRUST = TrustList([signer_from_der(SIGNER)])
VACCINATION_ONLY = "1.3.6.1.4.1.1847.2021.1.2"


def hc1(raw: bytes) -> str:
    return "HC1:" + base45.b45encode(zlib.compress(raw)).decode()


def cose(claims, *, protected=None, unprotected=None, key=KEY, signer=SIGNER, tag=COSE_SIGN1_TAG, sign=True) -> bytes:
    protected_bytes = cbor2.dumps(protected if protected is not None else {1: -7, 4: kid_of(signer)})
    payload = cbor2.dumps(claims)
    signature = b"\0" * 64
    if sign:
        r, s = decode_dss_signature(key.sign(cbor2.dumps(["Signature1", protected_bytes, b"", payload]),
                                             ec.ECDSA(hashes.SHA256())))
        signature = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    body = [protected_bytes, unprotected or {}, payload, signature]
    return cbor2.dumps(cbor2.CBORTag(tag, body) if tag else body)


def claims(certificate=None, *, issued=NOW - 3600, expires=NOW + 86400):
    return {1: "XX", 6: int(issued), 4: int(expires), -260: {1: certificate or vaccination()}}


def outcome(payload: str, trust=TRUST):
    result = verify_dcc(payload, trust, now=NOW)
    failed = sorted(stage for stage, ok in result.stages.items() if ok is False)
    return result.status, result.reason, failed


GOOD = hc1(cose(claims()))


@pytest.mark.parametrize("payload, expected", [
    ("HC1:" + "A" * (MAX_PAYLOAD - 3), ("unreadable", "payload_too_large", ["unprefix"])),
    ("hc1:" + GOOD[4:], ("unreadable", "missing_hc1_prefix", ["unprefix"])),
    ("HC1:!!!", ("unreadable", "base45_invalid", ["b45decode"])),
    ("HC1:" + base45.b45encode(b"not zlib").decode(), ("unreadable", "zlib_invalid", ["compression"])),
    ("HC1:" + base45.b45encode(zlib.compress(b"x" * 100)[:-6]).decode(), ("unreadable", "zlib_truncated", ["compression"])),
    ("HC1:" + base45.b45encode(zlib.compress(b"\0" * (MAX_INFLATED + 1), 9)).decode(),
     ("unreadable", "inflated_too_large", ["compression"])),
    (hc1(cose(claims(), tag=99)), ("unreadable", "cose_or_cbor_invalid", ["decode"])),
    (hc1(cbor2.dumps(cbor2.CBORTag(COSE_SIGN1_TAG, [b"", {}, b""]))), ("unreadable", "cose_or_cbor_invalid", ["decode"])),
    (hc1(cbor2.dumps([{}, {}, b"", b""])), ("unreadable", "cose_or_cbor_invalid", ["decode"])),
    (hc1(cbor2.dumps([b"", {}, "text", b""])), ("unreadable", "cose_or_cbor_invalid", ["decode"])),
    (hc1(cose([1, 2])), ("unreadable", "cose_or_cbor_invalid", ["decode"])),
    (hc1(cose({1: "XX", -260: {}})), ("unreadable", "cose_or_cbor_invalid", ["decode"])),
    (hc1(cose({1: "XX", -260: {-6: {"n": "x"}}})), ("unsupported", "unsupported_format:who_ddcc", ["decode"])),
    (hc1(cose(claims(), protected={1: -7, 4: b"unknown!"})), ("untrusted", "kid_not_in_trust_list", ["verify"])),
    (hc1(cose(claims(), protected={1: -999, 4: kid_of(SIGNER)})),
     ("invalid", "unsupported_algorithm:-999", ["verify"])),
    (hc1(cose(claims(), sign=False)), ("invalid", "signature_invalid", ["verify"])),
    (hc1(cose(claims(issued=NOW - 200, expires=NOW - 100))), ("expired", "certificate_expired", ["expiration"])),
    (hc1(cose(claims(issued=NOW + 301))), ("invalid", "issued_in_the_future", ["expiration"])),
    (hc1(cose({1: "XX", -260: {1: vaccination()}})), ("invalid", "cwt_times_missing", ["expiration"])),
    (hc1(cose(claims({"ver": "1.3.0", "nam": {"fnt": 1}}))), ("invalid", "schema:", ["schema"])),
    (GOOD, ("valid", "ok", [])),
])
def test_each_refusal_names_its_stage_and_reason(payload, expected):
    status, reason, failed = outcome(payload)
    assert (status, failed) == (expected[0], expected[2]) and reason.startswith(expected[1]), (status, reason, failed)
    if expected[1] != "schema:":
        assert reason == expected[1]


def test_the_size_limit_is_the_limit():
    assert outcome("HC1:" + "A" * (MAX_PAYLOAD - 4))[1] != "payload_too_large"


def test_a_reading_issued_within_five_minutes_of_now_is_not_from_the_future():
    assert outcome(hc1(cose(claims(issued=NOW + 300))))[0] == "valid"
    assert outcome(hc1(cose(claims(issued=NOW - 100, expires=NOW))))[0] == "valid"  # the last second counts


def test_the_key_id_may_sit_in_the_unprotected_header_and_the_message_may_be_untagged():
    assert outcome(hc1(cose(claims(), protected={1: -7}, unprotected={4: kid_of(SIGNER)})))[0] == "valid"
    assert outcome(hc1(cose(claims(), tag=None)))[0] == "valid"
    assert outcome(hc1(cbor2.dumps(cbor2.CBORTag(61, cbor2.loads(cose(claims()))))))[0] == "valid"  # CWT-wrapped


def test_a_signer_is_checked_for_validity_at_issue_and_for_the_kind_it_may_sign():
    start = datetime.datetime.fromtimestamp(NOW - 86400, datetime.timezone.utc)
    key, young = make_signer(valid=(start, start + datetime.timedelta(days=30)))
    trust = TrustList([signer_from_der(young)])
    early = hc1(cose(claims(issued=NOW - 2 * 86400), key=key, signer=young))
    assert outcome(early, trust) == ("invalid", "signer_certificate_not_valid_at_issue", ["signer"])
    key, vaccinations = make_signer(usage=[VACCINATION_ONLY])
    trust = TrustList([signer_from_der(vaccinations)])
    test = {"ver": "1.3.0", "nam": {"fn": "Demo", "fnt": "DEMO"}, "dob": "1980-01-01",
            "t": [{"tg": "840539006", "tt": "LP6464-4", "sc": "2021-06-01T10:00:00Z", "tr": "260415000",
                   "tc": "Test centre", "co": "XX", "is": "issuer", "ci": "URN:UVCI:01:XX:T#0"}]}
    assert outcome(hc1(cose(claims(test), key=key, signer=vaccinations)), trust) == \
        ("invalid", "signer_not_allowed_for_test", ["keyusage"])
    result = verify_dcc(hc1(cose(claims(), key=key, signer=vaccinations)), trust, now=NOW)
    assert (result.status, result.kind, result.issued, result.expires) == ("valid", "v", NOW - 3600, NOW + 86400)
    assert result.kid == __import__("base64").b64encode(kid_of(vaccinations)).decode()
    assert result.certificate["v"][0]["dn"] == 2


def test_issued_certificates_verify():
    payload = encode_dcc(vaccination(), KEY, SIGNER, issued=NOW - 60, expires=NOW + 60)
    assert outcome(payload) == ("valid", "ok", [])


def test_a_signer_whose_key_does_not_fit_the_algorithm_is_a_bad_signature_not_a_crash():
    from cryptography.hazmat.primitives.asymmetric import rsa

    from tests.qr.test_dcc_signers import certificate

    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    rsa_signer = certificate(rsa_key, ())
    trust = TrustList([signer_from_der(rsa_signer)])
    es256 = cbor2.dumps({1: -7, 4: kid_of(rsa_signer)})
    raw = cbor2.dumps(cbor2.CBORTag(COSE_SIGN1_TAG, [es256, {}, cbor2.dumps(claims()), b"\1" * 64]))
    assert outcome(hc1(raw), trust) == ("invalid", "signature_invalid", ["verify"])
    ps256 = hc1(cose(claims(), protected={1: -37, 4: kid_of(SIGNER)}))  # an EC key never verifies RSA-PSS
    assert outcome(ps256) == ("invalid", "signature_invalid", ["verify"])


def test_a_certificate_claim_of_the_wrong_type_is_unreadable():
    assert outcome(hc1(cose({1: "XX", 6: int(NOW), 4: int(NOW) + 60, -260: [1]})))[:2] == \
        ("unreadable", "cose_or_cbor_invalid")


def test_cbor_dates_in_a_certificate_are_read_as_the_schema_expects():
    test = {"ver": "1.3.0", "nam": {"fn": "Demo", "fnt": "DEMO"}, "dob": datetime.date(1980, 1, 1),
            "t": [{"tg": "840539006", "tt": "LP6464-4",
                   "sc": datetime.datetime(2021, 6, 1, 10, 0, tzinfo=datetime.timezone.utc),
                   "tr": "260415000", "tc": "Test centre", "co": "XX", "is": "issuer", "ci": "URN:UVCI:01:XX:T#0"}]}
    result = verify_dcc(hc1(cose(claims(test))), TRUST, now=NOW)
    assert result.status == "valid", result.reason
    assert result.certificate["dob"] == "1980-01-01" and result.certificate["t"][0]["sc"] == "2021-06-01T10:00:00Z"


TEST_ENTRY = {"tg": "840539006", "tt": "LP6464-4", "sc": "2021-06-01T10:00:00Z", "tr": "260415000",
              "tc": "Test centre", "co": "XX", "is": "issuer", "ci": "URN:UVCI:01:XX:T#0"}
RECOVERY_ENTRY = {"tg": "840539006", "fr": "2021-05-01", "co": "XX", "is": "issuer", "df": "2021-05-15",
                  "du": "2021-11-01", "ci": "URN:UVCI:01:XX:R#0"}


def of_kind(kind: str, entries) -> dict:
    certificate = {key: value for key, value in vaccination().items() if key != "v"}
    return {**certificate, kind: entries}


def at_the_gate(certificate: dict):
    result = verify_dcc(hc1(cose(claims(certificate))), TRUST, now=NOW, thorough=False)
    return result.status, result.reason, result.stages["schema"]


@pytest.mark.parametrize("kind, entry", [("v", vaccination()["v"][0]), ("t", TEST_ENTRY), ("r", RECOVERY_ENTRY)])
def test_the_gate_refuses_a_certificate_of_more_or_less_than_one_entry_before_its_schema(kind, entry):
    assert at_the_gate(of_kind(kind, [entry])) == ("valid", "ok", True)
    for entries in ([entry, entry], [], {"one": 1}):
        assert at_the_gate(of_kind(kind, entries)) == ("invalid", "schema:one_entry_expected", False), entries
    thorough = verify_dcc(hc1(cose(claims(of_kind(kind, [entry, entry])))), TRUST, now=NOW)
    assert thorough.reason == f"schema:{kind}:maxItems"  # the verifier tells the whole reason: the schema's


def test_the_gate_does_not_check_the_schema_of_a_code_refused_already():
    unknown_signer = hc1(cose(claims(of_kind("v", [{"dn": "not a number"}] * 1000)), protected={1: -7, 4: b"unknown!"}))
    at_gate = verify_dcc(unknown_signer, TRUST, now=NOW, thorough=False)
    assert (at_gate.reason, at_gate.stages["schema"]) == ("kid_not_in_trust_list", None)
    assert verify_dcc(unknown_signer, TRUST, now=NOW).stages["schema"] is False


def test_the_schema_is_the_one_of_the_version_the_certificate_names():
    born_1980 = {**vaccination(), "dob": "1980"}  # a year alone is a date of birth from schema 1.3.0 on
    assert outcome(hc1(cose(claims(born_1980))))[:2] == ("valid", "ok")
    assert outcome(hc1(cose(claims({**born_1980, "ver": "1.0.0"}))))[:2] == ("invalid", "schema:dob:pattern")
    read_as_1_0 = verify_dcc(hc1(cose(claims(born_1980))), TRUST, now=NOW, schema_version="1.0.0")
    assert read_as_1_0.reason == "schema:dob:pattern"
    unknown_version = {**born_1980, "ver": "9.9.9"}  # no schema of its own: read by the newest
    assert outcome(hc1(cose(claims(unknown_version))))[:2] == ("valid", "ok")


def test_a_certificate_is_schema_checked_once_whatever_the_order_of_its_keys():
    from edge.qr.dcc import _schema_problem

    certificate = vaccination(name="Orderly")
    verify_dcc(hc1(cose(claims(certificate))), TRUST, now=NOW)
    before = _schema_problem.cache_info()
    reordered = dict(reversed(list(certificate.items())))
    assert outcome(hc1(cose(claims(reordered))))[:2] == ("valid", "ok")
    after = _schema_problem.cache_info()
    assert (after.hits, after.misses) == (before.hits + 1, before.misses)


@pytest.mark.parametrize("times", [{4: int(NOW + 86400)}, {6: int(NOW - 3600)}])
def test_a_certificate_missing_either_time_is_refused(times):
    assert outcome(hc1(cose({1: "XX", **times, -260: {1: vaccination()}}))) == \
        ("invalid", "cwt_times_missing", ["expiration"])


@pytest.mark.parametrize("kid", [None, [1, 2], 7])
def test_a_key_id_that_is_missing_or_not_bytes_is_untrusted_not_a_crash(kid):
    protected = {1: -7} if kid is None else {1: -7, 4: kid}
    result = verify_dcc(hc1(cose(claims(), protected=protected)), TRUST, now=NOW)
    assert (result.status, result.reason, result.kid) == ("untrusted", "kid_not_in_trust_list", None)


@pytest.mark.parametrize("body", [
    [b"\xa0", [], b"\xa0", b"\0" * 64],  # unprotected header not a map
    [b"\xa0", {}, b"\xa0", "signature"],  # signature not bytes
    [b"\xa0", {}, "payload", b"\0" * 64],
    [b"\xa0", {}, b"\xa0"],
    [b"\xa0", {}, b"\xa0", b"\0" * 64, b""],
])
def test_a_cose_message_of_the_wrong_shape_is_unreadable(body):
    assert outcome(hc1(cbor2.dumps(cbor2.CBORTag(COSE_SIGN1_TAG, body))))[:2] == ("unreadable", "cose_or_cbor_invalid")


def test_a_signer_limited_to_some_kinds_refuses_a_certificate_of_none():
    key, vaccinations = make_signer(usage=[VACCINATION_ONLY])
    no_entries = {key: value for key, value in vaccination().items() if key != "v"}
    assert outcome(hc1(cose(claims(no_entries), key=key, signer=vaccinations)), TrustList([signer_from_der(vaccinations)]))[:2] == \
        ("invalid", "signer_not_allowed_for_kind")
