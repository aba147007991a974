"""Which verifier reads a code, and the gate's own policy on a valid EU certificate: each rule at its bound."""

from __future__ import annotations

import json
import logging

import pytest

from edge.config import DccConfig, parse_config
from edge.qr.dcc import TrustList, signer_from_der
from edge.mqtt.auth import generate_key
from edge.qr.dcc_issue import encode_dcc, make_signer, signer_b64, vaccination
from edge.qr.passes import issue_pass
from edge.qr.verify import (MAX_PAYLOAD, TEST_NOT_DETECTED, DccVerifier, VerifierRegistry, build_registry,
                            foreign_format, load_trust_list)
from edge.readings import QrResult
from edge.store import Store

NOW = 1_800_000_000.0
KEY, SIGNER = make_signer()
TEST_TAKEN = "2027-01-15T08:00:00Z"  # NOW is 2027-01-15T08:00:00Z


def answering(reason: str):
    return lambda payload, source: QrResult(payload, source, "valid", reason, "test")


def failing(payload: str, source: str) -> QrResult:
    raise KeyError("a verifier's bug")


def test_the_first_verifier_whose_prefix_a_code_starts_with_reads_it():
    registry = VerifierRegistry()
    registry.register("AB", answering("first"))
    registry.register("A", answering("second"))
    registry.register("B", failing)
    assert registry.verify("ABC", "camera") == QrResult("ABC", "camera", "valid", "first", "test")
    assert registry.verify("AC", "scanner").reason == "second"
    assert registry.verify("B" * 100, "camera") == QrResult("B" * 64, "camera", "unreadable",
                                                            "verifier_error:KeyError")
    assert registry.verify("C" * 100, "camera") == QrResult("C" * 64, "camera", "unreadable",
                                                            "unknown_payload_format", "unknown")
    assert registry.verify("shc:/" + "5" * 100, "camera") == QrResult(
        "shc:/" + "5" * 59, "camera", "unsupported", "unsupported_format:smart_health_card", "unknown")


def test_a_code_over_the_size_limit_is_not_read():
    registry = VerifierRegistry()
    registry.register("A", answering("read"))
    assert registry.verify("A" * MAX_PAYLOAD, "camera").reason == "read"
    assert registry.verify("A" * (MAX_PAYLOAD + 1), "camera") == QrResult(
        "A" * 64, "camera", "unreadable", "payload_too_large", "unknown")


@pytest.mark.parametrize("payload, named", [
    ("SHC:/56", "smart_health_card"), ("shc:/56", "smart_health_card"), ("shc:56", None),
    ("PK\x03\x04rest", "divoc"), ("PK\x03\x05rest", None),
    ('  {"data": {"hdr": {"t": "icao.test"}}, "sig": {}}', "icao_vds_nc"),
    ('{"data": {"hdr": {"t": "icao.test"}}}', None),
    ('{"data": {"hdr": {"t": "vacc.icao"}}, "sig": {}}', None),
    ('{"data": {"hdr": ["icao"]}, "sig": {}}', None),
    ('{"data": "icao", "sig": {}}', None),
    ('{"@context": ["https://divoc.example/v1"], "credentialSubject": {}}', "divoc"),
    ('{"@context": "https://DIVOC.example/v1", "credentialSubject": {}}', "divoc"),
    ('{"@context": ["https://w3.example/v1"], "credentialSubject": {}}', "w3c_credential"),
    ('{"credentialSubject": {}}', None), ('{"@context": []}', None),
    ('{"@context": [], "credentialSubject": {}', None), ('["icao"]', None), ("x{", None),
])
def test_foreign_health_credentials_are_named_by_their_form(payload, named):
    assert foreign_format(payload) == named


