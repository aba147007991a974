"""The policy at the edges where a gate must say no: each rule stated, each mode tried."""

import dataclasses

import pytest

from edge.config import ChecksConfig
from edge.decision import Policy, Visit
from edge.face.matcher import Match
from edge.readings import QrResult, ThermalReading

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
    """A visit with one reading, or (a list) several, oldest first."""
    readings = thermal if isinstance(thermal, list) else [thermal] if thermal is not None else []
    seen = Visit(1, started=100.0, started_perf=0.0, match=match, codes=list(codes))
    for reading in readings:
        seen.add_reading(dataclasses.replace(reading))  # each a reading of its own thermal frame
    return seen


def test_a_resident_with_a_normal_reading_is_granted_at_once():
    decision = policy().evaluate(visit(ALICE, NORMAL), now=100.1)
    assert decision.granted and decision.resident_id == 1


@pytest.mark.parametrize("readings, code", [([FEVER] * 3, "fever"), ([PHOTO] * 2, "spoof")])
def test_fever_and_spoof_are_denied_at_once_not_at_the_end_of_the_window(readings, code):
    decision = policy().evaluate(visit(ALICE, readings), now=100.05)
    assert decision is not None and decision.granted is False and decision.reason_codes == [code]


def test_one_hot_reading_is_never_a_fever_nor_one_flat_reading_a_spoof():
    for reading in (FEVER, PHOTO):
        assert policy().evaluate(visit(ALICE, [reading]), now=100.05) is None
    assert policy().evaluate(visit(ALICE, [FEVER, FEVER]), now=100.05) is None
    ended = policy().evaluate(visit(ALICE, [FEVER]), now=103.0)  # the window ends on one hot reading: no entry
    assert not ended.granted and ended.reason_codes == ["temperature_uncertain"]
    assert policy().evaluate(visit(ALICE, [FEVER, FEVER]), now=103.0).reason_codes == ["fever"]
    assert policy().evaluate(visit(ALICE, [PHOTO]), now=103.0).reason_codes == ["spoof"]


def test_readings_are_combined_so_one_outlier_neither_decides_nor_drags_the_estimate():
    readings = [ThermalReading(True, 36.6 + d, 0.15, live=True) for d in (0.05, -0.05, 0.0, 0.02)]
    hot = ThermalReading(True, 39.0, 0.15, live=True)  # a glint, a hand at the eye
    decision = policy().evaluate(visit(ALICE, readings[:2] + [hot] + readings[2:]), now=100.4)
    assert decision.granted and abs(decision.temperature_c - 36.6) <= 0.05
    assert decision.temperature["readings"] == 4 and decision.temperature["rejected"] == 1
    low, high = decision.temperature["interval_95_c"]
    assert low < 36.6 < high
    assert len(decision.temperature["samples"]) == 5


def test_the_uncertainty_shrinks_as_readings_accumulate_until_a_borderline_person_is_clear():
    near = [ThermalReading(True, 37.12, 0.15, live=True) for _ in range(6)]
    assert policy().evaluate(visit(ALICE, near[:1]), now=100.1) is None  # 37.12 + 1.645 x 0.15 > 37.3
    assert policy().evaluate(visit(ALICE, near), now=100.7).granted  # six of them: ± 0.06


def test_relative_screening_calls_a_fever_the_absolute_threshold_misses():
    relative = [ThermalReading(True, 37.2, 0.1, live=True, relative_limit_c=36.9) for _ in range(3)]
    decision = policy().evaluate(visit(ALICE, relative), now=100.3)
    assert not decision.granted and decision.reason_codes == ["fever"]
    assert decision.checks["temperature"]["params"]["rule"] == "relative"


def test_a_visit_without_a_trusted_reading_ends_as_no_reading_with_the_cause():
    far = ThermalReading(False, reason="reading not trusted: too far", code="too_far", flags=["too far"])
    lost = ThermalReading(False, reason="reading not trusted: blackbody missing", code="blackbody_missing")
    assert policy().evaluate(visit(ALICE, [far]), now=102.0) is None
    for reading, why in ((far, "too_far"), (lost, "blackbody_missing")):
        decision = policy().evaluate(visit(ALICE, [reading]), now=103.0)
        assert not decision.granted and decision.reason_codes == ["temperature_no_reading"]
        assert decision.checks["temperature"]["params"] == {"why": why}
    assert policy().evaluate(visit(ALICE), now=103.0).checks["temperature"]["params"] == {"why": "no_face_reading"}


