import subprocess
import sys

import pytest

from edge.config import GateConfig, example_file, example_yaml, load_config, parse_config
from edge.errors import ConfigError
from tests.conftest import ROOT


def test_defaults_are_valid_and_fail_secure():
    config = GateConfig()
    assert config.hardware.camera.driver == "sim"
    assert config.turnstile.fail_mode.value == "secure"
    assert config.turnstile.pulse_ms == 300
    assert config.checks.temperature.threshold_c == 37.3


def test_each_mistake_is_one_line_naming_the_key():
    with pytest.raises(ConfigError) as caught:
        parse_config({"turnstile": {"pulse_ms": 5, "colour": "red"}, "checks": {"face": {"mode": "requird"}}})
    lines = str(caught.value).splitlines()
    assert len(lines) == 3
    assert any(line.startswith("config: turnstile.pulse_ms: Input should be greater than or equal to 50") for line in lines)
    assert "config: turnstile.colour: unknown key" in lines
    assert any(line.startswith("config: checks.face.mode: Input should be 'required', 'advisory' or 'off'") and
               "'requird'" in line for line in lines)


def test_cross_field_rule_names_both_keys():
    with pytest.raises(ConfigError, match="checks.temperature is required but pipeline.stages lacks 'thermal'"):
        parse_config({"pipeline": {"stages": ["face", "qr"]}})


def test_broken_yaml_names_the_line(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("site:\n  gate_id: [unclosed\n")
    with pytest.raises(ConfigError, match="broken.yaml: line 3"):
        load_config(path)


def test_example_file_documents_every_section_and_is_valid():
    text = (ROOT / "config" / "gatepost.example.yaml").read_text()
    for section in GateConfig.model_fields:
        assert f"\n{section}:" in text
    load_config(ROOT / "config" / "gatepost.example.yaml")
    assert example_yaml().count("\n") > 80
    assert text == example_file(), "regenerate: gatepost config example > config/gatepost.example.yaml"


def _check(path):
    return subprocess.run([sys.executable, "-m", "edge.cli", "config", "check", str(path)],
                          capture_output=True, text=True, cwd=ROOT)


def test_cli_config_check(tmp_path):
    good = _check(ROOT / "config" / "gatepost.example.yaml")
    assert good.returncode == 0 and good.stdout.strip() == "ok"
    bad_file = tmp_path / "bad.yaml"
    bad_file.write_text("hardware:\n  relay:\n    driver: telepathy\n    baudrate: fast\n")
    bad = _check(bad_file)
    assert bad.returncode == 1
    lines = bad.stderr.strip().splitlines()
    assert len(lines) == 2
    assert "hardware.relay.driver" in lines[0] and "telepathy" in lines[0]
    assert "hardware.relay.baudrate" in lines[1]
    missing = _check(tmp_path / "nope.yaml")
    assert missing.returncode == 1 and "no such file" in missing.stderr


def test_thermal_defaults_follow_the_chosen_sensor():
    """Regression: the simulator's 160x120 box and size were the defaults for a 32x24 MLX90640 too,
    so every real reading would have been untrusted ("blackbody missing")."""
    mlx = parse_config({"hardware": {"thermal": {"driver": "mlx90640"}}}).hardware.thermal
    assert (mlx.width, mlx.height, mlx.max_distance_m) == (32, 24, 0.5)
    x, y, w, h = mlx.blackbody_box
    assert 0 <= x and x + w <= 32 and 0 <= y and y + h <= 24
    assert mlx.homography[0][0] == 32 / 640
    with pytest.raises(ConfigError, match=r"hardware.thermal: blackbody_box \[148, 2, 10, 10\] is not inside the 32x24"):
        parse_config({"hardware": {"thermal": {"driver": "mlx90640", "blackbody_box": [148, 2, 10, 10]}}})
    sim = parse_config({}).hardware.thermal
    assert (sim.width, sim.height, sim.blackbody_box) == (160, 120, [148, 2, 10, 10])


def test_the_sensor_rate_and_its_sub_pages_follow_the_chosen_sensor():
    mlx = parse_config({"hardware": {"thermal": {"driver": "mlx90640"}}}).hardware.thermal
    assert (mlx.rate_hz, mlx.sub_pages) == (4.0, 2)  # 8 sub-pages a second, each handed over as it arrives
    sim = parse_config({}).hardware.thermal
    assert (sim.rate_hz, sim.sub_pages) == (8.7, 1)
    with pytest.raises(ConfigError, match=r"hardware.thermal: rate_hz 5 is not an MLX90640 rate .*0.25, 0.5, 1, 2, 4"):
        parse_config({"hardware": {"thermal": {"driver": "mlx90640", "rate_hz": 5}}})


def test_a_relay_watchdog_shorter_than_the_pulse_is_refused():
    settings = {"hardware": {"relay": {"driver": "modbus", "modbus_watchdog_register": 8, "watchdog_s": 1}},
                "turnstile": {"pulse_ms": 1500}}
    with pytest.raises(ConfigError, match=r"hardware.relay.watchdog_s: 1 s is shorter than turnstile.pulse_ms"):
        parse_config(settings)
    settings["turnstile"]["pulse_ms"] = 1000
    assert parse_config(settings).hardware.relay.watchdog_s == 1


@pytest.mark.parametrize("io, error", [
    ({"driver": "modbus", "inputs": {"fire_alarm": {"line": 0}}}, "hardware.io.*needs the board's serial port"),
    ({"driver": "numato", "port": "/dev/ttyACM0", "inputs": {"fire_alarm": {"line": 2}},
      "outputs": {"siren": {"line": 2}}}, "hardware.io.*line 2 is used twice"),
    ({"driver": "modbus", "port": "/dev/ttyUSB0", "inputs": {"tamper": {"line": 1}, "fire_alarm": {"line": 1}}},
     "line 1 is used twice")])
def test_an_io_board_without_its_port_or_with_a_line_twice_is_refused_naming_it(io, error):
    with pytest.raises(ConfigError, match=error):
        parse_config({"hardware": {"io": io}})


def test_a_modbus_boards_input_and_coil_may_share_a_number():
    config = parse_config({"hardware": {"io": {"driver": "modbus", "port": "/dev/ttyUSB0",
                                               "inputs": {"fire_alarm": {"line": 1}}, "outputs": {"siren": {"line": 1}}}}})
    assert config.hardware.io.inputs["fire_alarm"].line == config.hardware.io.outputs["siren"].line == 1


def test_an_online_service_without_a_prefix_is_refused_since_every_unknown_code_would_leave_the_site():
    online = {"enabled": True, "url": "https://codes.example", "prefix": ""}
    with pytest.raises(ConfigError, match="qr.online: online.prefix must not be empty when online.enabled"):
        parse_config({"qr": {"online": online}})
    assert parse_config({"qr": {"online": online | {"enabled": False}}}).qr.online.prefix == ""
    assert parse_config({"qr": {"online": online | {"prefix": "HK:"}}}).qr.online.prefix == "HK:"
