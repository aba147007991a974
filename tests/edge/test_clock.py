"""The gate's date: never earlier than what it has recorded or seen signed, and a clock that is off is reported."""

import time

from edge.clock import (
    BEHIND_TOLERANCE_S,
    MAX_EVIDENCE_AHEAD_S,
    SYNC_CHECK_EVERY_S,
    GateClock,
    ntp_synchronised,
    synchronised_from,
)

DAY = 86400.0


class Clock:
    def __init__(self, now: float) -> None:
        self.value = now

    def __call__(self) -> float:
        return self.value


def test_the_date_never_goes_back_before_what_the_gate_has_seen():
    system = Clock(1_000_000.0)
    clock = GateClock(system=system, synchronised=lambda: True)
    assert clock.now() == system.value and clock.warnings() == []
    clock.recorded(system.value + 3 * DAY)  # the last event it recorded, before a reboot set its clock back 3 days
    assert clock.now() == system.value + 3 * DAY
    assert clock.warnings() == ["clock_behind"] and clock.as_dict()["behind_s"] == 3 * DAY
    clock.signed(system.value + 4 * DAY, "administrator admin-1")
    assert clock.now() == system.value + 4 * DAY and clock.as_dict()["newest_seen_by"] == "administrator admin-1"
    system.value += 4 * DAY  # NTP set it right
    assert clock.now() == system.value and clock.warnings() == []


def test_a_time_too_far_ahead_moves_nothing():
    """A signer's clock ten years ahead (or the gate's own, once) must not expire every pass."""
    system = Clock(1_000_000.0)
    clock = GateClock(system=system, synchronised=lambda: True)
    clock.signed(system.value + MAX_EVIDENCE_AHEAD_S + 1, "administrator admin-1")
    clock.recorded(system.value + 10 * 365 * DAY)
    assert clock.now() == system.value and clock.warnings() == []
    assert clock.as_dict()["times_too_far_ahead"] == 2
    clock.signed(system.value + BEHIND_TOLERANCE_S / 2, "administrator admin-1")  # clocks differ a little
    assert clock.warnings() == []


def test_an_unsynchronised_clock_is_reported():
    clock = GateClock(synchronised=lambda: False)
    assert clock.warnings() == ["clock_unsynchronised"]
    assert ntp_synchronised() in (True, False, None)  # this machine's kernel answers (or cannot be asked)


def test_a_pass_that_expired_yesterday_is_refused_by_a_gate_whose_clock_went_back(tmp_path):
    """A gate booted three days behind (no battery clock, no network) admitted a pass that expired yesterday."""
    from edge.app import Runtime
    from edge.config import parse_config
    from edge.events import EventKind
    from edge.mqtt.auth import generate_key
    from edge.qr.passes import issue_pass

    private, public = generate_key()
    now = time.time()
    token, _ = issue_pass(private, "site-key", site="demo-site", gates=["*"], holder="plumber",
                          valid_from=now - 5 * DAY, valid_until=now - DAY, uses=1, kind="visitor")
    config = parse_config({"mqtt": {"enabled": False}, "ui": {"enabled": False},
                           "qr": {"passes": {"public_keys": {"site-key": public}}}})
    runtime = Runtime(config, state_dir=tmp_path / "state", realtime=False, loop=False, control=False, ui=False)
    runtime.gate.record(EventKind.status, {"device": "gate", "state": "started"})  # today, by a right clock
    runtime.close()

    rebooted = GateClock(system=Clock(now - 3 * DAY), synchronised=lambda: False)  # no battery clock, no network
    runtime = Runtime(config, state_dir=tmp_path / "state", realtime=False, loop=False, control=False, ui=False,
                      gate_clock=rebooted)
    try:
        assert runtime.code_registries()[0].verify(token, "scanner").reason == "pass_expired"
        status = runtime.service.status()
        assert {"clock_behind", "clock_unsynchronised"} <= set(status.warnings)
        assert status.clock["behind_s"] >= 3 * DAY - 60 and status.clock["newest_seen_by"] == "this gate's own events"
    finally:
        runtime.close()


def test_a_signed_time_counts_up_to_exactly_its_bound_and_the_first_signer_of_the_newest_is_named():
    system = Clock(1_000_000.0)
    clock = GateClock(system=system, synchronised=lambda: True)
    clock.recorded(system.value + MAX_EVIDENCE_AHEAD_S)
    assert clock.now() == system.value + MAX_EVIDENCE_AHEAD_S and clock.as_dict()["times_too_far_ahead"] == 0
    clock.signed(system.value + MAX_EVIDENCE_AHEAD_S, "administrator admin-1")
    assert clock.now() == system.value + MAX_EVIDENCE_AHEAD_S
    clock.signed(system.value + MAX_EVIDENCE_AHEAD_S, "administrator admin-2")  # the same time again
    assert clock.as_dict()["newest_seen_by"] == "administrator admin-1"
    for _ in range(2):
        clock.signed(system.value + MAX_EVIDENCE_AHEAD_S + 0.5, "administrator admin-3")
    assert clock.as_dict()["times_too_far_ahead"] == 2 and clock.now() == system.value + MAX_EVIDENCE_AHEAD_S


def test_the_kernels_answer_is_read_as_adjtimex_states_it():
    assert synchronised_from(-1) is None  # the call failed: nothing known
    assert synchronised_from(0) is True  # TIME_OK
    assert synchronised_from(1) is True  # a leap second to insert: still disciplined
    assert synchronised_from(5) is False  # TIME_ERROR


def test_the_clock_is_described_to_a_tenth_of_a_second_and_never_as_ahead():
    system = Clock(1_000_000.0)
    clock = GateClock(system=system, synchronised=lambda: False)
    assert clock.as_dict() == {"behind_s": 0.0, "newest_seen_by": "", "synchronised": None, "times_too_far_ahead": 0}
    clock.recorded(system.value + 12.34)
    clock.signed(system.value + 12.34, "administrator admin-1")  # the same time: the signer is the news
    clock.warnings()
    assert clock.as_dict() == {"behind_s": 12.3, "newest_seen_by": "administrator admin-1", "synchronised": False,
                               "times_too_far_ahead": 0}
    system.value += 100.0  # now ahead of everything seen
    assert clock.as_dict()["behind_s"] == 0.0


def test_synchronisation_is_asked_once_a_minute_and_again_when_the_clock_goes_back():
    system = Clock(1_000_000.0)
    asked: list[float] = []
    clock = GateClock(system=system, synchronised=lambda: asked.append(system.value) or True)
    clock.warnings()
    clock.warnings()  # the same instant
    system.value += SYNC_CHECK_EVERY_S - 0.01
    clock.warnings()
    assert len(asked) == 1
    system.value += 0.01
    clock.warnings()
    assert len(asked) == 2
    system.value -= 1.0  # the clock was set back
    clock.warnings()
    assert len(asked) == 3


def test_a_clock_exactly_the_tolerance_behind_is_not_reported():
    system = Clock(1_000_000.0)
    clock = GateClock(system=system, synchronised=lambda: True)
    clock.recorded(system.value + BEHIND_TOLERANCE_S)
    assert clock.warnings() == []
    clock.recorded(system.value + BEHIND_TOLERANCE_S + 0.1)
    assert clock.warnings() == ["clock_behind"]
