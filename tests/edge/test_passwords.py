"""Secrets people type are kept as scrypt hashes of the stated cost, each under its own random salt."""

from __future__ import annotations

import hashlib

from edge.passwords import hash_secret, secret_matches


def test_a_secret_is_hashed_with_scrypt_at_its_stated_cost_under_a_new_16_byte_salt():
    digest, salt = hash_secret("2468")
    assert len(salt) == 16 and len(digest) == 32
    assert digest == hashlib.scrypt(b"2468", salt=salt, n=2**14, r=8, p=1, dklen=32)
    again, other_salt = hash_secret("2468")
    assert other_salt != salt and again != digest


def test_a_given_salt_is_used_and_a_secret_matches_only_itself():
    digest, salt = hash_secret("correct horse", b"s" * 16)
    assert salt == b"s" * 16 and hash_secret("correct horse", salt) == (digest, salt)
    assert secret_matches("correct horse", digest, salt)
    assert not secret_matches("correct horsf", digest, salt)
    assert not secret_matches("correct horse", digest, b"t" * 16)
