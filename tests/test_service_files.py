"""What systemd/install.sh installs: a real-hardware config that validates, units whose commands parse, and a copy
list that names only what exists (and nothing a gate does not run)."""

import re
import shlex
import subprocess

import pytest

from edge.cli import build_parser
from edge.config import parse_config, read_yaml
from tests.conftest import ROOT

SYSTEMD = ROOT / "systemd"


def test_the_real_hardware_config_validates_and_simulates_nothing():
    config = parse_config(read_yaml(ROOT / "config/gatepost.real.yaml"), source="gatepost.real.yaml")
    hardware = config.hardware
    drivers = [hardware.camera.driver, hardware.thermal.driver, hardware.relay.driver, hardware.passage.driver,
               hardware.qr_scanner.driver]
    assert "sim" not in drivers and config.state_dir == "/var/lib/gatepost"


def unit_commands(unit: str) -> list[list[str]]:
    text = (SYSTEMD / unit).read_text().replace("\\\n", " ")
    environment = dict(re.findall(r"^(\w+)=(.*)$", (SYSTEMD / "collector.env").read_text(), re.M))
    commands = []
    for line in re.findall(r"^Exec\w+=(.*)$", text, re.M):
        line = re.sub(r"\$\{(\w+)\}", lambda m: environment[m.group(1)], line)
        words = shlex.split(line)
        assert words[0] == "/opt/gatepost/.venv/bin/gatepost"
        commands.append(words[1:])
    return commands


@pytest.mark.parametrize("unit", ["gatepost.service", "gatepost-collector.service", "gatepost-fleet.service"])
def test_each_unit_runs_a_command_the_cli_knows(unit):
    commands = unit_commands(unit)
    assert commands
    for words in commands:
        build_parser().parse_args(words)  # a usage error exits 2 here


def test_install_copies_only_what_exists_and_what_runs():
    script = (SYSTEMD / "install.sh").read_text()
    assert subprocess.run(["bash", "-n", str(SYSTEMD / "install.sh")]).returncode == 0
    [copied] = re.findall(r"^copied=\((.*)\)$", script, re.M)
    names = copied.split()
    assert names and all((ROOT / name).exists() for name in names)
    assert not {".venv", "state", "tests", "bench", "docs"} & set(names)
    for unit in ("gatepost.service", "gatepost-collector.service", "gatepost-fleet.service"):
        assert unit in script
