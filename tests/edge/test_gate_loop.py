"""The frame loop's rules, one frame at a time, with stages that say what they saw (no models): when a visit opens
and ends, what is decided and recorded before the relay moves, what a pass's use and a manual open do, how a
silent camera, a failing stage, a full database and a dead loop are handled."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pytest

from drivers.camera import Camera, Frame
from drivers.relay import SimRelay
from edge.config import parse_config
from edge.errors import StorageError
from edge.events import DecisionSource, EventKind
from edge.face.engine import FaceResult, SeenFace
from edge.face.matcher import Match
from edge.face.quality import Quality
from edge.gate import CAMERA_FAULT_AFTER_S, Gate
from edge.hardware import Hardware
from edge.qr.passes import PassClaims
from edge.readings import QrResult, ThermalReading
from edge.stages.base import FrameContext
from edge.store import Store

FRAME_S = 0.125  # exact in binary: the clock adds up without drift
START = 1_000.0
GOOD = Quality(40.0, 100.0, 0.0, 0.9, ())
POOR = Quality(10.0, 100.0, 0.0, 0.9, ("face too small",), ("too_small",))


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> float:
        return self.now


class ScriptedCamera(Camera):
    """A frame every FRAME_S of the test's clock; none while `dark` says so (the stream down)."""

    name = "camera (scripted)"

    def __init__(self, clock: Clock, frames: int) -> None:
        super().__init__()
        self.clock = clock
        self.frames = frames
        self.index = 0
        self.dark: Callable[[float], bool] = lambda now: False

    @property
    def finished(self) -> bool:
        return self.index >= self.frames

    def _read(self, timeout: float) -> Frame | None:
        if self.finished:
            return None
        self.index += 1
        self.clock.now += FRAME_S
        if self.dark(self.clock.now):
            return None
        return Frame(np.zeros((48, 64, 3), np.uint8), self.clock.now, self.index)


@dataclass
class ScriptedStage:
    """Says what it saw on each frame: `script(now, context)` fills the context."""

    script: Callable[[float, FrameContext], None]
    name: str = "face"
    fault: str | None = None
    learned: list = field(default_factory=list)

    def process(self, context: FrameContext) -> None:
        self.script(context.now, context)

    def learn(self, reading) -> None:
        self.learned.append(reading)


class ScriptedPassage:
    """Passages (with their ways) at the times the test says; unplugged while `unplugged` says so."""

    def __init__(self, clock: Clock, at: dict[float, str] | None = None) -> None:
        self.clock = clock
        self.at = dict(at or {})
        self.unplugged: Callable[[float], bool] = lambda now: False
        self.ways: list[str] = []

    def poll(self) -> int:
        if self.unplugged(self.clock.now):
            raise OSError("passage sensor: unplugged")
        due = sorted(t for t in self.at if t <= self.clock.now)
        self.ways = [self.at.pop(t) for t in due]
        return len(due)


class SilentCamera(Camera):
    """No frames, ever, and no notion of a scenario's end: a real camera whose stream is down."""

    def __init__(self, clock: Clock) -> None:
        super().__init__()
        self.clock = clock
        self.waits: list[float] = []

    def _read(self, timeout: float) -> Frame | None:
        self.waits.append(timeout)
        self.clock.now += FRAME_S
        return None


def face(track: int = 1, *, resident: int | None = 1, quality: Quality = GOOD, runner_up: float = 0.2,
         group: str | None = None) -> FaceResult:
    match = Match(resident, "Alice" if resident else None, 0.8 if resident else 0.2, runner_up,
                  "match" if resident else "below threshold", residents=40, group=group)
    seen = SeenFace(track, [0.0, 0.0, 10.0, 10.0], np.zeros((5, 2)), 0.9, quality, 1.0, match, primary=True,
                    embedding=np.ones(4, np.float32))
    return FaceResult([seen])


def reading(temperature: float = 36.6) -> ThermalReading:
    return ThermalReading(True, temperature, 0.1, live=True, flags=["canthus"], systematic_c=0.05)


def a_pass_code(pass_id: str = "p-1") -> QrResult:
    return QrResult("token", "scanner", "valid", "valid pass", kind="pass", pass_id=pass_id, holder="plumber")


CHECKS_FACE_ONLY = {"temperature": {"mode": "off"}, "qr": {"mode": "off"}}


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def store(tmp_path, clock):
    store = Store(tmp_path, clock=clock)
    yield store
    store.close()


