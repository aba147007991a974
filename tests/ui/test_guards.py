"""The guards' book: PINs as scrypt hashes, lockout after failures, removal."""

import pytest

from edge.store import Store
from edge.ui.guards import GuardBook, valid_pin_format


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
    assert b"2468" not in store.guard("7")["pin_hash"]


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
