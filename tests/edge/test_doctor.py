"""`gatepost doctor` opens what it checks (devices, models, broker, port, state folder, clock), says ok, warn or
fail with the fix, and never crashes on a part that is missing."""

import socket
import subprocess
import sys
from pathlib import Path

from edge.config import parse_config
from edge.doctor import Level, run_doctor

ROOT = Path(__file__).resolve().parents[2]


def quiet(tmp_path, **sections) -> dict:
    """A simulated gate whose broker and touchscreen are checked only where a test says so."""
    return {"state_dir": str(tmp_path / "state"), "mqtt": {"enabled": False}, "ui": {"enabled": False}, **sections}


def levels(checks) -> dict[str, Level]:
    return {check.label: check.level for check in checks}


def test_the_simulated_gate_is_healthy(tmp_path):
    checks = run_doctor(parse_config(quiet(tmp_path)))
    # the clock is this machine's own, simulated gate or not: a container here is often not synchronised by NTP
    from edge.clock import ntp_synchronised

    found = levels(checks)
    assert found.pop("clock") == (Level.warn if ntp_synchronised() is False else Level.ok)
    assert found.pop("state folder") == Level.warn  # not made yet: the first run makes it
    assert set(found.values()) == {Level.ok}, [c.line() for c in checks]
    assert any("sha256 verified" in check.detail for check in checks)


def test_a_missing_port_fails_its_own_line_only_and_says_the_fix(tmp_path):
    config = parse_config(quiet(tmp_path, hardware={"relay": {"driver": "lcus", "port": str(tmp_path / "ttyUSB9")}}))
    failed = [check for check in run_doctor(config) if check.level is Level.fail]
    assert [check.label for check in failed] == ["relay"]
    assert "ttyUSB9" in failed[0].detail and "dialout" in failed[0].line()


def test_a_gpio_sensor_that_does_not_exist_fails(tmp_path):
    config = parse_config(quiet(tmp_path, hardware={"passage": {"driver": "gpio", "gpio_chip": "/dev/gpiochip77",
                                                                "gpio_line": 4}}))
    [check] = [check for check in run_doctor(config) if check.label == "passage sensor"]
    assert check.level is Level.fail and "gpiochip77" in check.detail


def test_the_broker_is_connected_to_and_an_absent_one_fails(tmp_path, broker):
    config = parse_config(quiet(tmp_path, mqtt={"enabled": True, "host": "127.0.0.1", "port": broker.port}))
    [check] = [check for check in run_doctor(config) if check.label == "broker"]
    assert check.level is Level.ok and "subscribed to gatepost/" in check.detail
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        nobody = free.getsockname()[1]
    config = parse_config(quiet(tmp_path, mqtt={"enabled": True, "host": "127.0.0.1", "port": nobody}))
    [check] = [check for check in run_doctor(config) if check.label == "broker"]
    assert check.level is Level.fail and "unreachable" in check.detail and "mosquitto" in check.fix


def test_a_taken_touchscreen_port_fails(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        config = parse_config(quiet(tmp_path, ui={"enabled": True, "port": taken.getsockname()[1]}))
        [check] = [check for check in run_doctor(config) if check.label == "touchscreen port"]
    assert check.level is Level.fail and "taken by another program" in check.detail


def test_a_gate_without_a_thermal_camera_says_nothing_checks_liveness(tmp_path):
    config = parse_config(quiet(tmp_path, hardware={"thermal": {"driver": "none"}},
                                checks={"temperature": {"mode": "off"}}, pipeline={"stages": ["face", "qr"]}))
    [check] = [check for check in run_doctor(config) if check.label == "liveness"]
    assert check.level is Level.warn  # a warning, not a failure: some sites choose it
    assert "printed photo of a resident is let in" in check.detail


def test_the_exit_status_is_the_worst_check(tmp_path):
    config = tmp_path / "gate.yaml"
    config.write_text(f"state_dir: {tmp_path / 'state'}\nmqtt:\n  enabled: false\nui:\n  enabled: false\n"
                      f"hardware:\n  relay:\n    driver: lcus\n    port: {tmp_path / 'ttyUSB9'}\n")
    result = subprocess.run([sys.executable, "-m", "edge.cli", "-c", str(config), "doctor"], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 1 and "FAIL relay" in result.stdout
    assert f"config {config} (-c)" in result.stderr


def test_each_wired_input_is_read_and_named(tmp_path):
    io = {"driver": "sim", "inputs": {"fire_alarm": {"contact": "normally_closed"}, "tamper": {"line": 1}}}
    [check] = [check for check in run_doctor(parse_config(quiet(tmp_path, hardware={"io": io})))
               if check.label == "inputs and outputs"]
    # the twin rests as wired: the normally-closed loop closed, the tamper switch open
    assert check.level is Level.ok and check.detail == "fire_alarm clear, tamper clear"