class Harness:
    def __init__(self, store: Store, clock: Clock, script, *, frames: int = 100, checks=None, passage=None,
                 faults=None, relay_factory=None, **settings) -> None:
        config = parse_config({"mqtt": {"enabled": False}, "ui": {"enabled": False},
                               "checks": checks if checks is not None else CHECKS_FACE_ONLY,
                               "pipeline": {"presence": {"enabled": False}}, **settings})
        self.camera = ScriptedCamera(clock, frames)
        self.relay = SimRelay(clock=clock)
        self.stage = ScriptedStage(script)
        self.decisions: list = []
        self.gate = Gate(config, hardware=Hardware(self.camera, None, self.relay, relay_factory, passage, None,
                                                  faults=faults),
                         store=store, stages=[self.stage], clock=clock,
                         on_decision=lambda decision, pulsed: self.decisions.append((clock.now, decision, pulsed)))
        self.store = store

    def run(self) -> None:
        """The loop until the camera's frames are played; a loop that would not end there fails, it does not hang."""
        steps = itertools.count()
        self.gate.run(lambda: next(steps) > self.camera.frames + 5)
        assert next(steps) <= self.camera.frames + 5, "the loop went on after the camera's last frame"

    def steps(self):
        """Each step of the loop (already started) until the frames are played, as the loop would take them."""
        for _ in range(self.camera.frames + 5):
            if not self.gate.step():
                return
            yield
        raise AssertionError("the loop went on after the camera's last frame")

    def events(self, kind: EventKind) -> list[dict]:
        return self.store.events(kind=kind.value)

    def alarms(self, device: str) -> list[dict]:
        return [e for e in self.events(EventKind.alarm) if e.get("device") == device]


def always(result_for_now):
    def script(now: float, context: FrameContext) -> None:
        context.face = result_for_now(now)
    return script


def test_a_resident_is_recorded_then_let_in_once(store, clock):
    gate = Harness(store, clock, always(lambda now: face()), frames=20)
    told: list = []
    gate.gate.decided_listeners.append(lambda visit, decision: told.append((visit.match.resident_id, decision)))
    gate.run()
    [(when, decision, pulsed)] = gate.decisions
    assert decision.granted and decision.resident_id == 1 and pulsed
    assert when == pytest.approx(START + FRAME_S)  # the first frame
    assert gate.gate.turnstile.pulses == 1 and gate.relay.pulses() == [pytest.approx(START + FRAME_S)]
    [event] = gate.events(EventKind.decision)
    assert event["granted"] and event["resident_id"] == 1 and event["same_opening_as"] is None
    assert told == [(1, decision)]
    assert gate.gate.stats.decisions == 1 and gate.gate.stats.frames == 20
    assert store.visit_scores(10) == [(0.2, 40)]  # the runner-up's score: a stranger's best through this camera
    [started, stopped] = [e["state"] for e in gate.events(EventKind.status)]
    assert (started, stopped) == ("started", "stopped") and not gate.relay.state


def test_a_grant_without_a_runner_up_keeps_no_score(store, clock):
    gate = Harness(store, clock, always(lambda now: face(runner_up=-1.0)), frames=3)
    gate.run()
    assert gate.decisions[0][1].granted and store.visit_scores(10) == []


def test_a_face_too_poor_to_judge_opens_no_visit_and_is_told_what_to_fix(store, clock):
    gate = Harness(store, clock, always(lambda now: face(quality=POOR)), frames=50)
    gate.run()
    assert gate.decisions == [] and gate.gate.visit is None and gate.relay.pulses() == []
    assert gate.gate.prompt.code == "step_closer"  # POOR is too small


def test_the_screen_says_out_of_service_while_the_camera_or_the_relay_is_down(store, clock):
    def new_relay() -> SimRelay:  # what the turnstile reconnects to: back at START + 6
        relay = SimRelay(clock=clock)
        relay.unplugged = clock.now < START + 6.0
        return relay

    gate = Harness(store, clock, always(lambda now: None), frames=60, relay_factory=new_relay)
    gate.camera.dark = lambda now: START + 1.0 < now <= START + 4.0
    said: list[tuple[float, str]] = []
    gate.gate.prompt_listeners.append(lambda prompt: said.append((prompt.since, prompt.code)))
    gate.gate.start()
    for _ in gate.steps():
        if clock.now == START + 5.0:
            gate.relay.unplugged = True
            gate.gate.open_now(DecisionSource.guard, "guard-1", "test")  # the relay is found gone when driven
        if clock.now == START + 5.5:
            assert gate.gate.faults.get("relay") == "relay (simulated): unplugged"
    # the relay is tried again 0.5 s after the fault, then 1 s after that: back at START + 6.5
    assert said == [(START + 3.125, "out_of_service"), (START + 4.125, "idle"), (START + 5.125, "out_of_service"),
                    (START + 6.625, "idle")]
    assert "relay" not in gate.gate.faults and gate.gate.prompt.since == START + 6.625


def test_a_stranger_is_refused_when_the_window_closes_and_no_score_is_kept(store, clock):
    gate = Harness(store, clock, always(lambda now: face(resident=None)), frames=40)
    gate.run()
    [(when, decision, pulsed)] = gate.decisions
    assert not decision.granted and not pulsed and "unknown_face" in decision.reason_codes
    assert when == pytest.approx(START + FRAME_S + 3.0)  # the decision window, from the first frame
    assert gate.relay.pulses() == [] and store.visit_scores(10) == []


