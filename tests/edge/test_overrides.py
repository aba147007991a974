"""Run-time changes over the operator's file: what they may change, and what only the operator's file sets."""

import base64

import pytest
import yaml

from edge.config import parse_config
from edge.errors import ConfigError
from edge.mqtt.auth import generate_key
from edge.overrides import load, overrides_path, read_overrides, set_value


def key() -> str:
    return generate_key()[1]


def test_a_change_is_kept_over_the_operators_file_and_validated_first(tmp_path):
    operator = {"state_dir": str(tmp_path), "site": {"name": "North gate"}}
    config = parse_config(operator)
    changed = set_value(operator, config, "checks.temperature.threshold_c", 37.5, state_dir=tmp_path)
    assert changed.checks.temperature.threshold_c == 37.5
    with pytest.raises(ConfigError, match="threshold_c"):
        set_value(operator, changed, "checks.temperature.threshold_c", 99.0, state_dir=tmp_path)
    assert read_overrides(tmp_path) == {"checks.temperature.threshold_c": 37.5}


@pytest.mark.parametrize("path, value", [("mqtt.admin_keys", {}), ("mqtt.admin_keys", {"mallory": None}),
                                         ("mqtt", {"admin_keys": {}}), ("state_dir", "/tmp/elsewhere")])
def test_who_administers_the_gate_and_where_its_state_lives_are_never_changed_at_run_time(tmp_path, path, value):
    """An administrator added by config.set could not be revoked from the operator's file (it hid the file's keys);
    a state_dir set at run time would make the next start forget revocations, pass uses and nonces."""
    operator = {"state_dir": str(tmp_path), "mqtt": {"admin_keys": {"admin-1": key()}}}
    with pytest.raises(ConfigError, match="only the operator's file sets"):
        set_value(operator, parse_config(operator), path, value, state_dir=tmp_path)
    assert read_overrides(tmp_path) == {}


def test_the_operators_file_revokes_an_administrator_whatever_the_overrides_say(tmp_path, caplog):
    admin_1, admin_2 = key(), key()
    overrides_path(tmp_path).write_text(yaml.safe_dump({"mqtt.admin_keys": {"admin-1": admin_1},
                                                        "site.name": "From the console"}))
    gate_yaml = tmp_path / "gate.yaml"
    gate_yaml.write_text(yaml.safe_dump({"state_dir": str(tmp_path), "mqtt": {"admin_keys": {"admin-2": admin_2}}}))
    config = load(gate_yaml)
    assert config.mqtt.admin_keys == {"admin-2": admin_2}  # admin-1, written by an earlier release, is gone
    assert config.site.name == "From the console"  # what may be overridden still is
    assert "mqtt.admin_keys ignored" in caplog.text
    assert base64.b64decode(admin_2)
