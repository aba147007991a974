"""The daemon as systemd runs it: READY and WATCHDOG over NOTIFY_SOCKET, local open, relay off on stop."""

import os
import signal
import socket
import subprocess
import sys

import yaml

from edge.store import Store
from tests.conftest import ROOT, SCENARIOS
from tests.emulators import LcusBoard, ModbusBoard, wait_for


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


def test_a_daemon_killed_mid_pulse_leaves_the_board_to_end_it(tmp_path):
    """`kill -9` while the relay was energised left it on until systemd's stop hook ran `relay-off` (4.6 s), and
    for ever without systemd. A Modbus board with a communication watchdog, armed at start, now ends the pulse by
    itself after `watchdog_s` of silence."""
    import time

    board = ModbusBoard(coils=1, watchdog_register=8)
    config = {
        "state_dir": str(tmp_path / "state"),
        "hardware": {"relay": {"driver": "modbus", "port": board.port, "channel": 1, "modbus_watchdog_register": 8,
                               "watchdog_s": 1}},
        "turnstile": {"pulse_ms": 1000},
        "simulation": {"scenario": str(SCENARIOS / "residents_only.yaml"), "realtime": True, "loop": True},
        "ui": {"enabled": False}, "mqtt": {"enabled": False},
    }
    config_path = tmp_path / "gate.yaml"
    config_path.write_text(yaml.safe_dump(config))
    daemon = subprocess.Popen([sys.executable, "-m", "edge.cli", "-c", str(config_path), "run"], cwd=ROOT,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert wait_for(lambda: board.registers.get(8) == 1, timeout=60)  # armed when the driver opened the board
        assert wait_for(lambda: (tmp_path / "state" / "control.sock").exists(), timeout=60)
        opened = subprocess.run([sys.executable, "-m", "edge.cli", "-c", str(config_path), "open",
                                 "--reason", "delivery"], cwd=ROOT, capture_output=True, text=True)
        assert opened.returncode == 0, opened.stderr
        daemon.kill()  # SIGKILL: no finally, no stop hook
        killed_at = time.monotonic()
        daemon.wait(timeout=10)
        was_on = board.coils[0] or board.watchdog_trips > 0
        assert was_on  # killed within the 1 s pulse
        assert wait_for(lambda: not board.coils[0], timeout=3)
        assert time.monotonic() - killed_at <= 1.6 and board.watchdog_trips == 1
    finally:
        if daemon.poll() is None:
            daemon.kill()
        daemon.communicate(timeout=30)
        board.close()