def test_a_visit_ends_once_the_face_is_gone_longer_than_leave_after(store, clock):
    present_until = START + 1.0
    gate = Harness(store, clock, always(lambda now: face() if now <= present_until else None), frames=40)
    ended: list = []
    gate.gate.ended_listeners.append(ended.append)
    gate.gate.step()
    visit = gate.gate.visit
    for _ in range(round((present_until + 1.0 - clock.now) / FRAME_S)):  # to exactly leave_after_s after the face
        gate.gate.step()
        assert gate.gate.visit is visit and ended == []  # gone, but not yet for longer than leave_after_s
    gate.gate.step()
    assert gate.gate.visit is None and ended == [visit]


def test_an_undecided_visit_that_leaves_is_decided_as_at_the_windows_end(store, clock):
    def stranger_for_a_moment(now: float) -> FaceResult | None:
        return face(resident=None) if now <= START + 0.5 else None

    gate = Harness(store, clock, always(stranger_for_a_moment), frames=30)
    gate.run()
    [(when, decision, _)] = gate.decisions
    assert not decision.granted and "unknown_face" in decision.reason_codes
    assert when == pytest.approx(START + 0.5 + 1.0 + FRAME_S)  # when the visit ended, not 3 s after it began


def test_a_resident_seen_again_on_a_new_track_shares_the_waiting_opening(store, clock):
    # the new track comes after the first result has left the screen (3 s), within the passage timeout (5 s)
    gate = Harness(store, clock, always(lambda now: face(track=1 if now < START + 3.5 else 2)), frames=36)
    gate.run()
    assert [d.granted for _, d, _ in gate.decisions] == [True]  # the second is not applied
    first, second = gate.events(EventKind.decision)
    assert second["same_opening_as"] == first["event_id"] and second["granted"]
    assert gate.relay.pulses() == [pytest.approx(START + FRAME_S)] and gate.gate.stats.decisions == 2
    assert gate.gate.prompt.code == "welcome"  # the screen answers the new visit too


def test_a_refusal_while_the_residents_opening_waits_is_a_refusal_of_its_own(store, clock):
    def then_with_a_fever(now: float, context: FrameContext) -> None:
        context.face = face(track=1 if now < START + 1.0 else 2)
        context.thermal = reading(36.6 if now < START + 1.0 else 39.5)

    gate = Harness(store, clock, then_with_a_fever, frames=20, checks={"qr": {"mode": "off"}})
    gate.run()
    assert [(d.granted, d.resident_id, pulsed) for _, d, pulsed in gate.decisions] == [(True, 1, True),
                                                                                      (False, 1, False)]
    assert [e["same_opening_as"] for e in gate.events(EventKind.decision)] == [None, None]


def test_another_resident_on_a_new_track_gets_an_opening_of_their_own(store, clock):
    gate = Harness(store, clock, always(lambda now: face(track=1, resident=1) if now < START + 1.0
                                         else face(track=2, resident=2)), frames=20)
    gate.run()
    assert [(d.resident_id, pulsed) for _, d, pulsed in gate.decisions] == [(1, True), (2, True)]
    assert len(gate.relay.pulses()) == 2


def test_after_the_opening_is_passed_or_over_the_same_resident_opens_again(store, clock):
    gate = Harness(store, clock, always(lambda now: face(track=1 if now < START + 6.0 else 2)), frames=70)
    gate.run()  # passage_timeout_s is 5: the first opening is closed when track 2 comes
    assert [pulsed for _, _, pulsed in gate.decisions] == [True, True]


def test_a_pass_used_at_the_gate_is_counted_and_told_to_the_site(store, clock):
    store.remember_pass(PassClaims("p-1", "site-key", "demo-site", ("*",), START - 60, START + 3600, 3, "plumber",
                                   "visitor"), token="token")

    def shows_a_pass(now: float, context: FrameContext) -> None:
        if now <= START + FRAME_S:
            context.codes = [a_pass_code()]

    gate = Harness(store, clock, shows_a_pass, frames=5, checks={"temperature": {"mode": "off"}})  # a pass for a face
    told: list = []
    gate.gate.on_pass_used = told.append
    gate.run()
    [(_, decision, pulsed)] = gate.decisions
    assert decision.granted and decision.pass_id == "p-1" and pulsed
    assert store.own_uses_of("p-1") == 1 and told == ["p-1"]
    assert gate.gate.turnstile.opening_for(("pass", "p-1")) == gate.events(EventKind.decision)[0]["event_id"]


def test_a_decision_that_cannot_be_recorded_is_not_applied(store, clock, caplog):
    gate = Harness(store, clock, always(lambda now: face()), frames=3)
    gate.gate.start()
    store.close()  # the database gone: nothing can be recorded
    gate.gate.step()
    [(_, decision, pulsed)] = gate.decisions
    assert decision.granted and not pulsed and gate.relay.pulses() == []
    assert "storage" in gate.gate.faults
    assert gate.gate.open_now(DecisionSource.guard, "guard-1", "delivery") == "not_recorded"
    assert gate.relay.pulses() == []
    said = [m for m in caplog.messages if m.startswith("state database unusable")]
    assert len(said) == 1  # the same fault, said once however often it is met


