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


class Port:
    """Where the relay board plugs in: what the turnstile finds each time it reopens the board."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.board = None
        self.tries: list[float] = []  # when the turnstile tried to reopen it
        self.failing = 0  # tries that fail even with a board plugged in (it is still enumerating)

    def plug_in(self, board, *, after_failing: int = 0) -> None:
        self.board, self.failing = board, after_failing

    def open(self):
        self.tries.append(self.clock.now)
        if self.board is None or self.failing > 0:
            self.failing -= 1
            raise DeviceError("relay: still missing")
        return self.board


def make(relay=None, **config):
    """A turnstile with no way to reopen its board."""
    turnstile, relay, clock, events, _ = make_with_port(relay, reopens=False, **config)
    return turnstile, relay, clock, events


def make_with_port(relay=None, *, reopens: bool = True, **config):
    """A turnstile that reopens its board from a `Port` the test plugs boards into."""
    clock = Clock()
    port = Port(clock)
    relay = relay or SimRelay(clock=clock)
    events: list[tuple[EventKind, dict]] = []
    turnstile = Turnstile(relay, TurnstileConfig(**config), clock=clock, emit=lambda k, b: events.append((k, b)),
                          relay_factory=port.open if reopens else None)
    return turnstile, relay, clock, events, port


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
    turnstile, relay, clock, events, port = make_with_port(SimRelay())
    replacement = SimRelay(clock=clock)
    port.plug_in(replacement)
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
    turnstile, relay, clock, events, _ = make_with_port(ModbusRelay(port=board.port, address=1, reply_timeout_s=0.1))
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
        clock.now += pulse_ms / 1000 - 0.0001
        turnstile.tick()
        assert relay.state is True, pulse_ms
        clock.now += 0.0002
        turnstile.tick()
        assert relay.state is False, pulse_ms
        turnstile.stop()


def test_a_new_opening_closes_the_unpassed_one_and_counts_pulses():
    turnstile, relay, clock, events = make()
    assert turnstile.open("d1", admits="alice") and turnstile.opening_for("alice") == "d1"
    assert turnstile.opening_for("bob") is None and turnstile.opening_for(None) is None
    clock.now += 1.25
    turnstile.open("d2")
    assert events == [(EventKind.passage, {"decision_id": "d1", "passed": False, "seconds_after_opening": 1.25,
                                           "note": "superseded by a new opening"})]
    assert turnstile.pulses == 2 and turnstile.opening_for("alice") is None and turnstile.awaiting_passage
    turnstile.stop()


def test_the_passage_timeout_is_reported_exactly_at_its_deadline():
    turnstile, relay, clock, events = make(passage_timeout_s=5)
    turnstile.open("d1")
    clock.now += 5.0
    turnstile.tick()
    assert events == [(EventKind.passage, {"decision_id": "d1", "passed": False, "seconds_after_opening": 5.0,
                                           "note": "no passage before the timeout"})]
    assert not turnstile.awaiting_passage
    turnstile.stop()


def test_a_passage_within_three_seconds_of_a_confirmed_one_is_tailgating_and_later_forced():
    for after, alarm in ((3.0, "tailgate"), (3.01, "forced_passage")):
        turnstile, relay, clock, events = make()
        turnstile.open("d1")
        turnstile.tick(passages=1)
        clock.now += after
        turnstile.tick(passages=1)
        assert events[-1] == (EventKind.alarm, {"alarm": alarm, "detail": "passage with no open decision"}), after
        turnstile.stop()


def test_two_passages_in_one_tick_are_one_confirmed_and_one_tailgater():
    turnstile, relay, clock, events = make()
    turnstile.open("d1")
    turnstile.tick(passages=2)
    assert [body.get("alarm", "passage") for _, body in events] == ["passage", "tailgate"]
    turnstile.stop()


def test_an_idle_relay_is_driven_off_again_every_two_seconds_but_not_while_it_pulses():
    turnstile, relay, clock, events = make(pulse_ms=3000)
    turnstile.start()
    clock.now += 1.99
    turnstile.tick()
    assert [c.on for c in relay.history] == [False]
    clock.now += 0.01
    turnstile.tick()
    assert [c.on for c in relay.history] == [False, False]
    turnstile.open("d1")
    clock.now += 2.5
    turnstile.tick()
    assert relay.state is True and [c.on for c in relay.history] == [False, False, True]
    turnstile.stop()


def test_a_gate_without_a_relay_never_opens_and_says_why():
    events = []
    turnstile = Turnstile(None, TurnstileConfig(), clock=Clock(), emit=lambda k, b: events.append((k, b)))
    assert turnstile.relay_fault == "relay not connected" and not turnstile.healthy
    assert turnstile.open("d1") is False and not turnstile.is_open and not turnstile.awaiting_passage
    turnstile.stop()


def test_a_fault_alarms_once_and_reconnects_with_growing_back_off():
    turnstile, relay, clock, events, port = make_with_port()
    attempts = port.tries
    relay.unplugged = True
    assert turnstile.open("d1") is False
    assert events == [(EventKind.alarm, {"alarm": "device_fault", "device": "relay",
                                         "detail": "relay (simulated): unplugged"})]
    assert turnstile.relay_fault == "relay (simulated): unplugged" and not turnstile.is_open
    start = clock.now
    for _ in range(120):
        clock.now += 0.25
        turnstile.tick()
    gaps = [round(b - a, 2) for a, b in zip([start] + attempts, attempts)]
    assert gaps[:6] == [0.5, 1.0, 2.0, 4.0, 8.0, 10.0]  # doubling from half a second, at most ten
    assert turnstile.relay_fault == "relay: still missing" and len(events) == 1  # one alarm for one fault
    replacement = SimRelay(clock=clock)
    port.plug_in(replacement)
    clock.now += 10.0
    turnstile.tick()
    assert turnstile.healthy and events[-1] == (EventKind.status, {"device": "relay", "state": "recovered"})
    assert turnstile.open("d2") and replacement.state is True
    turnstile.stop()


def test_openings_tried_while_the_board_is_missing_do_not_put_off_its_reconnection():
    turnstile, relay, clock, events, port = make_with_port()
    attempts = port.tries
    relay.unplugged = True
    assert turnstile.open("d1") is False
    start = clock.now
    for _ in range(80):  # a resident granted every quarter second while the board is away
        clock.now += 0.25
        assert turnstile.open("d2") is False
        turnstile.tick()
    gaps = [round(b - a, 2) for a, b in zip([start] + attempts, attempts)]
    assert gaps[:5] == [0.5, 1.0, 2.0, 4.0, 8.0]  # the back-off of a gate nobody asks to open
    assert len(events) == 1  # still one alarm
    turnstile.stop()


def test_a_fire_alarm_polling_a_missing_board_still_gets_it_back_and_holds_the_lanes_free():
    turnstile, relay, clock, events, port = make_with_port()
    replacement = SimRelay(clock=clock)
    port.plug_in(replacement, after_failing=2)
    tries = port.tries
    relay.unplugged = True
    for step in range(400):  # the fire's poll every 10 ms, the loop's tick every 40 ms
        clock.now += 0.01
        turnstile.hold_free()
        if step % 4 == 3:
            turnstile.tick()
        if turnstile.healthy:
            break
    assert turnstile.healthy and len(tries) == 3 and replacement.state is True and turnstile.held_free
    turnstile.stop()


def test_a_fire_alarm_gets_a_replugged_board_back_while_the_frame_loop_is_stalled():
    turnstile, relay, clock, events, port = make_with_port()
    attempts = port.tries
    relay.unplugged = True
    assert turnstile.hold_free() is False  # the board is gone: the lanes cannot be held yet
    start = clock.now
    for _ in range(300):  # the fire's poll every 10 ms for 3 s, and no tick at all
        clock.now += 0.01
        assert turnstile.hold_free() is False
    gaps = [round(b - a, 2) for a, b in zip([start] + attempts, attempts)]
    assert gaps == [0.5, 1.0]  # the same back-off as the loop's, not a reopen every poll
    replacement = SimRelay(clock=clock)
    port.plug_in(replacement)
    while not turnstile.healthy and clock.now < start + 10:
        clock.now += 0.01
        turnstile.hold_free()
    assert turnstile.healthy and replacement.state is True and turnstile.held_free
    assert round(clock.now - start, 2) == 3.5  # at the back-off's next step (0.5 + 1 + 2 s)
    assert events[-1] == (EventKind.status, {"device": "relay", "state": "recovered"})
    turnstile.stop()
    assert replacement.state is True  # a gate stopped mid-fire leaves the lanes free


def test_a_stopped_turnstile_leaves_its_board_closed_whatever_a_fire_asks():
    turnstile, relay, clock, events, port = make_with_port()
    turnstile.start()
    turnstile.stop()
    attempts = port.tries
    relay.unplugged = True
    for _ in range(3):  # the fire thread outlives a frame loop that ended: its polls reopen nothing
        clock.now += 20.0
        turnstile.hold_free()
    assert attempts == [] and not turnstile.healthy


def test_a_relay_that_fails_to_switch_off_is_a_fault_reported_by_the_next_tick():
    turnstile, relay, clock, events = make(pulse_ms=300)
    turnstile.open("d1")
    relay.unplugged = True
    clock.now += 0.3
    turnstile.tick()
    assert not turnstile.healthy and not turnstile.is_open
    assert [body for _, body in events if "alarm" in body] == [
        {"alarm": "device_fault", "device": "relay", "detail": "relay (simulated): unplugged"}]
    turnstile.stop()


def test_the_watcher_alone_ends_a_pulse_exactly_at_its_deadline():
    turnstile, relay, clock, events = make(pulse_ms=250)
    turnstile.open("d1")
    clock.now += 0.25  # no tick: the loop is stalled
    assert wait_for(lambda: relay.state is False, timeout=2)
    assert not turnstile.is_open
    turnstile.stop()


def test_a_manual_opening_is_for_nobody_in_particular():
    turnstile, relay, clock, events = make()
    turnstile.open("d1")  # a guard's open: admits nobody known
    assert turnstile.opening_for(None) is None and turnstile.awaiting_passage
    turnstile.stop()


def test_passage_times_are_kept_to_the_millisecond():
    turnstile, relay, clock, events = make()
    turnstile.open("d1")
    clock.now += 1.23456
    turnstile.tick(passages=1)
    assert events[-1][1]["seconds_after_opening"] == 1.235
    turnstile.stop()


def test_a_gate_that_starts_without_its_board_takes_it_when_it_appears_and_closes_the_old_one():
    events = []
    clock = Clock()
    boards = []

    def plug_in():
        boards.append(SimRelay(clock=clock))
        return boards[-1]

    turnstile = Turnstile(None, TurnstileConfig(), clock=clock, emit=lambda k, b: events.append((k, b)),
                          relay_factory=plug_in)
    turnstile.tick()
    assert turnstile.healthy and len(boards) == 1 and boards[0].history[-1].on is False
    boards[0].unplugged = True
    assert not turnstile.open("d1")
    clock.now += 0.5
    turnstile.tick()
    assert boards[0].closed and len(boards) == 2 and turnstile.healthy  # the old port released first
    boards[1].unplugged = True
    assert not turnstile.open("d2")
    gaps = []
    for _ in range(8):
        before = len(boards)
        clock.now += 0.25
        turnstile.tick()
        if len(boards) > before:
            gaps.append(clock.now)
    assert gaps and gaps[0] == 100.0 + 0.5 + 0.5  # after a recovery the back-off starts again at half a second
    turnstile.stop()


def test_a_passage_whose_way_the_sensor_tells_is_reported_with_who_it_was_for():
    turnstile, relay, clock, events = make()
    passed = []
    turnstile.on_passed = lambda admits, way: passed.append((admits, way))
    turnstile.open("d1", ("resident", 7))
    turnstile.tick(passages=1, ways=["out"])
    turnstile.open("d2", ("pass", "p-1"))
    turnstile.tick(passages=1)  # a sensor that does not tell the way: nothing to report
    assert passed == [(("resident", 7), "out")]
