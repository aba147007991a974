import subprocess
import sys

import cv2

from edge.mqtt.auth import generate_key
from edge.qr.decode import FrameDecoder
from edge.qr.passes import PassVerifier, issue_pass
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
    issued = subprocess.run([sys.executable, "-m", "edge.cli", "passes", "issue", "--key", str(key), "--holder",
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