def test_a_manual_open_is_recorded_and_pulses(store, clock):
    gate = Harness(store, clock, always(lambda now: None), frames=3)
    gate.gate.start()
    assert gate.gate.open_now(DecisionSource.guard, "guard-1", "delivery") is None
    [event] = gate.events(EventKind.decision)
    assert event["granted"] and event["actor"] == "guard-1" and event["reasons"] == ["manual open: delivery"]
    assert len(gate.relay.pulses()) == 1 and gate.decisions[0][2]


def test_a_manual_open_with_the_relay_unplugged_says_so(store, clock):
    gate = Harness(store, clock, always(lambda now: None), frames=3)
    gate.gate.start()
    gate.relay.unplugged = True
    assert gate.gate.open_now(DecisionSource.guard, "guard-1", "delivery") == "relay_failed"
    assert [pulsed for _, _, pulsed in gate.decisions] == [False]
    assert gate.events(EventKind.decision)[0]["granted"]  # recorded: the guard asked


def test_a_silent_camera_is_a_fault_after_two_seconds_and_clears_with_the_next_frame(store, clock):
    gate = Harness(store, clock, always(lambda now: None), frames=60)
    gate.camera.dark = lambda now: START + 1.0 < now <= START + 4.0
    seen: list[bool] = []
    gate.gate.start()
    for _ in gate.steps():
        seen.append("camera" in gate.gate.faults)
    silent_since = START + 1.0  # the last frame; seen[i] is of the frame at START + (i + 1) * FRAME_S
    first_fault = round((silent_since + CAMERA_FAULT_AFTER_S - START) / FRAME_S)  # the first frame time past 2 s
    back = round((START + 4.0 - START) / FRAME_S)  # the first frame after the silence
    assert seen[:first_fault] == [False] * first_fault and seen[first_fault:back] == [True] * (back - first_fault)
    assert not any(seen[back:])
    [alarm] = gate.alarms("camera")
    assert alarm["alarm"] == "device_fault" and alarm["detail"] == "camera: no frames (stream down or unplugged)"
    assert [e["state"] for e in gate.events(EventKind.status) if e.get("device") == "camera"] == ["recovered"]


class PlainStage:
    """A stage with nothing but a name and `process`: no fault of its own to report."""

    name = "face"

    def __init__(self, clock: Clock) -> None:
        self.clock = clock

    def process(self, context: FrameContext) -> None:
        if START + 0.5 < self.clock.now <= START + 1.5:
            raise ValueError("bad tensor")


def test_a_stage_that_raises_is_a_fault_of_that_stage_until_it_works_again(store, clock):
    gate = Harness(store, clock, always(lambda now: None), frames=30)
    gate.gate.stages = [PlainStage(clock)]
    gate.run()
    [alarm] = gate.alarms("face")
    assert alarm["detail"] == "face: ValueError: bad tensor"
    assert "face" not in gate.gate.faults
    assert [e["state"] for e in gate.events(EventKind.status) if e.get("device") == "face"] == ["recovered"]


def test_a_stage_that_reports_a_fault_holds_it_until_it_clears(store, clock):
    gate = Harness(store, clock, always(lambda now: None), frames=30)
    gate.gate.start()
    gate.stage.fault = "face: model missing"
    gate.gate.step()
    assert gate.gate.faults.get("face") == "face: model missing"
    gate.stage.fault = None
    gate.gate.step()
    assert "face" not in gate.gate.faults


def test_devices_that_failed_to_open_are_faults_from_the_start(store, clock):
    gate = Harness(store, clock, always(lambda now: None), faults={"thermal": "thermal: /dev/i2c-1 missing"})
    assert gate.gate.faults.get("thermal") == "thermal: /dev/i2c-1 missing"


def test_an_unplugged_passage_sensor_is_a_fault(store, clock):
    passage = ScriptedPassage(clock)
    passage.unplugged = lambda now: now <= START + 0.5
    gate = Harness(store, clock, always(lambda now: None), frames=10, passage=passage)
    gate.gate.start()
    gate.gate.step()
    assert gate.gate.faults.get("passage") == "passage sensor: unplugged"
    for _ in gate.steps():
        pass
    assert "passage" not in gate.gate.faults


def test_calls_from_other_threads_run_between_frames_with_their_result_or_error(store, clock):
    gate = Harness(store, clock, always(lambda now: None), frames=5)
    ran = gate.gate.call_soon(lambda: 42)
    failed = gate.gate.call_soon(lambda: 1 / 0)
    cancelled = gate.gate.call_soon(lambda: pytest.fail("a cancelled call must not run"))
    assert cancelled.cancel()
    assert not ran.done()
    gate.gate.step()
    assert ran.result(timeout=0) == 42
    assert isinstance(failed.exception(timeout=0), ZeroDivisionError)


