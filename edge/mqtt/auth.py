"""Signed administrator messages: Ed25519 over canonical JSON, with a timestamp and a nonce.

A command names its target gate inside the signed text, so it cannot be replayed on another
gate; the timestamp bounds its age and the nonce (remembered by the gate) stops a replay.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from edge.keys import generate_key  # noqa: F401 - the tools and tests know it here
from edge.untrusted import UntrustedInput, finite, load_json

VERSION = 1
MAX_MESSAGE = 256 * 1024  # a resident record with ten templates is about 10 KB
SIGNED_FIELDS = ("v", "cmd", "args", "ts", "nonce", "key", "target")


class Refused(Exception):
    """A command or record that must not be acted on; the message is the reason."""

    def __init__(self, reason: str, nonce: str = "") -> None:
        super().__init__(reason)
        self.nonce = nonce  # the command's nonce, once it is known, for the reply


@dataclass(frozen=True)
class SignedMessage:
    cmd: str
    args: dict[str, Any]
    ts: float
    nonce: str
    key: str
    target: str


def canonical(fields: dict[str, Any]) -> bytes:
    return json.dumps({k: fields[k] for k in SIGNED_FIELDS}, sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False).encode()


def sign(private_key_b64: str, key_id: str, cmd: str, args: dict[str, Any], target: str, *,
         ts: float | None = None, nonce: str | None = None) -> dict[str, Any]:
    private = Ed25519PrivateKey.from_private_bytes(base64.b64decode(private_key_b64))
    fields = {"v": VERSION, "cmd": cmd, "args": args, "ts": round(time.time() if ts is None else ts, 3),
              "nonce": nonce or secrets.token_hex(16), "key": key_id, "target": target}
    fields["sig"] = base64.b64encode(private.sign(canonical(fields))).decode()
    return fields


class Verifier:
    def __init__(self, public_keys: dict[str, str]) -> None:
        self._keys: dict[str, Ed25519PublicKey] = {}
        for key_id, value in public_keys.items():
            try:
                self._keys[key_id] = Ed25519PublicKey.from_public_bytes(base64.b64decode(value, validate=True))
            except ValueError as error:
                raise ValueError(f"mqtt.admin_keys.{key_id}: not a base64 Ed25519 public key ({error})") from None

    def verify(self, payload: bytes, *, target: str, expected_cmd: str | None = None) -> SignedMessage:
        """The signed message, or Refused with a one-line reason naming the field at fault."""
        try:
            message = load_json(payload, max_bytes=MAX_MESSAGE, what="message")
        except UntrustedInput as error:
            raise Refused(f"malformed: {str(error).removeprefix('message: ')}") from None
        if not isinstance(message, dict):
            raise Refused("malformed: expected a JSON object")
        if "sig" not in message:
            raise Refused("unsigned: field 'sig' missing")
        for name in SIGNED_FIELDS:
            if name not in message:
                raise Refused(f"malformed: field '{name}' missing")
        if message["v"] != VERSION:
            raise Refused(f"malformed: field 'v' is {message['v']!r}, expected {VERSION}")
        checks = (("cmd", str), ("args", dict), ("nonce", str), ("key", str), ("target", str), ("sig", str))
        for name, kind in checks:
            if not isinstance(message[name], kind):
                raise Refused(f"malformed: field '{name}' must be a {kind.__name__}")
        if not finite(message["ts"]):
            raise Refused("malformed: field 'ts' must be a finite number")
        if not 16 <= len(message["nonce"]) <= 128:
            raise Refused("malformed: field 'nonce' must be 16 to 128 characters")
        key = self._keys.get(message["key"])
        if key is None:
            raise Refused(f"untrusted: unknown administrator key {message['key']!r}")
        try:
            signature = base64.b64decode(message["sig"], validate=True)
            key.verify(signature, canonical(message))
        except (InvalidSignature, ValueError):
            raise Refused("forged: signature does not verify") from None
        if message["target"] != target:
            raise Refused(f"wrong target: signed for {message['target']!r}, this is {target!r}")
        if expected_cmd is not None and message["cmd"] != expected_cmd:
            raise Refused(f"malformed: signed command {message['cmd']!r} sent on the topic for {expected_cmd!r}")
        return SignedMessage(message["cmd"], message["args"], float(message["ts"]), message["nonce"],
                             message["key"], message["target"])


def check_fresh(message: SignedMessage, now: float, max_age_s: float) -> None:
    """Refused unless the message was issued within max_age_s of now, either way: a command dated in
    the future would outlive the gate's memory of its nonce and could be replayed."""
    age = now - message.ts
    if abs(age) > max_age_s:
        raise Refused(f"stale: issued {age:.1f} s ago (limit {max_age_s:.0f} s)", message.nonce)
