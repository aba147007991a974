"""Lockouts' rules at their bounds: attempts under way count, a success forgives only its own entries,
each lockout doubles until a success, a check that raises is a failure, and the memory is bounded."""

import threading

import pytest

from edge import lockouts as lockouts_module
from edge.lockouts import SOURCE_FAILURES, Lockouts


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def fail() -> bool:
    return False


def under_way(lockouts: Lockouts, count: int, name: str = "7", source: str = "screen"):
    """`count` attempts whose check has started and not answered; returns the release and the threads."""
    release, started = threading.Event(), threading.Semaphore(0)

    def slow_check() -> bool:
        started.release()
        release.wait(10)
        return False

    threads = [threading.Thread(target=lockouts.attempt, args=(name, source, slow_check)) for _ in range(count)]
    for thread in threads:
        thread.start()
    for _ in range(count):
        assert started.acquire(timeout=10)
    return release, threads


@pytest.mark.parametrize("failed_before, max_failures", [(0, 2), (1, 3)])
def test_attempts_under_way_count_as_failures_until_they_answer(failed_before, max_failures):
    lockouts = Lockouts(max_failures=max_failures, lockout_s=60.0, clock=Clock())
    for _ in range(failed_before):
        assert lockouts.attempt("7", "screen", fail) == (False, False)
    release, threads = under_way(lockouts, max_failures - failed_before)
    checked: list[bool] = []
    assert lockouts.attempt("7", "screen", lambda: checked.append(True) or True) == (None, False)
    assert checked == []  # refused before the costly check
    release.set()
    for thread in threads:
        thread.join(10)
    assert lockouts.locked_until("7", "screen") == 1060.0


def test_one_attempt_under_way_leaves_room_for_the_next():
    lockouts = Lockouts(max_failures=3, lockout_s=60.0, clock=Clock())
    release, threads = under_way(lockouts, 1)
    assert lockouts.attempt("7", "screen", fail) == (False, False)
    release.set()
    threads[0].join(10)
    assert lockouts.attempt("7", "screen", fail) == (False, True)  # the third failure, whichever finished first


def test_many_good_logins_from_one_source_never_lock_it_out():
    lockouts = Lockouts(max_failures=2, lockout_s=60.0, clock=Clock())
    for _ in range(3 * 2 * SOURCE_FAILURES):
        assert lockouts.attempt("7", "screen", lambda: True) == (True, False)


def test_a_success_forgives_the_failures_and_the_doubling():
    clock = Clock()
    lockouts = Lockouts(max_failures=1, lockout_s=60.0, clock=clock)
    assert lockouts.attempt("7", "screen", fail) == (False, True)
    assert lockouts.locked_until("7", "screen") == 1060.0
    clock.now = 1060.0
    assert lockouts.attempt("7", "screen", lambda: True) == (True, False)
    assert lockouts.attempt("7", "screen", fail) == (False, True)
    assert lockouts.locked_until("7", "screen") == 1120.0  # 60 s again, not 120


def test_a_check_that_raises_counts_as_a_failure():
    lockouts = Lockouts(max_failures=1, lockout_s=60.0, clock=Clock())

    def broken() -> bool:
        raise OSError("the guards' store is gone")

    with pytest.raises(OSError):
        lockouts.attempt("7", "screen", broken)
    assert lockouts.locked_until("7", "screen") == 1060.0
    assert lockouts.attempt("7", "screen", lambda: True) == (None, False)


def test_the_least_recently_tried_are_forgotten_beyond_the_bound(monkeypatch):
    monkeypatch.setattr(lockouts_module, "KEPT", 4)
    lockouts = Lockouts(max_failures=2, lockout_s=60.0, clock=Clock())
    assert lockouts.attempt("a", "s1", fail) == (False, False)  # entries (a, s1) and (any name, s1)
    assert lockouts.attempt("b", "s2", fail) == (False, False)
    assert lockouts.attempt("a", "s1", fail) == (False, True)  # tried again: now the most recent
    assert lockouts.attempt("c", "s3", fail) == (False, False)  # forgets b and s2
    assert len(lockouts._tries) == 4
    assert lockouts.locked_until("a", "s1") == 1060.0  # a kept
    assert lockouts.attempt("b", "s2", fail) == (False, False)  # b's first failure again