def test_a_held_prompt_shows_for_its_time_then_the_visit_speaks_again(store, clock):
    gate = Harness(store, clock, always(lambda now: None), frames=30)
    heard: list[str] = []
    gate.gate.prompt_listeners.append(lambda prompt: heard.append(prompt.code))
    gate.gate.step()
    assert gate.gate.prompt.code == "idle" and heard == []  # no change, nothing said
    gate.gate.hold_prompt("turn_slightly", 1.0)
    until = clock.now + 1.0
    for _ in range(round((until - clock.now) / FRAME_S) - 1):
        gate.gate.step()
        assert gate.gate.prompt.code == "turn_slightly"
    gate.gate.step()
    assert clock.now == until and gate.gate.prompt.code == "idle" and heard == ["turn_slightly", "idle"]
    gate.gate.step()
    assert gate.gate.prompt.code == "idle" and heard == ["turn_slightly", "idle"]  # released for good


def test_a_listener_that_fails_never_stops_the_gate(store, clock):
    gate = Harness(store, clock, always(lambda now: face()), frames=5)

    def broken(*args) -> None:
        raise RuntimeError("screen gone")

    for listeners in (gate.gate.listeners, gate.gate.frame_listeners, gate.gate.decided_listeners,
                      gate.gate.prompt_listeners, gate.gate.ended_listeners):
        listeners.append(broken)
    gate.run()
    assert gate.decisions[0][2] and len(gate.events(EventKind.decision)) == 1


def test_alarms_go_to_the_alarm_topic_and_events_to_the_event_topic(store, clock):
    gate = Harness(store, clock, always(lambda now: None), site={"site_id": "s", "gate_id": "g"})
    gate.gate.record(EventKind.alarm, {"alarm": "tailgate"})
    gate.gate.record(EventKind.status, {"state": "x"})
    assert [item.topic for item in store.outbox_pending(10)] == ["gatepost/s/g/alarm", "gatepost/s/g/event"]
    assert [(e["site"], e["gate"]) for e in store.events()] == [("s", "g")] * 2


def test_the_loop_stops_the_turnstile_even_when_a_frame_raises(store, clock):
    def dies_after_the_grant(now: float, context: FrameContext) -> None:
        context.face = face()
        if now > START + FRAME_S:
            raise SystemExit("the loop dies")  # not an Exception: no stage guard holds it

    gate = Harness(store, clock, dies_after_the_grant, frames=10)
    with pytest.raises(SystemExit):
        gate.run()
    assert [e["state"] for e in gate.events(EventKind.status)] == ["started", "stopped"]
    assert gate.relay.history[-1].on is False and gate.relay.closed


def test_a_full_database_on_a_score_is_a_fault_without_breaking_the_loop(store, clock, caplog):
    gate = Harness(store, clock, always(lambda now: face()), frames=3)

    def full(*args, **kwargs) -> None:
        raise StorageError("database or disk is full")

    store.add_visit_score = full  # type: ignore[method-assign]
    gate.run()
    assert gate.decisions[0][2]  # the decision was recorded: the score is not a record of its own
    assert "state database unusable, gate held closed: database or disk is full" in caplog.messages
    assert gate.gate.faults.get("storage") is None  # recording the stop cleared it again


def test_a_visit_read_live_teaches_the_thermal_stage_its_sharpest_reading(store, clock):
    def live_resident(now: float, context: FrameContext) -> None:
        context.face = face() if now <= START + 1.0 else None
        context.thermal = reading() if now <= START + 1.0 else None

    gate = Harness(store, clock, live_resident, frames=40, checks={"qr": {"mode": "off"}})
    gate.run()
    [(_, decision, _)] = gate.decisions
    assert decision.checks["temperature"]["code"] == "temperature_normal"
    assert gate.stage.learned == [reading()]


def test_a_visit_without_a_temperature_teaches_nothing(store, clock):
    gate = Harness(store, clock, always(lambda now: face() if now <= START + 1.0 else None), frames=40)
    gate.run()
    assert gate.decisions and gate.stage.learned == []


def test_a_camera_that_sends_nothing_keeps_the_loop_going_and_runs_the_calls(store, clock):
    gate = Harness(store, clock, always(lambda now: None))
    gate.gate.hardware.camera = camera = SilentCamera(clock)
    gate.gate.start()
    answer = gate.gate.call_soon(lambda: "done")
    for _ in range(round(CAMERA_FAULT_AFTER_S / FRAME_S)):
        assert gate.gate.step() is True and "camera" not in gate.gate.faults
    assert answer.result(timeout=0) == "done"
    assert gate.gate.step() is True and "camera" in gate.gate.faults  # over 2 s since the gate started
    assert max(camera.waits) <= 0.5  # the loop comes round at least twice a second: calls, the pulse's end, systemd


def test_systemd_hears_ready_with_the_gate_and_stopping(store, clock, tmp_path):
    import socket

    from edge.sdnotify import Notifier

    address = str(tmp_path / "notify")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind(address)
    listener.setblocking(False)
    try:
        gate = Harness(store, clock, always(lambda now: None), frames=1, site={"site_id": "s", "gate_id": "g-7"})
        gate.gate.notifier = Notifier(address)
        gate.run()
        heard = []
        while True:  # a datagram socket: what was sent is there, in order, when run() returns
            try:
                heard.append(listener.recv(256).decode())
            except BlockingIOError:
                break
    finally:
        listener.close()
    assert heard[0] == "READY=1\nSTATUS=gate g-7 running" and heard[-1] == "STOPPING=1"
    assert gate.events(EventKind.status)[0]["stages"] == ["face"]


