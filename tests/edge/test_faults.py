"""The fault registry: one name per device, so what start-up raises, recovery clears."""

import os

from drivers.sim.scenario import load_scenario
from edge.app import Runtime
from edge.config import parse_config
from edge.events import EventKind
from edge.faults import Faults
from tests.conftest import SCENARIOS
from tests.emulators import LcusBoard


def test_set_and_clear_report_each_change_once():
    changes = []
    faults = Faults(on_change=lambda device, message: changes.append((device, message)))
    faults.set("relay", "unplugged")
    faults.set("relay", "unplugged")
    faults.set("relay", "still unplugged")
    faults.clear("relay")
    faults.clear("relay")
    faults.quietly("storage", "disk full")
    assert changes == [("relay", "unplugged"), ("relay", "still unplugged"), ("relay", None)]
    assert dict(faults) == {"storage": "disk full"} and "relay" not in faults


def test_a_relay_missing_at_start_is_cleared_when_it_answers(tmp_path):
    """Regression: the start-up fault was filed as "relay (LCUS serial)" and recovery cleared "relay",
    so telemetry said devices_ok=false until a restart."""
    port = tmp_path / "ttyRELAY"  # nothing there yet: the board is unplugged at start
    config = parse_config({"mqtt": {"enabled": False}, "ui": {"enabled": False},
                           "hardware": {"relay": {"driver": "lcus", "port": str(port)}}})
    runtime = Runtime(config, state_dir=tmp_path / "state", scenario=load_scenario(SCENARIOS / "residents_only.yaml"),
                      realtime=False, loop=True, control=False, ui=False)
    board = None
    try:
        assert list(runtime.gate.faults) == ["relay"]
        board = LcusBoard(channels=1)
        os.symlink(board.port, port)  # plugged in
        steps = []

        def recovered_or_given_up() -> bool:
            steps.append(1)
            return len(steps) > 400 or "relay" not in runtime.gate.faults

        runtime.run(recovered_or_given_up)
        assert "relay" not in runtime.gate.faults
        recovered = [e for e in runtime.store.events(kind=EventKind.status.value) if e.get("device") == "relay"]
        assert recovered and recovered[-1]["state"] == "recovered"
    finally:
        runtime.close()
        if board is not None:
            board.close()
