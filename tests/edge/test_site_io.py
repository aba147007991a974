"""The wired inputs: a fire alarm holds the lanes free within a poll and a debounce, with the frame loop stalled;
a cut wire on a normally-closed fire input is a fire; the lanes are released only after the hold; the door held
open, the tamper switch and the exit button act; the siren sounds for a bounded time."""

import threading
import time

import pytest

from drivers.io import SimIO
from edge.app import Runtime
from edge.config import parse_config
from edge.events import EventKind
from tests.conftest import SCENARIOS
from tests.emulators import wait_for
from tests.running import frame_loop

IO = {"driver": "sim", "fire_release_hold_s": 0.4, "door_held_open_s": 0.3, "siren_max_s": 0.4,
      "inputs": {"fire_alarm": {"contact": "normally_closed", "debounce_ms": 20},
                 "door_contact": {"contact": "normally_closed", "line": 1},
                 "exit_button": {"line": 2, "debounce_ms": 10}, "tamper": {"line": 3}},
      "outputs": {"siren": {"line": 4}}}


@pytest.fixture()
def gate(tmp_path):
    config = parse_config({"state_dir": str(tmp_path / "state"), "mqtt": {"enabled": False}, "ui": {"enabled": False},
                           "hardware": {"io": IO},
                           "simulation": {"scenario": str(SCENARIOS / "residents_only.yaml"), "realtime": True,
                                          "loop": True}})
    runtime = Runtime(config, control=False, ui=False)
    with frame_loop(runtime):
        assert wait_for(lambda: runtime.gate.stats.frames > 5, timeout=60)
        yield runtime


def alarms(runtime, kind: str) -> list[dict]:
    return [e for e in runtime.store.latest_events(200) if e["kind"] == "alarm" and e.get("alarm") == kind]


def test_a_cut_fire_wire_holds_the_lanes_free_with_the_loop_stalled_and_releases_after_the_hold(gate):
    io, relay = gate.site_io.io, gate.hardware.world.relay
    assert isinstance(io, SimIO) and not relay.state
    stalled = threading.Event()
    gate.gate.call_soon(lambda: (stalled.set(), time.sleep(3)))  # the frame loop stops for 3 s
    assert stalled.wait(10)
    cut = time.monotonic()
    io.close_contact("fire_alarm", False)  # the normally-closed loop opens: a fire, or a cut wire
    assert wait_for(lambda: relay.state, timeout=2)
    took = time.monotonic() - cut
    assert took < 0.5, took  # a 10 ms poll and a 20 ms debounce; the loop is still asleep
    assert gate.gate.turnstile.held_free and gate.site_io.fire
    status = gate.service.status()
    assert status.relay_open and status.inputs == {"active": {"fire_alarm": True, "door_contact": False,
                                                              "exit_button": False, "tamper": False},
                                                   "fire_held_free": True, "fault": None}
    assert wait_for(lambda: alarms(gate, "fire_alarm"), timeout=5)
    assert io.outputs["siren"]
    assert wait_for(lambda: not io.outputs["siren"], timeout=5)  # its limit, well past a pulse's end
    gate.gate.call_soon(lambda: None).result(timeout=10)  # the loop awake again, past the stall
    assert relay.state and gate.site_io.fire  # the lanes stay free
    io.close_contact("fire_alarm", True)
    cleared = time.monotonic()
    assert wait_for(lambda: not relay.state, timeout=5)
    assert time.monotonic() - cleared >= 0.4  # the hold after the input clears
    states = [e.get("state") for e in gate.store.latest_events(200) if e.get("device") == "fire_alarm"]
    assert "cleared" in states and "released" in states


