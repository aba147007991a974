"""The policy at the edges where a gate must say no: each rule stated, each mode tried."""

import pytest

from edge.config import ChecksConfig
from edge.decision import Policy, Visit
from edge.face.matcher import Match
from edge.stages.base import QrResult, ThermalReading

ALICE = Match(1, "Alice", 0.7, 0.1, "match", 0.5)
STRANGER = Match(None, None, 0.3, 0.1, "below threshold", 0.5)
NORMAL = ThermalReading(True, 36.6, 0.2, live=True)
FEVER = ThermalReading(True, 38.2, 0.2, live=True)
PHOTO = ThermalReading(True, None, None, live=False, reason="no warm skin")
PASS = QrResult("GP1:...", "scanner", "valid", "pass_ok", "pass", "p-1")
EXPIRED = QrResult("HC1:...", "camera", "expired", "certificate_expired", "dcc")


def policy(**modes) -> Policy:
    checks = {name: {"mode": mode} for name, mode in modes.items()}
    if "qr_substitutes" in checks:
        substitutes = checks.pop("qr_substitutes")["mode"]
        checks.setdefault("qr", {})["pass_substitutes_face"] = substitutes
    return Policy(ChecksConfig(**checks), window_s=3.0)


def visit(match=None, thermal=None, codes=()) -> Visit:
    return Visit(1, started=100.0, started_perf=0.0, match=match, thermal=thermal, codes=list(codes))


def test_a_resident_with_a_normal_reading_is_granted_at_once():
    decision = policy().evaluate(visit(ALICE, NORMAL), now=100.1)
    assert decision.granted and decision.resident_id == 1


@pytest.mark.parametrize("reading, code", [(FEVER, "fever"), (PHOTO, "spoof")])
def test_fever_and_spoof_are_denied_at_once_not_at_the_end_of_the_window(reading, code):
    decision = policy().evaluate(visit(ALICE, reading), now=100.05)
    assert decision is not None and not decision.granted and decision.reason_codes == [code]


def test_a_stranger_waits_out_the_window_then_is_denied():
    assert policy().evaluate(visit(STRANGER, NORMAL), now=102.9) is None
    decision = policy().evaluate(visit(STRANGER, NORMAL), now=103.0)
    assert not decision.granted and decision.reason_codes == ["unknown_face"]


def test_advisory_temperature_never_denies_but_is_recorded():
    decision = policy(temperature="advisory").evaluate(visit(ALICE, FEVER), now=100.1)
    assert decision.granted
    assert decision.checks["temperature"] == {"status": "fail", "reason": "fever 38.2 °C (threshold 37.3 °C)",
                                              "mode": "advisory", "code": "fever",
                                              "params": {"temperature_c": 38.2, "threshold_c": 37.3}}
    assert any(reason.startswith("advisory temperature") for reason in decision.reasons)


def test_a_required_code_must_be_valid():
    strict = policy(qr="required")
    assert strict.evaluate(visit(ALICE, NORMAL), now=100.1) is None  # no code yet: wait
    denied = strict.evaluate(visit(ALICE, NORMAL, [EXPIRED]), now=103.0)
    assert not denied.granted and "code_expired" in denied.reason_codes
    assert strict.evaluate(visit(ALICE, NORMAL, [PASS]), now=100.1).granted


def test_a_visitor_pass_stands_in_for_a_face_only_when_configured():
    assert policy().evaluate(visit(STRANGER, NORMAL, [PASS]), now=100.1).granted
    refused = policy(qr_substitutes=False).evaluate(visit(STRANGER, NORMAL, [PASS]), now=103.0)
    assert not refused.granted and refused.reason_codes == ["unknown_face"]


def test_an_uncertain_reading_is_never_called_normal():
    uncertain = ThermalReading(True, 37.1, 0.3, live=True)  # 37.1 + 0.3 > 37.3
    assert policy().evaluate(visit(ALICE, uncertain), now=100.1) is None
    decision = policy().evaluate(visit(ALICE, uncertain), now=103.0)
    assert not decision.granted and decision.reason_codes == ["temperature_uncertain"]
