"""Administrator signatures: each refusal names its field, and nothing unsigned, forged, misdirected,
stale or dated in the future is acted on."""

import base64
import json

import pytest

from edge.mqtt.auth import (MAX_MESSAGE, Refused, SignedMessage, Verifier, canonical, check_fresh, generate_key,
                             sign)

PRIVATE, PUBLIC = generate_key()
OTHER_PRIVATE, _ = generate_key()
VERIFIER = Verifier({"admin-1": PUBLIC})
NONCE = "n" * 16


def signed(**changes) -> dict:
    fields = sign(PRIVATE, "admin-1", "open", {"seconds": 2}, "site/gate", ts=1000.0, nonce=NONCE)
    fields.update(changes)
    return fields


def refusal(fields, *, target="site/gate", expected_cmd=None) -> str:
    payload = fields if isinstance(fields, bytes) else json.dumps(fields).encode()
    with pytest.raises(Refused) as raised:
        VERIFIER.verify(payload, target=target, expected_cmd=expected_cmd)
    return str(raised.value)


def test_a_signed_command_is_read_back_whole():
    message = VERIFIER.verify(json.dumps(signed()).encode(), target="site/gate", expected_cmd="open")
    assert message == SignedMessage("open", {"seconds": 2}, 1000.0, NONCE, "admin-1", "site/gate")
    assert isinstance(message.ts, float)


def test_keys_are_random_32_byte_pairs():
    (private, public), (private2, public2) = generate_key(), generate_key()
    assert len(base64.b64decode(private)) == len(base64.b64decode(public)) == 32
    assert private != private2 and public != public2


def test_sign_dates_and_numbers_each_message():
    first, second = (sign(PRIVATE, "admin-1", "open", {}, "site/gate") for _ in range(2))
    assert first["nonce"] != second["nonce"] and len(first["nonce"]) == 32
    assert first["v"] == 1 and first["key"] == "admin-1" and first["target"] == "site/gate"
    assert abs(first["ts"] - __import__("time").time()) < 5


@pytest.mark.parametrize("fields, reason", [
    (b"{", "malformed: "),
    (b"[]", "malformed: expected a JSON object"),
    ({k: v for k, v in signed().items() if k != "sig"}, "unsigned: field 'sig' missing"),
    ({k: v for k, v in signed().items() if k != "nonce"}, "malformed: field 'nonce' missing"),
    ({k: v for k, v in signed().items() if k != "target"}, "malformed: field 'target' missing"),
    (signed(v=2), "malformed: field 'v' is 2, expected 1"),
    (signed(cmd=1), "malformed: field 'cmd' must be a str"),
    (signed(args=[]), "malformed: field 'args' must be a dict"),
    (signed(nonce=5), "malformed: field 'nonce' must be a str"),
    (signed(key=None), "malformed: field 'key' must be a str"),
    (signed(target=0), "malformed: field 'target' must be a str"),
    (signed(sig=0), "malformed: field 'sig' must be a str"),
    (signed(ts="now"), "malformed: field 'ts' must be a finite number"),
    (signed(ts=True), "malformed: field 'ts' must be a finite number"),
    (signed(nonce="n" * 15), "malformed: field 'nonce' must be 16 to 128 characters"),
    (signed(nonce="n" * 129), "malformed: field 'nonce' must be 16 to 128 characters"),
    (signed(key="admin-2"), "untrusted: unknown administrator key 'admin-2'"),
    (signed(sig="%%%"), "forged: signature does not verify"),
    (signed(args={"seconds": 60}), "forged: signature does not verify"),
    (sign(OTHER_PRIVATE, "admin-1", "open", {}, "site/gate"), "forged: signature does not verify"),
])
def test_each_refusal_names_what_is_wrong(fields, reason):
    assert refusal(fields).startswith(reason)