def test_a_stranger_waits_out_the_window_then_is_denied():
    assert policy().evaluate(visit(STRANGER, NORMAL), now=102.9) is None
    decision = policy().evaluate(visit(STRANGER, NORMAL), now=103.0)
    assert not decision.granted and decision.reason_codes == ["unknown_face"]


def test_advisory_temperature_never_denies_but_is_recorded():
    decision = policy(temperature="advisory").evaluate(visit(ALICE, [FEVER] * 3), now=100.1)
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


# Every outcome as it is recorded: the event, the screens and the statistics read these fields.
BARE_PASS = QrResult("GP1:...", "scanner", "valid", "pass_ok", "pass", None)
CERTIFICATE = QrResult("HC1:...", "camera", "valid", "vaccination", "dcc")
FORGED = QrResult("HC1:...", "camera", "invalid", "bad signature", "dcc")
FAR = ThermalReading(False, None, None, reason="too far")
NO_ESTIMATE = ThermalReading(True, None, None, live=True)
NO_UNCERTAINTY = ThermalReading(True, 36.6, None, live=True)


@pytest.mark.parametrize("check, seen, expected", [
    ("face", visit(ALICE), ("pass", "resident Alice (0.70)", "resident", {"name": "Alice", "similarity": 0.7})),
    ("face", visit(Match(1, "Alice", 0.71234, 0.1, "match", 0.5)),
     ("pass", "resident Alice (0.71)", "resident", {"name": "Alice", "similarity": 0.712})),
    ("face", visit(STRANGER, codes=[PASS]), ("pass", "visitor pass p-1", "visitor_pass", {"pass_id": "p-1"})),
    ("face", visit(None, codes=[BARE_PASS]), ("pass", "visitor pass", "visitor_pass", {"pass_id": ""})),
    ("face", visit(None, codes=[CERTIFICATE]), ("pending", "face not recognised yet", "face_not_recognised", {})),
    ("face", visit(STRANGER), ("fail", "unknown face (below threshold)", "unknown_face", {"why": "below threshold"})),
    ("temperature", visit(), ("pending", "no temperature reading yet", "temperature_unavailable", {})),
    ("temperature", visit(thermal=[PHOTO] * 2), ("fail", "spoof: no live skin-temperature pattern", "spoof", {})),
    ("temperature", visit(thermal=FAR), ("pending", "temperature unavailable: too far", "temperature_unavailable",
                                         {"why": "too far"})),
    ("temperature", visit(thermal=[FEVER] * 3), ("fail", "fever 38.2 °C (threshold 37.3 °C)", "fever",
                                                 {"temperature_c": 38.2, "threshold_c": 37.3})),
    ("temperature", visit(thermal=FEVER), ("pending", "temperature uncertain (38.2 ± 0.2 °C)",
                                           "temperature_uncertain", {"temperature_c": 38.2, "uncertainty_c": 0.2})),
    ("temperature", visit(thermal=NO_ESTIMATE), ("pending", "temperature unavailable: not yet trusted",
                                                 "temperature_unavailable", {"why": "not_trusted"})),
    ("temperature", visit(thermal=NORMAL), ("pass", "36.6 °C", "temperature_normal", {"temperature_c": 36.6})),
    ("temperature", visit(thermal=ThermalReading(True, 36.64, 0.2, live=True)),
     ("pass", "36.6 °C", "temperature_normal", {"temperature_c": 36.6})),
    ("temperature", visit(thermal=[ThermalReading(True, 38.16, 0.2, live=True)] * 3),
     ("fail", "fever 38.2 °C (threshold 37.3 °C)", "fever", {"temperature_c": 38.2, "threshold_c": 37.3})),
    ("temperature", visit(thermal=NO_UNCERTAINTY), ("pending", "temperature unavailable: not yet trusted",
                                                    "temperature_unavailable", {"why": "not_trusted"})),
    ("qr", visit(), ("pending", "no code shown", "no_code", {})),
    ("qr", visit(codes=[EXPIRED, PASS]), ("pass", "code valid (pass_ok)", "code_valid", {"why": "pass_ok"})),
    ("qr", visit(codes=[EXPIRED, FORGED]), ("fail", "code invalid: bad signature", "code_invalid",
                                            {"why": "bad signature"})),
])
def test_each_outcome_carries_its_status_words_code_and_figures(check, seen, expected):
    outcome = policy(qr="advisory").outcomes(seen)[check]
    assert (outcome.status, outcome.reason, outcome.code, outcome.params) == expected


