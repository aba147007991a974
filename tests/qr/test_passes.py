import subprocess
import sys

import cv2

from edge.mqtt.auth import generate_key
from edge.qr.decode import FrameDecoder
import pytest

from edge.qr.passes import MAX_TOKEN, PassClaims, PassVerifier, issue_pass
from edge.readings import QrResult
from edge.store import Store
from tests.conftest import ROOT

NOW = 1_800_000_000.0


def make(tmp_path, **overrides):
    private, public = generate_key()
    store = Store(tmp_path)
    verifier = PassVerifier({"k1": public}, site="s1", gate="g1", store=store, clock=lambda: NOW)
    claims = {"site": "s1", "gates": ["g1"], "holder": "Ms Li", "valid_from": NOW - 60, "valid_until": NOW + 3600,
              "uses": 2, **overrides}
    token, _ = issue_pass(private, "k1", **claims)
    return verifier, token, store, private


def reason(verifier, token):
    result = verifier(token, "camera")
    return result.status, result.reason


def test_valid_pass_and_its_use_count(tmp_path):
    verifier, token, store, _ = make(tmp_path)
    result = verifier(token, "scanner")
    assert (result.status, result.kind) == ("valid", "pass") and result.pass_id
    store.count_pass_use(result.pass_id)
    store.count_pass_use(result.pass_id)
    assert reason(verifier, token) == ("invalid", "pass_used_up")


def test_validity_window_site_and_gate(tmp_path):
    assert reason(*make(tmp_path / "a", valid_from=NOW + 60, valid_until=NOW + 120)[:2]) == ("invalid", "pass_not_yet_valid")
    assert reason(*make(tmp_path / "b", valid_from=NOW - 120, valid_until=NOW - 60)[:2]) == ("expired", "pass_expired")
    assert reason(*make(tmp_path / "c", site="s2")[:2]) == ("invalid", "pass_other_site")
    assert reason(*make(tmp_path / "d", gates=["g2"])[:2]) == ("invalid", "pass_not_for_this_gate")
    assert reason(*make(tmp_path / "e", gates=["*"])[:2]) == ("valid", "pass_visitor")


def test_revoked_forged_and_tampered_passes(tmp_path):
    verifier, token, store, _ = make(tmp_path)
    other_private, _ = generate_key()
    forged, _ = issue_pass(other_private, "k1", site="s1", gates=["g1"], holder="x", valid_from=NOW - 1,
                           valid_until=NOW + 60)
    assert reason(verifier, forged) == ("invalid", "pass_signature_invalid")
    unknown, _ = issue_pass(other_private, "k9", site="s1", gates=["g1"], holder="x", valid_from=NOW - 1,
                            valid_until=NOW + 60)
    assert reason(verifier, unknown) == ("untrusted", "pass_key_unknown")
    body, signature = token.split(".")
    assert reason(verifier, body[:-2] + "AA." + signature)[0] in ("invalid", "unreadable")
    assert reason(verifier, body) == ("unreadable", "pass_missing_signature")
    assert reason(verifier, "GP1:!!!.???") == ("unreadable", "pass_not_base64_json")
    pass_id = verifier(token, "camera").pass_id
    store.revoke_pass(pass_id)
    assert reason(verifier, token) == ("invalid", "pass_revoked")


def test_cli_issues_a_printable_pass_that_reads_back(tmp_path):
    key = tmp_path / "pass.key"
    made = subprocess.run([sys.executable, "-m", "edge.cli", "passes", "keygen", "--out", str(key), "--id", "k1"],
                          cwd=ROOT, capture_output=True, text=True)
    assert made.returncode == 0, made.stderr
    png = tmp_path / "pass.png"
    issued = subprocess.run([sys.executable, "-m", "edge.cli", "passes", "issue", "--key", str(key), "--site", "demo-site", "--holder",
                             "Courier Wang", "--hours", "2", "--png", str(png)], cwd=ROOT, capture_output=True,
                            text=True)
    assert issued.returncode == 0, issued.stderr
    token = issued.stdout.strip()
    assert token.startswith("GP1:")
    assert FrameDecoder().decode(cv2.imread(str(png))) == [token]
    state = tmp_path / "state"
    revoked = subprocess.run([sys.executable, "-m", "edge.cli", "passes", "--state-dir", str(state), "revoke", "p-1"],
                             cwd=ROOT, capture_output=True, text=True)
    assert revoked.returncode == 0
    listed = subprocess.run([sys.executable, "-m", "edge.cli", "passes", "--state-dir", str(state), "list"],
                            cwd=ROOT, capture_output=True, text=True)
    assert "p-1" in listed.stdout and "revoked" in listed.stdout


def signed_token(private, claims) -> str:
    import base64
    import json

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    body = json.dumps(claims, separators=(",", ":")).encode()
    signature = Ed25519PrivateKey.from_private_bytes(base64.b64decode(private)).sign(body)
    encode = lambda data: base64.urlsafe_b64encode(data).rstrip(b"=").decode()  # noqa: E731
    return f"GP1:{encode(body)}.{encode(signature)}"


GOOD_CLAIMS = {"pid": "p-7", "kid": "k1", "site": "s1", "gates": ["g1"], "nbf": NOW - 60, "exp": NOW + 60, "uses": 1,
               "holder": "Ms Li"}