def test_a_valid_certificate_is_named_by_its_kind_and_a_refused_one_keeps_the_verifier_s_reason():
    trusted = DccVerifier(TrustList([signer_from_der(SIGNER)]), DccConfig(), clock=lambda: NOW)
    payload = encode_dcc(vaccination(), KEY, SIGNER, issued=NOW - 60, expires=NOW + 86400)
    assert trusted(payload, "scanner") == QrResult(payload[:64], "scanner", "valid", "dcc_v", "dcc")
    untrusted = DccVerifier(TrustList(), DccConfig(), clock=lambda: NOW)
    assert untrusted(payload, "camera") == QrResult(payload[:64], "camera", "untrusted", "kid_not_in_trust_list",
                                                    "dcc")
    expired = DccVerifier(TrustList([signer_from_der(SIGNER)]), DccConfig(), clock=lambda: NOW + 2 * 86400)
    assert expired(payload, "camera").status == "expired"
    tests_only = DccVerifier(TrustList([signer_from_der(SIGNER)]), DccConfig(accept=["t"]), clock=lambda: NOW)
    assert tests_only(payload, "camera") == QrResult(payload[:64], "camera", "invalid", "policy_kind_v_not_accepted",
                                                     "dcc")


def test_a_negative_test_certificate_is_judged_by_the_gate_s_clock():
    certificate = {key: value for key, value in vaccination().items() if key != "v"}
    certificate["t"] = [{"tg": "840539006", "tt": "LP6464-4", "sc": "2027-01-14T09:00:00Z", "tr": TEST_NOT_DETECTED,
                         "tc": "Test centre", "co": "XX", "is": "gatepost demo issuer",
                         "ci": "URN:UVCI:01:XX:GATEPOSTDEMO0000000002#0"}]
    payload = encode_dcc(certificate, KEY, SIGNER, issued=NOW - 3600, expires=NOW + 86400)
    verifier = DccVerifier(TrustList([signer_from_der(SIGNER)]), DccConfig(max_test_age_h=24.0), clock=lambda: NOW)
    assert verifier(payload, "camera").reason == "dcc_t"  # 23 hours old at NOW
    verifier.clock = lambda: NOW + 7200
    assert verifier(payload, "camera").reason == "policy_test_too_old"


def policy(kind: str, entry: dict | None, **config) -> str:
    return DccVerifier(TrustList(), DccConfig(**config))._policy(kind, {kind: [entry]} if entry else {}, NOW)


def test_a_test_certificate_must_be_negative_and_recent():
    negative = {"tr": TEST_NOT_DETECTED, "sc": TEST_TAKEN}
    assert policy("t", negative) == ""
    assert policy("t", {**negative, "tr": "260373001"}) == "policy_test_not_negative"
    assert policy("t", None) == "policy_test_not_negative"
    assert policy("t", {**negative, "sc": "yesterday"}) == "policy_test_time_unreadable"
    assert policy("t", {"tr": TEST_NOT_DETECTED}) == "policy_test_time_unreadable"
    assert policy("t", {**negative, "sc": "2027-01-13T08:00:00Z"}) == ""  # exactly 48 hours old
    assert policy("t", {**negative, "sc": "2027-01-13T07:59:59Z"}) == "policy_test_too_old"
    assert policy("t", {**negative, "sc": "2027-01-14T08:00:00Z"}, max_test_age_h=24.0) == ""
    assert policy("t", {**negative, "sc": "2027-01-14T07:59:59Z"}, max_test_age_h=24.0) == "policy_test_too_old"


def test_a_vaccination_must_be_complete_in_whole_doses():
    for dose, doses, reason in ((2, 2, ""), (3, 2, ""), (1, 2, "policy_vaccination_incomplete"), (2.0, 2, ""),
                                (1.5, 1, "policy_vaccination_incomplete"), (True, 1, "policy_vaccination_incomplete"),
                                (2, None, "policy_vaccination_incomplete"), ("2", 2, "policy_vaccination_incomplete"),
                                (None, 2, "policy_vaccination_incomplete")):
        assert policy("v", {"dn": dose, "sd": doses}) == reason, (dose, doses)
    assert policy("v", None) == "policy_vaccination_incomplete"


