"""The guards' book: PINs as scrypt hashes, lockout after failures, removal."""

import pytest

from edge.store import Store
from edge.guards import GuardBook, PinCheck, valid_pin_format


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


def test_a_right_pin_resets_only_its_own_sources_count(book):
    """Wrong PINs spread between the guard's own logins used to be forgiven at each good login: 20 guesses never
    locked anyone out. A good login now resets the count of its own source only."""
    guards, _, _ = book
    guards.add("7", "Zhang", "2468")
    guards.check("7", "0000", "10.0.0.66")
    guards.check("7", "0000", "10.0.0.66")
    assert guards.check("7", "2468", "127.0.0.1").ok  # the guard at the screen
    assert guards.check("7", "0001", "10.0.0.66").lockout_started  # the third from elsewhere still counts
    assert guards.check("7", "2468", "10.0.0.66").reason == "locked_out"
    assert guards.check("7", "2468", "127.0.0.1").ok  # and the guard at the screen is not locked out by it


def test_each_lockout_of_a_source_lasts_twice_the_one_before(book):
    guards, _, clock = book
    guards.add("7", "Zhang", "2468")
    lengths = []
    for _ in range(4):
        for _ in range(3):
            guards.check("7", "0000", "10.0.0.66")
        lengths.append(guards.locked_until("7", "10.0.0.66") - clock.now)
        clock.now = guards.locked_until("7", "10.0.0.66")
    assert lengths == [60, 120, 240, 480]


def test_unknown_ids_are_locked_out_like_known_ones_so_ids_cannot_be_listed(book):
    guards, _, _ = book
    guards.add("7", "Zhang", "2468")
    known = [guards.check("7", "0000", "10.0.0.66").reason for _ in range(4)]
    unknown = [guards.check("nobody", "0000", "10.0.0.66").reason for _ in range(4)]
    assert known[-1] == unknown[-1] == "locked_out"
    assert [r.replace("unknown_guard", "wrong_pin") for r in unknown] == known


def test_a_source_guessing_many_ids_is_locked_out_as_a_source(book):
    guards, _, _ = book
    guards.add("7", "Zhang", "2468")
    answers = [guards.check(f"id-{n}", "0000", "10.0.0.66").reason for n in range(20)]
    assert answers.count("unknown_guard") == 12 and answers[-1] == "locked_out"  # 4 x max_failures over all ids
    assert guards.check("7", "2468", "10.0.0.66").reason == "locked_out"
    assert guards.check("7", "2468", "127.0.0.1").ok


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

    from edge.guards import hash_pin

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
    assert guards.check("7", "2468") == PinCheck(True, "", "Zhang", pin_hash=store.guard("7").pin_hash)
    assert [guards.check("7", "0000") for _ in range(3)][-1] == PinCheck(False, "wrong_pin", "Zhang", lockout_started=True)
    assert guards.check("7", "2468") == PinCheck(False, "locked_out", "Zhang")
    clock.now = guards.locked_until("7") - 0.5
    assert guards.check("7", "2468").reason == "locked_out"
    clock.now += 0.5
    assert guards.check("7", "2468").ok
    assert guards.check("nobody", "2468") == PinCheck(False, "unknown_guard", "")


def test_the_server_ends_a_session_when_it_expires_not_only_the_cookie(tmp_path):
    """A server that never expired its sessions kept them valid for anyone holding the cookie after its max age."""
    import time

    from aiohttp import web
    from aiohttp.test_utils import make_mocked_request

    from edge.app import Runtime
    from edge.config import UiConfig, parse_config
    from edge.ui.server import TouchscreenServer
    from edge.ui.sessions import SESSION_COOKIE, Session

    runtime = Runtime(parse_config({"mqtt": {"enabled": False}, "ui": {"enabled": False},
                                    "pipeline": {"stages": ["qr"]}, "checks": {"face": {"mode": "off"},
                                                                                "temperature": {"mode": "off"}}}),
                      state_dir=tmp_path, realtime=False, loop=False, control=False, ui=False)
    try:
        runtime.service.guards.add("7", "Zhang", "2468")
        server = TouchscreenServer(runtime.service, UiConfig())
        guard = runtime.service.guards.get("7")
        server.sessions._open["old"] = Session("7", "Zhang", time.time() - 1, guard.pin_hash)
        server.sessions._open["new"] = Session("7", "Zhang", time.time() + 3600, guard.pin_hash)

        def session(token):
            return server._session(make_mocked_request("GET", "/api/state",
                                                       headers={"Cookie": f"{SESSION_COOKIE}={token}"}))

        assert session("new").guard_id == "7"
        with pytest.raises(web.HTTPUnauthorized):
            session("old")
        assert "old" not in server.sessions._open
    finally:
        runtime.close()


def test_a_lockout_is_looked_up_by_the_name_as_counted_and_an_unknown_one_is_not_locked():
    from edge.lockouts import Lockouts

    lockouts = Lockouts(max_failures=2, lockout_s=60.0, clock=lambda: 1000.0)
    long_name = "g" * 70  # counted under its first 64 characters
    assert lockouts.attempt(long_name, "screen", lambda: False) == (False, False)
    assert lockouts.attempt(long_name, "screen", lambda: False) == (False, True)  # this one started the lockout
    assert lockouts.locked_until(long_name, "screen") == 1060.0
    assert lockouts.locked_until("g" * 64, "screen") == 1060.0
    assert lockouts.locked_until("nobody", "screen") == 0.0
