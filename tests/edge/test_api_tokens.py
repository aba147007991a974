"""Integrators' tokens: what is issued, what is kept of it, and which presented strings find a holder."""

from __future__ import annotations

import hashlib
import re

import pytest

from edge.api_tokens import SCOPES, Caller, caller, issue
from edge.store import Store


@pytest.fixture
def store(tmp_path):
    with Store(tmp_path) as opened:
        yield opened


def test_a_token_is_an_id_and_a_secret_of_which_only_a_hash_is_kept(store):
    token = issue(store, "  platform ", ["status:read", "events:read", "status:read"])
    match = re.fullmatch(r"gp_([0-9a-f]{8})_([A-Za-z0-9_-]{43})", token)
    assert match is not None, token
    token_id, secret = match.groups()
    [record] = store.tokens()
    assert (record.token_id, record.name, record.scopes) == (token_id, "platform", ("status:read", "events:read"))
    assert record.secret_hash == hashlib.sha256(secret.encode()).digest()
    assert caller(store, token) == Caller(token_id, "platform", ("status:read", "events:read"))
    assert issue(store, "platform", ["status:read"]) != token


def test_a_token_needs_known_scopes_and_a_name_of_1_to_64_characters(store):
    every = ", ".join(SCOPES)
    with pytest.raises(ValueError, match=f"^scope: none given \\(one of {every}\\)$"):
        issue(store, "platform", [])
    with pytest.raises(ValueError, match=f"^scope: doors:open \\(one of {every}\\)$"):
        issue(store, "platform", ["status:read", "doors:open"])
    for name in ("", "   ", "n" * 65):
        with pytest.raises(ValueError, match="^name: 1 to 64 characters$"):
            issue(store, name, ["status:read"])
    assert issue(store, "n" * 64, ["status:read"]).startswith("gp_")
    assert store.tokens()[0].name == "n" * 64


def test_only_a_live_token_presented_whole_finds_its_holder(store):
    token = issue(store, "platform", ["status:read"])
    token_id, secret = token[3:].split("_", 1)
    for presented in (token[:-1], token + "x", f"gq_{token_id}_{secret}", f"{token_id}_{secret}", f"gp_{token_id}",
                      f"gp_{token_id}_", f"gp__{secret}", f"gp_{token_id}x_{secret}", token.upper(), ""):
        assert caller(store, presented) is None, presented
    assert caller(store, token) is not None
    assert store.revoke_token(token_id)
    assert caller(store, token) is None


def test_a_presented_string_over_128_characters_is_not_looked_up(store):
    token = issue(store, "platform", ["status:read"])
    token_id = token.split("_")[1]
    long_secret = "s" * (128 - len(f"gp_{token_id}_"))
    store.add_token("feedbeef", "long", hashlib.sha256(long_secret.encode()).digest(), ("status:read",))
    assert caller(store, f"gp_feedbeef_{long_secret}") is not None  # 128 characters
    store.add_token("feedbee0", "longer", hashlib.sha256((long_secret + "s").encode()).digest(), ("status:read",))
    assert caller(store, f"gp_feedbee0_{long_secret}s") is None  # 129