def test_every_recorded_event_wakes_the_senders_and_reaches_the_listeners_with_its_webhooks(store, clock):
    gate = Harness(store, clock, always(lambda now: None))
    woken: list[int] = []
    heard: list = []
    gate.gate.after_record.append(lambda: woken.append(1))
    gate.gate.listeners.append(heard.append)
    gate.gate.webhooks_for = lambda event: ("hook-1",) if event.kind is EventKind.alarm else ()
    event = gate.gate.record(EventKind.alarm, {"alarm": "tailgate"})
    gate.gate.record(EventKind.status, {"state": "x"})
    assert len(woken) == 2 and [e.kind for e in heard] == [EventKind.alarm, EventKind.status]
    assert [event_id for _, event_id, _ in store.webhook_batch("hook-1", 10)] == [event.event_id]


def test_a_new_configuration_changes_the_window_the_presence_and_the_turnstile(store, clock):
    from edge.config import parse_config

    gate = Harness(store, clock, always(lambda now: face(resident=None)), frames=30)
    config = parse_config({"mqtt": {"enabled": False}, "ui": {"enabled": False}, "checks": CHECKS_FACE_ONLY,
                           "pipeline": {"decision_window_s": 1.0, "presence": {"enabled": False, "hold_s": 9.0}},
                           "turnstile": {"pulse_ms": 900}})
    gate.gate.apply_config(config)
    gate.run()
    [(when, decision, _)] = gate.decisions
    assert when == pytest.approx(START + FRAME_S + 1.0) and not decision.granted
    assert gate.gate.config is config and gate.gate.turnstile.config.pulse_ms == 900
    assert gate.gate.presence.config.hold_s == 9.0


def test_a_stage_that_rests_when_nobody_is_near_runs_while_presence_is_off(store, clock):
    gate = Harness(store, clock, always(lambda now: None), frames=5)
    ran: list[float] = []
    gate.stage.script = lambda now, context: ran.append(now)
    gate.stage.rests_when_quiet = True  # type: ignore[attr-defined]
    gate.run()
    assert len(ran) == 5


def test_the_loops_figures_keep_each_stages_time_but_not_its_parts(store, clock):
    def with_parts(now: float, context: FrameContext) -> None:
        context.face = face()
        context.stage_ms["face.detect"] = 1.0

    gate = Harness(store, clock, with_parts, frames=4)
    frames: list = []
    gate.gate.frame_listeners.append(lambda image, context, visit: frames.append((image.shape, visit)))
    gate.run()
    assert set(gate.gate.stats.stage_ms) == {"presence", "face"} and len(gate.gate.stats.stage_ms["face"]) == 4
    assert len(gate.gate.stats.decision_ms) == 1
    assert frames[0] == ((48, 64, 3), None) and frames[1][1] is not None  # the visit as it stood before the frame
    assert set(gate.decisions[0][1].stage_ms) == {"presence", "face"}


def test_a_visit_keeps_its_first_track_until_decided_and_follows_a_new_one(store, clock):
    def stranger_changing_tracks(now: float) -> FaceResult:
        return face(track=1 if now < START + 1.0 else 2, resident=None)

    gate = Harness(store, clock, always(stranger_changing_tracks), frames=40)
    decided: list = []
    gate.gate.decided_listeners.append(lambda visit, decision: decided.append(visit))
    gate.run()
    [visit] = decided  # one visit, one refusal: a tracker's new id is not a new person before the decision
    assert visit.track_id == 2 and visit.embedding is not None and visit.match.resident_id is None


def test_a_face_too_poor_to_judge_keeps_an_open_visit_alive(store, clock):
    def then_poor(now: float) -> FaceResult | None:
        if now <= START + 0.5:
            return face()
        return face(quality=POOR) if now <= START + 3.0 else None

    gate = Harness(store, clock, always(then_poor), frames=40)
    ended: list[float] = []
    gate.gate.ended_listeners.append(lambda visit: ended.append(clock.now))
    gate.run()
    assert ended == [pytest.approx(START + 3.0 + 1.0 + FRAME_S)]  # a second after the last face of any quality


def test_codes_shown_after_the_decision_are_not_added_to_it(store, clock):
    def pass_then_more(now: float, context: FrameContext) -> None:
        context.codes = [a_pass_code(f"p-{round(now / FRAME_S)}")]

    gate = Harness(store, clock, pass_then_more, frames=3, checks={"temperature": {"mode": "off"}})
    decided: list = []
    gate.gate.decided_listeners.append(lambda visit, decision: decided.append(visit))
    gate.run()
    [visit] = decided
    assert [code.pass_id for code in visit.codes] == [f"p-{round((START + FRAME_S) / FRAME_S)}"]