def test_a_recovery_holds_from_its_first_day_to_the_end_of_its_last():
    assert policy("r", {"df": "2027-01-10", "du": "2027-01-20"}) == ""
    for df, du, reason in (("2027-01-15T08:00:01Z", "2027-06-01", "policy_recovery_outside_validity"),
                           ("2027-01-15T08:00:00Z", "2027-06-01", ""),
                           # its last day ends a day after `du` begins
                           ("2027-01-01", "2027-01-14T07:59:59Z", "policy_recovery_outside_validity"),
                           ("2027-01-01", "2027-01-14T08:00:00Z", ""),
                           ("soon", "2027-06-01", "policy_recovery_dates_unreadable"),
                           ("2027-01-01", "later", "policy_recovery_dates_unreadable")):
        assert policy("r", {"df": df, "du": du}) == reason, (df, du)
    assert policy("r", None) == "policy_recovery_dates_unreadable"


def test_a_new_trust_list_reaches_the_certificates_verifier_for_the_next_code():
    registry = VerifierRegistry()
    dcc = DccVerifier(TrustList(), DccConfig(), clock=lambda: NOW)
    other = answering("other")
    registry.register("GP1:", other)
    registry.register("HC1:", dcc)
    payload = encode_dcc(vaccination(), KEY, SIGNER, issued=NOW - 60, expires=NOW + 86400)
    assert registry.verify(payload, "camera").status == "untrusted"
    trust = TrustList([signer_from_der(SIGNER)])
    registry.replace_trust(trust)
    assert dcc.trust is trust and registry.verify(payload, "camera").reason == "dcc_v"


def test_the_trust_list_is_read_from_its_configured_file_or_the_state_folder(tmp_path, caplog):
    state = tmp_path / "state"
    state.mkdir()
    config = parse_config({"state_dir": str(state)})
    assert len(load_trust_list(config, state)) == 0
    (state / "trustlist.json").write_text(json.dumps([signer_b64(SIGNER)]))
    assert len(load_trust_list(config, state)) == 1
    elsewhere = tmp_path / "trust.json"
    elsewhere.write_text(json.dumps([signer_b64(SIGNER), signer_b64(make_signer()[1])]))
    configured = parse_config({"state_dir": str(state), "qr": {"dcc": {"trust_list": str(elsewhere)}}})
    assert len(load_trust_list(configured, state)) == 2
    elsewhere.write_text("not json")
    with caplog.at_level(logging.ERROR, logger="edge.qr.verify"):
        assert len(load_trust_list(configured, state)) == 0
    assert [r.getMessage().startswith(f"trust list {elsewhere} unusable: ") for r in caplog.records] == [True]


def test_the_gate_s_registry_reads_passes_certificates_and_online_codes_by_the_gate_s_clock(tmp_path):
    (tmp_path / "trustlist.json").write_text(json.dumps([signer_b64(SIGNER)]))
    private, public = generate_key()
    config = parse_config({"state_dir": str(tmp_path), "site": {"site_id": "s1", "gate_id": "gate-1"},
                           "qr": {"online": {"prefix": "HK:"}, "passes": {"public_keys": {"k1": public}}}})
    online = type("Online", (), {"check": staticmethod(answering("online"))})()

    def visitor_pass(gates: list[str]) -> str:
        return issue_pass(private, "k1", site="s1", gates=gates, holder="Wang", valid_from=NOW - 60,
                          valid_until=NOW + 3600)[0]

    with Store(tmp_path) as store:
        registry = build_registry(config, store, tmp_path, online=online, clock=lambda: NOW)
        payload = encode_dcc(vaccination(), KEY, SIGNER, issued=NOW - 60, expires=NOW + 86400)
        assert registry.verify(payload, "camera").reason == "dcc_v"
        assert registry.verify("HK:123", "camera").reason == "online"
        assert registry.verify(visitor_pass(["gate-1"]), "camera").status == "valid"  # by NOW, not today's date
        assert registry.verify(visitor_pass(["gate-2"]), "camera").status == "invalid"
        assert build_registry(config, store, tmp_path).verify("HK:123", "camera").reason == "unknown_payload_format"
        late = build_registry(config, store, tmp_path, clock=lambda: NOW + 2 * 86400)
        assert late.verify(payload, "camera").status == "expired"