def test_a_certificate_is_not_a_visitor_pass():
    assert policy().evaluate(visit(STRANGER, NORMAL, [CERTIFICATE]), now=103.0).granted is False


@pytest.mark.parametrize("estimate, uncertainty, status", [
    (37.49, 0.005, "pass"), (37.1, 0.2, "pass"), (37.35, 0.2, "pending"), (37.75, 0.1, "fail"), (37.6, 0.2, "pending")])
def test_the_threshold_itself_is_normal_and_the_uncertainty_is_added_before_comparing(estimate, uncertainty, status):
    checks = ChecksConfig(temperature={"threshold_c": 37.5, "confidence_z": 1.0})
    readings = [ThermalReading(True, estimate, uncertainty, live=True, correlated_c=uncertainty)] * 3
    assert Policy(checks, window_s=3.0).outcomes(visit(thermal=readings))["temperature"].status == status


def test_at_the_end_of_the_window_a_borderline_estimate_is_not_called_normal():
    checks = ChecksConfig(temperature={"threshold_c": 37.3})
    borderline = [ThermalReading(True, 37.2, 0.15, live=True, correlated_c=0.15)] * 3  # shared: no shrinking
    outcome = Policy(checks, window_s=3.0).outcomes(visit(thermal=borderline), final=True)["temperature"]
    assert (outcome.status, outcome.code) == ("fail", "temperature_uncertain")
    clear = [ThermalReading(True, 37.1, 0.15, live=True, correlated_c=0.15)] * 3
    assert Policy(checks, window_s=3.0).outcomes(visit(thermal=clear), final=True)["temperature"].status == "pass"


@pytest.mark.parametrize("modes, checks", [
    ({}, {"face", "temperature", "qr"}),
    ({"face": "off"}, {"temperature", "qr"}),
    ({"temperature": "off"}, {"face", "qr"}),
    ({"qr": "off"}, {"face", "temperature"}),
])
def test_a_check_that_is_off_is_neither_judged_nor_recorded(modes, checks):
    assert set(policy(**modes).outcomes(visit(ALICE, NORMAL))) == checks


def test_a_granted_decision_records_who_what_and_every_check():
    seen = visit(ALICE, NORMAL, [EXPIRED])
    seen.stage_ms = {"face": 12.0}
    decision = policy().evaluate(seen, now=100.1)
    assert decision.granted and decision.source.value == "pipeline"
    assert decision.reasons == ["resident Alice (0.70)", "36.6 °C", "advisory qr: code expired: certificate_expired"]
    assert decision.reason_codes == []  # codes name why a visitor was refused
    assert (decision.visit_id, decision.resident_id, decision.resident_name) == (seen.visit_id, 1, "Alice")
    assert decision.temperature_c == 36.6 and decision.pass_id is None
    assert decision.stage_ms == {"face": 12.0} and decision.stage_ms is not seen.stage_ms
    assert decision.latency_ms is not None and decision.latency_ms > 0
    import time

    started = visit(ALICE, NORMAL)
    started.started_perf = time.perf_counter() - 0.05
    assert 50 <= policy().evaluate(started, now=100.1).latency_ms < 5000  # milliseconds
    assert decision.checks["qr"] == {"status": "fail", "reason": "code expired: certificate_expired",
                                     "mode": "advisory", "code": "code_expired", "params": {"why": "certificate_expired"}}
    assert decision.checks["face"]["mode"] == "required" and decision.checks["face"]["code"] == "resident"


def test_a_pass_admission_names_the_pass_and_nobody():
    decision = policy().evaluate(visit(STRANGER, NORMAL, [PASS]), now=100.1)
    assert decision.granted and decision.pass_id == "p-1"
    assert decision.resident_id is None and decision.resident_name is None


def test_a_denial_lists_only_the_failing_required_checks():
    decision = policy().evaluate(visit(STRANGER, None), now=103.0)
    assert not decision.granted
    assert decision.reason_codes == ["unknown_face", "temperature_no_reading"]
    assert decision.reasons == ["unknown face (below threshold)", "no temperature reading (no_face_reading)"]
    assert decision.temperature_c is None


def test_with_every_check_advisory_nobody_is_admitted_by_default():
    everything_advisory = policy(face="advisory", temperature="advisory", qr="advisory")
    assert everything_advisory.evaluate(visit(ALICE, NORMAL), now=102.9) is None
    decision = everything_advisory.evaluate(visit(ALICE, NORMAL), now=103.0)
    assert not decision.granted and decision.reason_codes == ["no_required_check"]
    assert decision.reasons == ["no required check configured"]


