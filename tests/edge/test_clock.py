"""The gate's date: never earlier than what it has recorded or seen signed, and a clock that is off is reported."""

import time

from edge.clock import BEHIND_TOLERANCE_S, MAX_EVIDENCE_AHEAD_S, GateClock, ntp_synchronised

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
