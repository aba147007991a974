import time

from drivers.relay import LcusRelay, ModbusRelay, SimRelay
from edge.config import TurnstileConfig
from edge.errors import DeviceError
from edge.events import EventKind
from edge.turnstile import Turnstile
from tests.emulators import LcusBoard, ModbusBoard, wait_for


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def make(relay=None, **config):
    clock = Clock()
    relay = relay or SimRelay(clock=clock)
    events: list[tuple[EventKind, dict]] = []
    turnstile = Turnstile(relay, TurnstileConfig(**config), clock=clock, emit=lambda k, b: events.append((k, b)))
    return turnstile, relay, clock, events


def test_relay_is_forced_off_at_start_and_pulses_for_the_configured_time():
    turnstile, relay, clock, events = make(pulse_ms=300)
    relay.state = True  # as if left on by a crash
    turnstile.start()
    assert relay.state is False
    assert turnstile.open("d1")
    assert relay.state is True
    clock.now += 0.29
    turnstile.tick()
    assert relay.state is True
    clock.now += 0.02
    turnstile.tick()
    assert relay.state is False
    assert [c.on for c in relay.history] == [False, True, False]


def test_passage_confirms_the_opening():
    turnstile, relay, clock, events = make()
    turnstile.open("d1")
    clock.now += 0.8
    turnstile.tick(passages=1)
    assert events == [(EventKind.passage, {"decision_id": "d1", "passed": True, "seconds_after_opening": 0.8})]
    assert not turnstile.awaiting_passage


def test_no_passage_before_the_timeout_is_reported():
    turnstile, relay, clock, events = make(passage_timeout_s=5)
    turnstile.open("d1")
    clock.now += 4.9
    turnstile.tick()
    assert events == []
    clock.now += 0.2
    turnstile.tick()
    assert events[0][0] is EventKind.passage and events[0][1]["passed"] is False


def test_passage_without_decision_is_forced_and_a_second_one_is_tailgating():
    turnstile, relay, clock, events = make()
    turnstile.tick(passages=1)
    assert events[-1] == (EventKind.alarm, {"alarm": "forced_passage", "detail": "passage with no open decision"})
    turnstile.open("d1")
    clock.now += 0.6
    turnstile.tick(passages=1)
    clock.now += 0.7
    turnstile.tick(passages=1)
    assert events[-1][1]["alarm"] == "tailgate"


def test_relay_off_on_stop_and_stop_twice_is_safe():
    turnstile, relay, clock, events = make()
    turnstile.open("d1")
    turnstile.stop()
    assert relay.history[-1].on is False
    turnstile.stop()


def test_fail_safe_gate_holds_the_relay_on_stop():
    turnstile, relay, clock, events = make(fail_mode="safe")
    turnstile.stop()
    assert relay.history[-1].on is True


def test_relay_fault_keeps_the_gate_locked_and_recovers():
    relay = SimRelay()
    turnstile, relay, clock, events = make(relay)
    replacement = SimRelay(clock=clock)
    turnstile._factory = lambda: replacement
    relay.unplugged = True
    assert turnstile.open("d1") is False
    assert events[-1][1]["alarm"] == "device_fault"
    assert not turnstile.healthy
    clock.now += 1.0
    turnstile.tick()
    assert turnstile.healthy
    assert replacement.history[-1].on is False
    assert events[-1] == (EventKind.status, {"device": "relay", "state": "recovered"})


def test_real_modbus_board_over_pty_sees_exactly_one_pulse():
    board = ModbusBoard(address=1)
    try:
        turnstile, relay, clock, events = make(ModbusRelay(port=board.port, address=1))
        turnstile.start()
        turnstile.open("d1")
        clock.now += 0.31
        turnstile.tick()
        turnstile.stop()
        assert wait_for(lambda: len(board.log.states) == 4)
        assert board.log.states == [(0, False), (0, True), (0, False), (0, False)]
        assert board.log.errors == []
    finally:
        board.close()


def test_unplugged_board_mid_pulse_is_a_fault_not_a_crash():
    board = ModbusBoard(address=1)
    turnstile, relay, clock, events = make(ModbusRelay(port=board.port, address=1, reply_timeout_s=0.1))

    def reopen():
        raise DeviceError("relay: /dev/ttyUSB0 missing")

    turnstile._factory = reopen
    turnstile.open("d1")
    board.unplug()
    clock.now += 0.5
    turnstile.tick()
    assert not turnstile.healthy
    assert any(body.get("alarm") == "device_fault" for _, body in events)
    board.close()


def test_the_pulse_ends_on_time_while_the_loop_is_stalled():
    """No tick at all after the open (a loop stuck in a slow verifier): the board still sees off on time."""
    board = LcusBoard()
    events = []
    turnstile = Turnstile(LcusRelay(port=board.port), TurnstileConfig(pulse_ms=400), clock=time.monotonic,
                          emit=lambda k, b: events.append((k, b)))
    try:
        turnstile.start()
        assert turnstile.open("d1")
        assert wait_for(lambda: board.log.states[-1:] == [(1, False)] and len(board.log.states) >= 3, timeout=3)
        on_at, off_at = board.log.times[-2], board.log.times[-1]
        assert board.log.states[-2:] == [(1, True), (1, False)]
        assert 0.39 <= off_at - on_at <= 0.5, f"relay on for {off_at - on_at:.3f} s"  # the board reads with jitter
        assert board.log.errors == [] and not turnstile.is_open
    finally:
        turnstile.stop()
        board.close()


def test_the_configured_pulse_length_is_honoured():
    for pulse_ms in (150, 900):
        turnstile, relay, clock, events = make(pulse_ms=pulse_ms)
        turnstile.open("d1")
        clock.now += pulse_ms / 1000 - 0.01
        turnstile.tick()
        assert relay.state is True, pulse_ms
        clock.now += 0.02
        turnstile.tick()
        assert relay.state is False, pulse_ms
        turnstile.stop()