def test_the_opening_waits_for_the_person_it_admits(store, clock):
    gate = Harness(store, clock, always(lambda now: face(resident=7)), frames=2)
    gate.run()
    event = gate.events(EventKind.decision)[0]
    assert gate.gate.turnstile.opening_for(("resident", 7)) == event["event_id"]
    assert gate.gate.turnstile.opening_for(("resident", 8)) is None


def alice(store: Store) -> int:
    return store.add_resident("Alice", "1A", [np.ones(128, np.float32)], [1.0], ["photo"])


def test_a_passage_after_the_opening_is_recorded_and_noted_for_passback(store, clock):
    assert alice(store) == 1
    passage = ScriptedPassage(clock, {START + 0.5: "in"})
    gate = Harness(store, clock, always(lambda now: face() if now <= START + 0.25 else None), frames=20,
                   passage=passage, site={"direction": "both"},
                   checks={**CHECKS_FACE_ONLY, "antipassback": {"mode": "hard"}})
    gate.run()
    [passed] = gate.events(EventKind.passage)
    assert passed["passed"] and passed["decision_id"] == gate.events(EventKind.decision)[0]["event_id"]
    assert [m.direction for m in store.movements_at("gate-1", since=0, limit=10)] == ["in"]  # the sensor's way


def test_a_resident_who_went_in_is_refused_in_again_by_a_hard_passback(store, clock):
    assert alice(store) == 1
    gate = Harness(store, clock, always(lambda now: face(track=1 if now < START + 6.0 else 2)), frames=70,
                   site={"direction": "entry"}, checks={**CHECKS_FACE_ONLY, "antipassback": {"mode": "hard"}})
    gate.run()
    assert [(d.granted, pulsed) for _, d, pulsed in gate.decisions] == [(True, True), (False, False)]
    assert "passback" in gate.decisions[1][1].reason_codes


def test_a_visitor_whose_visit_has_ended_is_removed_and_recorded(store, clock):
    import time

    rid = store.add_resident("Bob", "visitor", [np.ones(128, np.float32)], [1.0], ["photo"],
                             valid_until=time.time() - 1)
    gate = Harness(store, clock, always(lambda now: None), frames=2)
    gate.run()
    [action] = [e for e in gate.events(EventKind.action) if e.get("action") == "visitor_expired"]
    assert (action["resident_id"], action["name"]) == (rid, "Bob")


def test_the_screen_says_welcome_after_a_grant_and_asks_for_a_code_when_one_is_needed(store, clock):
    gate = Harness(store, clock, always(lambda now: face()), frames=2)
    gate.run()
    assert gate.gate.prompt.code == "welcome"
    clock2 = Clock()
    needs_code = Harness(store, clock2, always(lambda now: face()), frames=2,
                         checks={"temperature": {"mode": "off"}, "qr": {"mode": "required"}})
    needs_code.run()
    assert needs_code.gate.prompt.code == "show_code" and needs_code.gate.prompt.guide
    assert not gate.gate.prompt.guide


def test_a_feverish_person_who_left_and_came_back_raises_a_new_alarm(store, clock):
    def fever_twice(now: float, context: FrameContext) -> None:
        here = now < START + 1.0 or START + 3.0 <= now < START + 4.0  # gone for 2 s between: longer than leave_after
        context.face = face(track=1 if now < START + 2.0 else 2) if here else None
        context.thermal = reading(39.5) if here else None

    gate = Harness(store, clock, fever_twice, frames=50, checks={"qr": {"mode": "off"}})
    gate.run()
    assert [d.granted for _, d, _ in gate.decisions] == [False, False]
    assert [a["alarm"] for a in gate.events(EventKind.alarm)] == ["fever", "fever"]


def test_a_feverish_person_who_stays_is_alarmed_once(store, clock):
    def fever_on_two_tracks(now: float, context: FrameContext) -> None:
        context.face = face(track=1 if now < START + 2.0 else 2)
        context.thermal = reading(39.5)

    gate = Harness(store, clock, fever_on_two_tracks, frames=40, checks={"qr": {"mode": "off"}})
    gate.run()
    assert [d.granted for _, d, _ in gate.decisions] == [False, False]
    assert [a["alarm"] for a in gate.events(EventKind.alarm)] == ["fever"]


def test_the_sharpest_reading_after_the_decision_is_the_one_learned(store, clock):
    sharper = ThermalReading(True, 36.9, 0.05, live=True, flags=["canthus"], systematic_c=0.05)

    def nearer_after_the_decision(now: float, context: FrameContext) -> None:
        context.face = face() if now <= START + 1.5 else None
        if now <= START + 1.5:
            context.thermal = reading() if now <= START + 1.0 else sharper

    gate = Harness(store, clock, nearer_after_the_decision, frames=40, checks={"qr": {"mode": "off"}})
    gate.run()
    assert gate.decisions[0][0] < START + 1.0 and gate.stage.learned == [sharper]


