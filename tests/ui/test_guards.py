"""The guards' book: PINs as scrypt hashes, lockout after failures, removal."""

import pytest

from edge.store import Store
from edge.ui.guards import GuardBook, PinCheck, valid_pin_format


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


@pytest.fixture()
def book(tmp_path):
    with Store(tmp_path) as store:
        clock = Clock()
        yield GuardBook(store, max_failures=3, lockout_s=60, clock=clock), store, clock


def test_the_right_pin_passes_and_only_a_hash_is_kept(book):
    guards, store, _ = book
    guards.add("7", "Zhang", "2468")
    assert guards.check("7", "2468").ok
    assert b"2468" not in store.guard("7").pin_hash


def test_wrong_pins_lock_the_guard_out_for_the_configured_time(book):
    guards, _, clock = book
    guards.add("7", "Zhang", "2468")
    assert [guards.check("7", "0000").reason for _ in range(3)] == ["wrong_pin"] * 3
    assert guards.check("7", "2468").reason == "locked_out"  # even the right PIN
    clock.now += 61
    assert guards.check("7", "2468").ok


def test_a_right_pin_resets_the_count(book):
    guards, _, _ = book
    guards.add("7", "Zhang", "2468")
    guards.check("7", "0000")
    guards.check("7", "0000")
    assert guards.check("7", "2468").ok
    assert guards.check("7", "0000").reason == "wrong_pin" and guards.check("7", "2468").ok


def test_unknown_and_removed_guards_are_refused(book):
    guards, _, _ = book
    assert guards.check("nobody", "2468").reason == "unknown_guard"
    guards.add("7", "Zhang", "2468")
    assert guards.remove("7") and not guards.remove("7")
    assert guards.check("7", "2468").reason == "unknown_guard"


@pytest.mark.parametrize("pin, ok", [("2468", True), ("123456789012", True), ("123", False), ("12a4", False),
                                     ("1234567890123", False)])
def test_pin_format(pin, ok):
    assert valid_pin_format(pin) is ok


def test_pins_are_scrypt_hashed_with_a_fresh_16_byte_salt():
    import hashlib

    from edge.ui.guards import hash_pin

    digest, salt = hash_pin("2468")
    assert len(salt) == 16 and hash_pin("2468")[1] != salt
    assert digest == hashlib.scrypt(b"2468", salt=salt, n=2**14, r=8, p=1, dklen=32)
    assert hash_pin("2468", salt) == (digest, salt)


def test_a_bad_pin_is_refused_when_adding_and_nothing_is_stored(book):
    guards, store, _ = book
    with pytest.raises(ValueError, match=r"^pin: 4 to 12 digits$"):
        guards.add("7", "Zhang", "12")
    assert store.guard("7") is None


def test_each_check_names_the_guard_and_the_lockout_ends_exactly_on_time(book):
    guards, store, clock = book
    guards.add("7", "Zhang", "2468")
    assert guards.check("7", "2468") == PinCheck(True, "", "Zhang")
    assert [guards.check("7", "0000") for _ in range(3)][-1] == PinCheck(False, "wrong_pin", "Zhang")
    assert guards.check("7", "2468") == PinCheck(False, "locked_out", "Zhang")
    clock.now = store.guard("7").locked_until - 0.5
    assert guards.check("7", "2468").reason == "locked_out"
    clock.now += 0.5
    assert guards.check("7", "2468").ok
    assert guards.check("nobody", "2468") == PinCheck(False, "unknown_guard", "")