def test_a_fever_denies_at_once_even_with_a_pass_and_only_a_required_temperature_does():
    decision = policy().evaluate(visit(STRANGER, [FEVER] * 3, [PASS]), now=100.0)
    assert not decision.granted and decision.reason_codes == ["fever"]
    assert decision.temperature_c == 38.2
    assert policy(temperature="advisory").evaluate(visit(STRANGER, FEVER), now=100.0) is None


def test_a_failing_face_alone_waits_for_the_window():
    assert policy().evaluate(visit(STRANGER, NORMAL), now=100.0) is None


def test_visit_timings_add_up_per_stage():
    seen = visit()
    seen.add_timings({"face": 10.0, "qr": 2.0})
    seen.add_timings({"face": 5.0})
    assert seen.stage_ms == {"face": 15.0, "qr": 2.0}


CHEN_STAFF = Match(2, "Chen", 0.7, 0.1, "match", 0.5, group="staff")
CHEN_CARD = QrResult("…2001", "card", "valid", "resident's card", "card", resident_id=2, holder="Chen", group="staff")
ALICE_CARD = QrResult("…3001", "card", "valid", "resident's card", "card", resident_id=1, holder="Alice", group="staff")
UNKNOWN_CARD = QrResult("…9999", "card", "unknown", "card not enrolled", "card")


@pytest.mark.parametrize("verification, match, cards, status, code", [
    ("face", CHEN_STAFF, [], "pass", "resident"),
    ("face", None, [CHEN_CARD], "pending", "card_needs_face"),  # a card alone is not enough here
    ("card", CHEN_STAFF, [], "pending", "face_needs_card"),  # nor a face alone here
    ("card", None, [CHEN_CARD], "pass", "card"),
    ("card", None, [UNKNOWN_CARD], "fail", "card_unknown"),
    ("card", dataclasses.replace(ALICE, group="staff"), [CHEN_CARD], "fail", "card_face_mismatch"),
    ("card_or_face", None, [CHEN_CARD], "pass", "card"),
    ("card_or_face", CHEN_STAFF, [], "pass", "resident"),
    ("card_and_face", CHEN_STAFF, [], "pending", "face_needs_card"),
    ("card_and_face", CHEN_STAFF, [CHEN_CARD], "pass", "card_and_face"),
    ("card_and_face", CHEN_STAFF, [ALICE_CARD], "fail", "card_face_mismatch"),
    ("face_and_code", CHEN_STAFF, [], "pending", "face_needs_code"),
    ("face_and_code", CHEN_STAFF, [PASS], "pass", "resident"),
    ("face_and_code", None, [PASS, CHEN_CARD], "pending", "card_needs_face"),
    (None, CHEN_STAFF, [], "pass", "resident"),  # no mode of its own: checks.card.mode (or_face)
])
def test_each_group_s_verification_mode_is_enforced_and_says_what_is_missing(verification, match, cards, status, code):
    checks = ChecksConfig(schedule={"groups": {"staff": {"weekly": {}, "verification": verification}}})
    outcome = Policy(checks, window_s=3.0).outcomes(visit(match, NORMAL, cards))["face"]
    assert (outcome.status, outcome.code) == (status, code)


def test_a_member_of_another_group_goes_by_the_gate_s_card_mode():
    checks = ChecksConfig(card={"mode": "and_face"},
                          schedule={"groups": {"staff": {"verification": "face"}, "residents": {}}})
    chen_resident = dataclasses.replace(CHEN_STAFF, group="residents")
    assert Policy(checks, window_s=3.0).outcomes(visit(chen_resident, NORMAL))["face"].code == "face_needs_card"
    assert Policy(checks, window_s=3.0).outcomes(visit(CHEN_STAFF, NORMAL))["face"].code == "resident"


def test_a_pass_in_a_group_is_held_to_its_hours_and_a_pass_in_none_is_not():
    courier_pass = dataclasses.replace(PASS, group="couriers")
    checks = ChecksConfig(schedule={"mode": "required", "groups": {"couriers": {"weekly": {}}}})  # closed every day
    assert Policy(checks, window_s=3.0).outcomes(visit(None, NORMAL, [courier_pass]))["schedule"].code == \
        "outside_hours"
    assert Policy(checks, window_s=3.0).outcomes(visit(None, NORMAL, [PASS]))["schedule"].code == "hours_always"
