"""Commands say which config and state they act on; without -c they find the running daemon, or refuse rather
than make a state folder of their own. Ctrl-C stops the daemon with a "stopping" line and exit status 130."""

import os
import signal
import subprocess
import sys

import pytest
import yaml

from tests.conftest import ROOT, SCENARIOS
from tests.emulators import wait_for


def gatepost(*args, env):
    return subprocess.run([sys.executable, "-m", "edge.cli", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120)


def bare_env(tmp_path) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "GATEPOST_CONFIG"}
    env["GATEPOST_RUNTIME_DIR"] = str(tmp_path / "run")
    return env


def test_without_a_gate_to_act_on_a_command_refuses_and_makes_nothing(tmp_path):
    env = bare_env(tmp_path)
    if os.path.exists("/etc/gatepost/gatepost.yaml"):
        pytest.skip("an installed gate on this machine is found by design")
    existed = os.path.exists("/var/lib/gatepost")
    result = gatepost("guards", "add", "--id", "7", "--name", "Guard 7", "--pin", "2468", env=env)
    assert result.returncode == 1
    assert "no gate to act on" in result.stderr and "-c FILE" in result.stderr
    assert os.path.exists("/var/lib/gatepost") == existed


def test_commands_find_the_running_daemon_and_say_so_and_ctrl_c_exits_130(tmp_path):
    env = bare_env(tmp_path)
    state = tmp_path / "state"
    config_path = tmp_path / "gate.yaml"
    config_path.write_text(yaml.safe_dump({
        "state_dir": str(state), "ui": {"enabled": False}, "mqtt": {"enabled": False},
        "simulation": {"scenario": str(SCENARIOS / "residents_only.yaml"), "realtime": True, "loop": True}}))
    daemon = subprocess.Popen([sys.executable, "-m", "edge.cli", "-c", str(config_path), "run"], cwd=ROOT, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert wait_for(lambda: (state / "control.sock").exists(), timeout=60)
        assert wait_for(lambda: list((tmp_path / "run").glob("daemon-*.json")), timeout=10)
        added = gatepost("guards", "add", "--id", "7", "--name", "Guard 7", "--pin", "2468", env=env)
        assert added.returncode == 0, added.stderr
        assert f"config {config_path} (the running daemon, pid {daemon.pid})" in added.stderr
        assert f"state {state}" in added.stderr
        listed = gatepost("guards", "list", "--json", env=env)
        assert '"guard_id": "7"' in listed.stdout  # JSON on stdout unchanged; the where-line is on stderr
        status = gatepost("status", env=env)
        assert status.returncode == 0 and '"decisions"' in status.stdout
    finally:
        daemon.send_signal(signal.SIGINT)
        output = daemon.communicate(timeout=60)[0]
    assert daemon.returncode == 130, output
    assert "stopping (Ctrl-C)" in output
    assert not list((tmp_path / "run").glob("daemon-*.json"))  # the record goes with the daemon
    stale = gatepost("status", env=env)
    assert stale.returncode == 1 and "no gate to act on" in stale.stderr


def test_iso_dates_are_accepted_where_times_are_asked():
    import argparse
    import datetime

    from edge.cli.common import moment

    assert moment("1733390000") == 1733390000.0
    assert moment("2026-12-05T08:30:00+00:00") == datetime.datetime(2026, 12, 5, 8, 30,
                                                                     tzinfo=datetime.timezone.utc).timestamp()
    try:
        moment("yesterday")
    except argparse.ArgumentTypeError as error:
        assert "ISO" in str(error)
    else:
        raise AssertionError("a word is not a time")


def test_beside_two_daemons_a_state_command_asks_which_and_a_stateless_one_runs(tmp_path):
    env = bare_env(tmp_path)
    daemons = []
    try:
        for name in ("a", "b"):
            config_path = tmp_path / f"{name}.yaml"
            config_path.write_text(yaml.safe_dump({
                "state_dir": str(tmp_path / name), "ui": {"enabled": False}, "mqtt": {"enabled": False},
                "simulation": {"scenario": str(SCENARIOS / "residents_only.yaml"), "realtime": True, "loop": True}}))
            daemons.append(subprocess.Popen([sys.executable, "-m", "edge.cli", "-c", str(config_path), "run"],
                                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        assert wait_for(lambda: len(list((tmp_path / "run").glob("daemon-*.json"))) == 2, timeout=60)
        assert wait_for(lambda: all((tmp_path / n / "control.sock").exists() for n in "ab"), timeout=60)
        listed = gatepost("guards", "list", env=env)
        assert listed.returncode == 1 and "2 daemons run here" in listed.stderr
        assert all(str(d.pid) in listed.stderr for d in daemons)
        keygen = gatepost("passes", "keygen", "--out", str(tmp_path / "pass.key"), "--id", "k1", env=env)
        assert keygen.returncode == 0, keygen.stderr
        issued = gatepost("passes", "issue", "--key", str(tmp_path / "pass.key"), "--site", "demo-site", "--holder",
                          "Courier Wang", env=env)
        assert issued.returncode == 0 and issued.stdout.startswith("GP1:"), issued.stderr
    finally:
        for daemon in daemons:
            daemon.send_signal(signal.SIGTERM)
        for daemon in daemons:
            daemon.wait(timeout=60)