def test_the_longest_nonces_allowed_are_accepted():
    for nonce in ("n" * 16, "n" * 128):
        fields = sign(PRIVATE, "admin-1", "open", {}, "site/gate", nonce=nonce)
        assert VERIFIER.verify(json.dumps(fields).encode(), target="site/gate").nonce == nonce


def test_a_command_for_another_gate_or_another_topic_is_refused():
    assert refusal(signed(), target="site/other") == "wrong target: signed for 'site/gate', this is 'site/other'"
    assert refusal(signed(), expected_cmd="remove") == \
        "malformed: signed command 'open' sent on the topic for 'remove'"


def test_an_oversized_message_is_refused_before_parsing():
    assert refusal(b" " * (MAX_MESSAGE + 1)).startswith("malformed: ")


def test_a_bad_public_key_in_the_config_names_its_entry():
    with pytest.raises(ValueError, match=r"^mqtt.admin_keys.bad: not a base64 Ed25519 public key"):
        Verifier({"bad": "not base64!"})


@pytest.mark.parametrize("now, fresh", [(1000.0, True), (1060.0, True), (940.0, True),
                                        (1060.5, False), (939.5, False)])
def test_only_commands_issued_within_the_age_limit_either_way_are_fresh(now, fresh):
    message = SignedMessage("open", {}, 1000.0, NONCE, "admin-1", "site/gate")
    if fresh:
        check_fresh(message, now, 60.0)
        return
    with pytest.raises(Refused) as raised:
        check_fresh(message, now, 60.0)
    assert raised.value.nonce == NONCE
    assert str(raised.value) == f"stale: issued {now - 1000.0:.1f} s ago (limit 60 s)"


def test_the_signed_text_is_sorted_compact_utf8_json_so_any_console_can_sign():
    fields = {"v": 1, "cmd": "enrol", "args": {"name": "王芳", "b": [1, 2]}, "ts": 1000.5, "nonce": NONCE,
              "key": "admin-1", "target": "site/gate", "sig": "ignored", "extra": "ignored"}
    assert canonical(fields) == ('{"args":{"b":[1,2],"name":"王芳"},"cmd":"enrol","key":"admin-1",'
                                 f'"nonce":"{NONCE}","target":"site/gate","ts":1000.5,"v":1}}').encode()


def test_a_message_signed_by_another_implementation_verifies():
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    fields = {"v": 1, "cmd": "open", "args": {"name": "王芳"}, "ts": 1000.0, "nonce": NONCE, "key": "admin-1",
              "target": "site/gate"}
    text = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    fields["sig"] = base64.b64encode(Ed25519PrivateKey.from_private_bytes(base64.b64decode(PRIVATE)).sign(text)).decode()
    assert VERIFIER.verify(json.dumps(fields).encode(), target="site/gate").args == {"name": "王芳"}


def test_sign_keeps_milliseconds():
    assert sign(PRIVATE, "admin-1", "open", {}, "site/gate", ts=1000.12345)["ts"] == 1000.123


def test_junk_inside_a_signature_or_a_key_is_not_skipped():
    fields = signed()
    fields["sig"] = fields["sig"][:10] + "!" + fields["sig"][10:]
    assert refusal(fields) == "forged: signature does not verify"
    with pytest.raises(ValueError, match="mqtt.admin_keys.admin-1"):
        Verifier({"admin-1": PUBLIC[:10] + "!" + PUBLIC[10:]})


def test_a_gate_with_no_administrator_keys_trusts_nobody():
    with pytest.raises(Refused, match="^untrusted: unknown administrator key 'admin-1'$"):
        Verifier({}).verify(json.dumps(signed()).encode(), target="site/gate")


def test_unparseable_text_is_named_without_the_parser_prefix():
    assert refusal(b"{").startswith("malformed: not JSON (")
    assert refusal(b" " * (MAX_MESSAGE + 1)).startswith(f"malformed: {MAX_MESSAGE + 1} bytes exceeds")
    assert Refused("x").nonce == ""
