"""The daemon as systemd runs it: READY and WATCHDOG over NOTIFY_SOCKET, local open, relay off on stop."""

import os
import signal
import socket
import subprocess
import sys

import yaml

from edge.store import Store
from tests.conftest import ROOT, SCENARIOS
from tests.emulators import LcusBoard, wait_for


def test_daemon_notifies_systemd_opens_on_request_and_locks_on_stop(tmp_path):
    board = LcusBoard(channels=1)
    notify_path = tmp_path / "notify.sock"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind(str(notify_path))
    listener.settimeout(60)
    state = tmp_path / "state"
    config = {
        "state_dir": str(state),
        "hardware": {"relay": {"driver": "lcus", "port": board.port, "channel": 1}},
        "simulation": {"scenario": str(SCENARIOS / "residents_only.yaml"), "realtime": True, "loop": True},
        "ui": {"enabled": False},
    }
    config_path = tmp_path / "gate.yaml"
    config_path.write_text(yaml.safe_dump(config))
    env = dict(os.environ, NOTIFY_SOCKET=str(notify_path))
    daemon = subprocess.Popen([sys.executable, "-m", "edge.cli", "-c", str(config_path), "run"], cwd=ROOT, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        messages = []
        while not any(m.startswith("WATCHDOG=1") for m in messages):
            messages.append(listener.recv(4096).decode())
        assert messages[0].startswith("READY=1")
        assert board.log.states[:1] == [(1, False)]  # forced off at start
        # the scenario's first resident walks up and is let in: the board sees a pulse
        assert wait_for(lambda: (1, True) in board.log.states, timeout=60)
        pulses_before = board.log.states.count((1, True))
        opened = subprocess.run([sys.executable, "-m", "edge.cli", "-c", str(config_path), "open",
                                 "--reason", "delivery", "--actor", "guard-7"], cwd=ROOT, capture_output=True, text=True)
        assert opened.returncode == 0, opened.stderr
        assert wait_for(lambda: board.log.states.count((1, True)) > pulses_before, timeout=10)
        refused = subprocess.run([sys.executable, "-m", "edge.cli", "-c", str(config_path), "open", "--reason", " "],
                                 cwd=ROOT, capture_output=True, text=True)
        assert refused.returncode == 1 and "reason" in refused.stderr
    finally:
        daemon.send_signal(signal.SIGTERM)
        output = daemon.communicate(timeout=30)[0]
        listener.close()
    assert daemon.returncode == 0, output
    assert board.log.states[-1] == (1, False)  # locked on stop
    assert board.log.errors == []
    board.close()
    with Store(state) as store:
        decisions = store.events(kind="decision")
        assert any(d["source"] == "cli" and d["actor"] == "guard-7" for d in decisions)
        assert any(d["source"] == "pipeline" and d["granted"] for d in decisions)
        assert store.events(kind="status")[-1]["state"] == "stopped"


def test_relay_off_command_drives_a_real_board_off(tmp_path):
    board = LcusBoard(channels=1)
    try:
        config_path = tmp_path / "gate.yaml"
        config_path.write_text(yaml.safe_dump({"hardware": {"relay": {"driver": "lcus", "port": board.port}}}))
        result = subprocess.run([sys.executable, "-m", "edge.cli", "-c", str(config_path), "relay-off"],
                                cwd=ROOT, capture_output=True, text=True)
        assert result.returncode == 0, result.stderr
        assert wait_for(lambda: board.log.states == [(1, False)])
    finally:
        board.close()


def test_unplugged_relay_at_start_keeps_the_gate_running_and_locked(tmp_path):
    from edge.app import Runtime
    from edge.config import parse_config

    config = parse_config({"state_dir": str(tmp_path), "hardware": {"relay": {"driver": "lcus", "port": "/dev/ttyUSB-gone"}},
                           "simulation": {"scenario": str(SCENARIOS / "residents_only.yaml"), "realtime": False,
                                          "loop": False}, "ui": {"enabled": False}})
    runtime = Runtime(config, control=False)
    try:
        runtime.run(lambda: False)
        assert "relay" in runtime.gate.faults
        decisions = runtime.store.events(kind="decision")
        assert any(d["granted"] for d in decisions)
        assert runtime.hardware.world.relay.pulses() == []  # granted, yet nobody was let through
        alarms = runtime.store.events(kind="alarm")
        assert any(a["alarm"] == "device_fault" and "/dev/ttyUSB-gone" in a["detail"] for a in alarms)
    finally:
        runtime.close()