@pytest.mark.parametrize("change, why", [
    ({"pid": 7}, "pass_claim_pid_invalid"), ({"kid": None}, "pass_claim_kid_invalid"),
    ({"site": ["s1"]}, "pass_claim_site_invalid"), ({"gates": "g1"}, "pass_claim_gates_invalid"),
    ({"gates": ["g1", 2]}, "pass_claim_gates_invalid"), ({"nbf": "yesterday"}, "pass_claim_nbf_invalid"),
    ({"exp": True}, "pass_claim_exp_invalid"), ({"uses": 1.5}, "pass_claim_uses_invalid"),
    ({"uses": False}, "pass_claim_uses_invalid"), ({"holder": 3}, "pass_claim_holder_invalid"),
])
def test_each_malformed_claim_is_named_even_when_signed(tmp_path, change, why):
    verifier, _, _, private = make(tmp_path)
    assert reason(verifier, signed_token(private, {**GOOD_CLAIMS, **change})) == ("unreadable", why)


def test_claims_that_are_not_an_object_are_unreadable(tmp_path):
    verifier, _, _, private = make(tmp_path)
    assert reason(verifier, signed_token(private, ["p-7"])) == ("unreadable", "pass_claims_not_object")


def test_a_result_names_the_pass_and_where_it_was_read_and_keeps_only_the_token_start(tmp_path):
    verifier, _, store, private = make(tmp_path)
    token = signed_token(private, {**GOOD_CLAIMS, "kind": "courier"})
    result = verifier(token, "scanner")
    assert result == QrResult(token[:64], "scanner", "valid", "pass_courier", "pass", "p-7")
    state = store.pass_state("p-7")
    assert (state.uses, state.revoked, state.max_uses) == (0, False, 1)  # remembered for counting
    assert verifier(signed_token(private, GOOD_CLAIMS), "camera").reason == "pass_visitor"  # the default kind


def test_the_validity_window_includes_both_ends(tmp_path):
    verifier, _, _, private = make(tmp_path)
    assert reason(verifier, signed_token(private, {**GOOD_CLAIMS, "nbf": NOW})) == ("valid", "pass_visitor")
    assert reason(verifier, signed_token(private, {**GOOD_CLAIMS, "pid": "p-8", "exp": NOW})) == \
        ("valid", "pass_visitor")
    assert verifier(signed_token(private, {**GOOD_CLAIMS, "nbf": NOW + 1}), "camera").pass_id == "p-7"


def test_a_pass_is_good_for_exactly_its_number_of_uses(tmp_path):
    verifier, token, store, _ = make(tmp_path)  # two uses
    pass_id = verifier(token, "camera").pass_id
    store.count_pass_use(pass_id)
    assert reason(verifier, token) == ("valid", "pass_visitor")
    store.count_pass_use(pass_id)
    assert verifier(token, "camera").pass_id == pass_id and reason(verifier, token) == ("invalid", "pass_used_up")


def test_an_overlong_token_is_refused_before_it_is_read(tmp_path):
    verifier, token, _, _ = make(tmp_path)
    assert reason(verifier, token + "A" * (MAX_TOKEN + 1 - len(token))) == ("unreadable", "pass_too_long")
    assert reason(verifier, token + "A" * (MAX_TOKEN - len(token)))[1] != "pass_too_long"


def test_issuing_refuses_an_empty_window_or_no_uses_and_whole_seconds_are_signed():
    private, _ = generate_key()
    common = {"site": "s1", "gates": ["g1"], "holder": "x"}
    with pytest.raises(ValueError, match="^valid_until must be after valid_from$"):
        issue_pass(private, "k1", valid_from=NOW, valid_until=NOW, **common)
    with pytest.raises(ValueError, match="^uses must be at least 1$"):
        issue_pass(private, "k1", valid_from=NOW, valid_until=NOW + 1, uses=0, **common)
    token, claims = issue_pass(private, "k1", valid_from=NOW + 0.7, valid_until=NOW + 9.9, pid="p-1", kind="courier",
                               **common)
    assert claims == PassClaims("p-1", "k1", "s1", ("g1",), NOW, NOW + 9, 1, "x", "courier")
    assert token.startswith("GP1:") and "=" not in token
    import base64
    body = token[4:].split(".")[0]
    assert base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)) == (
        b'{"exp":%d,"gates":["g1"],"holder":"x","kid":"k1","kind":"courier","nbf":%d,"pid":"p-1","site":"s1",'
        b'"uses":1}' % (NOW + 9, NOW))  # compact, sorted: what any issuer signs
    _, random_claims = issue_pass(private, "k1", valid_from=NOW, valid_until=NOW + 1, **common)
    assert len(random_claims.pid) == 12 and random_claims.kind == "visitor"


def test_a_refused_pass_is_still_named_so_guards_can_look_it_up(tmp_path):
    verifier, _, _, private = make(tmp_path)
    other_private, _ = generate_key()
    forged = signed_token(other_private, GOOD_CLAIMS)
    assert verifier(forged, "camera").pass_id == "p-7"
    assert verifier(signed_token(private, {**GOOD_CLAIMS, "kid": "k9"}), "camera").pass_id == "p-7"
    assert verifier(signed_token(private, {**GOOD_CLAIMS, "site": "s9"}), "camera").pass_id == "p-7"
    assert verifier(signed_token(private, {**GOOD_CLAIMS, "gates": ["g9"]}), "camera").pass_id == "p-7"
    assert verifier(signed_token(private, {**GOOD_CLAIMS, "exp": NOW - 1, "nbf": NOW - 9}), "camera").pass_id == "p-7"


def test_a_pass_carries_the_access_group_it_is_held_to_and_a_bad_one_is_unreadable(tmp_path):
    verifier, token, _, private = make(tmp_path, group="couriers", kind="courier")
    result = verifier(token, "scanner")
    assert (result.status, result.group) == ("valid", "couriers")
    assert verifier(make(tmp_path / "plain")[1], "scanner").group is None
    bad, _ = issue_pass(private, "k1", site="s1", gates=["g1"], holder="x", valid_from=NOW - 60,
                        valid_until=NOW + 60, group="g" * 65)
    assert reason(verifier, bad) == ("unreadable", "pass_claim_group_invalid")