def test_a_relay_board_plugged_in_during_a_fire_is_driven_free_with_no_frame_loop_at_all(tmp_path):
    """Regression: only the frame loop's tick reopened a relay board that had failed, so a board plugged in (or
    back) during a fire stayed unused, the lanes locked, for as long as the loop was stalled. Here there is no
    loop: the fire's thread, a real clock and a board on a pty."""
    import os

    from drivers.relay import LcusRelay
    from edge.hardware import open_io
    from edge.site_io import SiteIO
    from edge.turnstile import Turnstile
    from tests.emulators import LcusBoard

    port = tmp_path / "ttyRELAY"  # nothing there yet: the board is unplugged at start
    config = parse_config({"hardware": {"io": IO}})
    events: list[tuple[EventKind, dict]] = []
    turnstile = Turnstile(None, config.turnstile, clock=time.monotonic, emit=lambda kind, body: events.append((kind, body)),
                          relay_factory=lambda: LcusRelay(port=str(port), channel=1))
    io = open_io(config.hardware.io)
    assert isinstance(io, SimIO)
    site_io = SiteIO(io, config.hardware.io, hold_free=turnstile.hold_free, release_free=turnstile.release_free,
                     open_gate=lambda: None, record=lambda kind, body: None)
    board = LcusBoard(channels=1)
    site_io.start()
    try:
        io.close_contact("fire_alarm", False)
        assert wait_for(lambda: site_io.fire, timeout=2) and turnstile.relay_fault is not None
        os.symlink(board.port, port)  # plugged in
        plugged = time.monotonic()
        assert wait_for(lambda: (1, True) in board.log.states, timeout=5)
        assert time.monotonic() - plugged < 3.0  # within a step of the back-off (1 s here), not a restart away
        assert turnstile.healthy and turnstile.held_free and not board.log.errors
        assert events[-1] == (EventKind.status, {"device": "relay", "state": "recovered"})
    finally:
        site_io.stop()
        turnstile.stop()
        board.close()


def test_tamper_door_held_open_and_the_exit_button(gate):
    io = gate.site_io.io
    io.close_contact("tamper", True)
    assert wait_for(lambda: alarms(gate, "tamper"), timeout=5)
    io.close_contact("door_contact", False)  # the door opens and stays open
    assert wait_for(lambda: alarms(gate, "door_held_open"), timeout=5)
    assert len(alarms(gate, "door_held_open")) == 1  # once until it closes
    io.close_contact("exit_button", True)
    opened = lambda: [e for e in gate.store.latest_events(200)  # noqa: E731
                      if e["kind"] == EventKind.decision.value and e.get("source") == "exit_button"]
    assert wait_for(opened, timeout=5)
    assert opened()[0]["granted"] is True


def test_an_unreadable_board_is_one_fault_and_a_fire_in_force_stays(gate):
    io, relay = gate.site_io.io, gate.hardware.world.relay
    io.close_contact("fire_alarm", False)
    assert wait_for(lambda: relay.state, timeout=2)
    io.broken = True
    assert wait_for(lambda: [e for e in gate.store.latest_events(200) if e.get("device") == "io"], timeout=5)
    time.sleep(0.6)  # longer than the hold: an unreadable fire input does not release the lanes
    assert relay.state and gate.site_io.fire
    faults = [e for e in gate.store.latest_events(200) if e.get("alarm") == "device_fault" and e.get("device") == "io"]
    assert len(faults) == 1


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")  # the loop's death, on purpose
def test_on_the_relay_boards_own_input_a_fire_holds_the_lane_after_the_frame_loop_dies(tmp_path):
    """The fire panel wired to a discrete input of the Modbus relay board (one port for both); the frame loop is
    killed by an exception mid-fire: the relay stays on, the fire thread keeps reading the board."""
    from tests.emulators import ModbusBoard

    board = ModbusBoard(address=1, inputs=4)
    board.inputs[0] = True  # a normally-closed fire loop at rest
    config = parse_config({
        "state_dir": str(tmp_path / "state"), "mqtt": {"enabled": False}, "ui": {"enabled": False},
        "hardware": {"relay": {"driver": "modbus", "port": board.port, "modbus_address": 1},
                     "io": {"driver": "modbus", "port": board.port, "modbus_address": 1, "fire_release_hold_s": 0.2,
                            "inputs": {"fire_alarm": {"line": 0, "contact": "normally_closed", "debounce_ms": 20}}}},
        "simulation": {"scenario": str(SCENARIOS / "residents_only.yaml"), "realtime": True, "loop": True}})
    runtime = Runtime(config, control=False, ui=False)
    died = threading.Event()

    def dying_step():
        died.set()
        raise RuntimeError("the frame loop dies")

    loop = threading.Thread(target=lambda: runtime.run(lambda: False), daemon=True)
    try:
        loop.start()
        assert wait_for(lambda: runtime.gate.stats.frames > 5, timeout=60)
        board.inputs[0] = False  # the fire panel opens the loop
        assert wait_for(lambda: board.coils[0], timeout=2)
        runtime.gate.step = dying_step
        assert died.wait(10)
        loop.join(timeout=10)
        assert not loop.is_alive()  # the loop has ended: its stop() ran
        assert board.coils[0] and runtime.site_io.fire  # the lane is still free
        board.inputs[0] = True  # the fire clears; the board keeps answering the fire thread
        assert wait_for(lambda: not runtime.site_io.fire, timeout=5)
        assert not board.log.errors
    finally:
        runtime.close()
        board.close()