def test_while_nobody_is_near_a_resting_stage_runs_once_a_second(store, clock):
    ran: list[float] = []
    gate = Harness(store, clock, lambda now, context: ran.append(now), frames=40,
                   pipeline={"presence": {"enabled": True, "hold_s": 2.0, "still_check_s": 1.0}})
    gate.stage.rests_when_quiet = True  # type: ignore[attr-defined]
    gate.run()
    assert ran == [START + FRAME_S + n for n in range(5)]  # a still frame looked at each second


def test_an_open_visit_keeps_the_resting_stages_running_on_every_frame(store, clock):
    ran: list[float] = []

    def an_unknown_code_once(now: float, context: FrameContext) -> None:
        ran.append(now)
        if now == START + FRAME_S:
            context.codes = [QrResult("x", "scanner", "invalid", "bad signature", kind="pass")]

    gate = Harness(store, clock, an_unknown_code_once, frames=64, checks={"temperature": {"mode": "off"}},
                   pipeline={"presence": {"enabled": True, "hold_s": 2.0, "still_check_s": 1.0}})
    gate.stage.rests_when_quiet = True  # type: ignore[attr-defined]
    gate.run()
    [(decided_at, decision, _)] = gate.decisions
    assert not decision.granted and decided_at == START + FRAME_S + 1.0 + FRAME_S  # no face: it ends after 1 s
    awake_until = decided_at + 2.0  # busy while open (its last frame included), then hold_s more
    every_frame = [START + FRAME_S * n for n in range(1, round((awake_until - START) / FRAME_S) + 1)]
    assert ran[:len(every_frame)] == every_frame  # no frame skipped while the visit is open, and hold_s after
    assert ran[len(every_frame):] == [awake_until + n for n in (1.0, 2.0, 3.0, 4.0)]  # then once a second again


def test_a_stage_that_does_not_rest_runs_on_every_frame_beside_one_that_does(store, clock):
    resting: list[float] = []
    gate = Harness(store, clock, lambda now, context: resting.append(now), frames=40,
                   pipeline={"presence": {"enabled": True, "hold_s": 2.0, "still_check_s": 1.0}})
    gate.stage.rests_when_quiet = True  # type: ignore[attr-defined]
    always_on = ScriptedStage(lambda now, context: None, name="qr")  # has no `rests_when_quiet`
    ran: list[float] = []
    always_on.script = lambda now, context: ran.append(now)
    gate.gate.stages = [gate.stage, always_on]
    gate.run()
    assert len(resting) == 5 and len(ran) == 40


def test_each_stages_time_is_measured_in_milliseconds(store, clock):
    import time

    gate = Harness(store, clock, lambda now, context: time.sleep(0.03), frames=3)  # a stage that takes 30 ms
    gate.run()
    assert all(30.0 <= ms < 1000.0 for ms in gate.gate.stats.stage_ms["face"])
    assert all(0.0 <= ms < 30.0 for ms in gate.gate.stats.stage_ms["presence"])


def test_without_a_notifier_the_gate_tells_systemd_nothing(store, clock, tmp_path, monkeypatch, caplog):
    import socket

    address = str(tmp_path / "notify")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind(address)
    listener.setblocking(False)
    monkeypatch.setenv("NOTIFY_SOCKET", address)  # what a unit file's Type=notify sets: for the daemon, not a Gate
    try:
        Harness(store, clock, always(lambda now: None), frames=2).run()
        with pytest.raises(BlockingIOError):
            listener.recv(256)
    finally:
        listener.close()
    assert not [m for m in caplog.messages if "sd_notify" in m]


def test_a_resident_who_goes_in_twice_at_a_gate_of_both_ways_raises_a_passback_alarm(store, clock):
    assert alice(store) == 1
    passage = ScriptedPassage(clock, {START + 0.5: "in", START + 6.5: "in"})
    gate = Harness(store, clock, always(lambda now: face(track=1 if now < START + 6.0 else 2)), frames=60,
                   passage=passage, site={"direction": "both"},
                   checks={**CHECKS_FACE_ONLY, "antipassback": {"mode": "soft"}})
    gate.run()
    [alarm] = [a for a in gate.events(EventKind.alarm) if a["alarm"] == "passback"]
    assert (alarm["way"], alarm["resident_id"], alarm["granted"]) == ("in", 1, True)


def test_an_access_group_the_site_keeps_from_this_gate_is_not_admitted_here(store, clock):
    every_day = {day: ["00:00-24:00"] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
    assert store.apply_group_record("staff", 1, {"gates": ["gate-2"], "weekly": every_day})  # the site: gate-2 only
    gate = Harness(store, clock, always(lambda now: face(group="staff")), frames=4,
                   checks={**CHECKS_FACE_ONLY, "schedule": {"mode": "required", "groups": {"staff": {
                       "weekly": every_day}}}})  # this file's own word would let them in
    gate.run()
    [(_, decision, pulsed)] = gate.decisions
    assert not decision.granted and not pulsed and decision.checks["schedule"]["status"] == "fail"


def test_the_screen_starts_idle_from_the_gates_start(store, clock):
    gate = Harness(store, clock, always(lambda now: None))
    assert (gate.gate.prompt.code, gate.gate.prompt.since) == ("idle", START)
