"""The overrides' file, key by key: which paths are fixed, what a bad file or key says, what a write leaves."""

import pytest
import yaml

from edge.config import parse_config
from edge.errors import ConfigError
from edge.overrides import fixed, layered, load, overrides_path, read_overrides, set_value, value_at, with_overrides


@pytest.mark.parametrize("path, key", [
    ("state_dir", "state_dir"), ("mqtt.admin_keys", "mqtt.admin_keys"), ("mqtt.admin_keys.admin-1", "mqtt.admin_keys"),
    ("mqtt", "mqtt.admin_keys"), ("mqtt.admin_keysx", None), ("mqtt.host", None), ("state_dirs", None),
    ("site.name", None), ("mq", None),
])
def test_a_path_is_fixed_when_it_is_lies_in_or_contains_a_fixed_key(path, key):
    assert fixed(path) == key


@pytest.mark.parametrize("text, fine", [("", True), ("- a\n", False), ("1: x\n", False), ("site.name: x\n", True)])
def test_an_overrides_file_is_a_mapping_of_dotted_keys(tmp_path, text, fine):
    overrides_path(tmp_path).write_text(text)
    if fine:
        assert read_overrides(tmp_path) == (yaml.safe_load(text) or {})
    else:
        with pytest.raises(ConfigError, match="expected a mapping of dotted keys"):
            read_overrides(tmp_path)


def test_layering_puts_each_value_at_its_path_and_leaves_the_operators_data_as_it_was():
    operator = {"site": {"name": "North", "gate_id": "g1"}, "checks": {"temperature": {"threshold_c": 37.3}}}
    result = layered(operator, {"site.name": "South", "checks.temperature.threshold_c": 37.5, "mqtt.host": "b"})
    assert result == {"site": {"name": "South", "gate_id": "g1"}, "checks": {"temperature": {"threshold_c": 37.5}},
                      "mqtt": {"host": "b"}}
    assert operator == {"site": {"name": "North", "gate_id": "g1"}, "checks": {"temperature": {"threshold_c": 37.3}}}
    with pytest.raises(ConfigError, match="site.name.x: name is not a section"):
        layered(operator, {"site.name.x": 1})


def test_a_start_without_overrides_is_the_operators_file_alone(tmp_path):
    gate_yaml = tmp_path / "gate.yaml"
    gate_yaml.write_text(yaml.safe_dump({"state_dir": str(tmp_path), "site": {"name": "North"}}))
    assert load(gate_yaml).site.name == "North"
    overrides_path(tmp_path).write_text("site.name: South\n")
    assert load(gate_yaml).site.name == "South"
    elsewhere = tmp_path / "other"
    elsewhere.mkdir()
    operator = {"state_dir": str(tmp_path), "site": {"name": "North"}}
    assert with_overrides(operator, source="x", state_dir=elsewhere).site.name == "North"


@pytest.mark.parametrize("path, error", [("nosuch.key", "no such section 'nosuch'"),
                                         ("site.nosuch", "site.nosuch: unknown key"),
                                         ("site.name.deeper", "no such section 'name'")])
def test_an_unknown_key_is_refused_by_name_and_nothing_is_written(tmp_path, path, error):
    operator = {"state_dir": str(tmp_path)}
    with pytest.raises(ConfigError, match=error):
        set_value(operator, parse_config(operator), path, 1, state_dir=tmp_path)
    assert not overrides_path(tmp_path).exists()


def test_changes_add_up_and_are_written_whole_without_a_leftover(tmp_path):
    operator = {"state_dir": str(tmp_path)}
    config = set_value(operator, parse_config(operator), "site.name", "Nördliches Tor")
    config = set_value(operator, config, "checks.temperature.threshold_c", 37.5)
    assert value_at(config, "site.name") == "Nördliches Tor" and value_at(config, "checks.temperature.threshold_c") == 37.5
    text = overrides_path(tmp_path).read_text(encoding="utf-8")
    assert "Nördliches Tor" in text  # written as the operator would write it, not escaped
    assert list(yaml.safe_load(text)) == ["checks.temperature.threshold_c", "site.name"]
    assert [p.name for p in tmp_path.iterdir()] == ["overrides.yaml"]


def test_a_state_directory_that_cannot_be_written_names_the_file(tmp_path):
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the directory should be")
    operator = {"state_dir": str(blocked)}
    with pytest.raises(ConfigError, match="overrides.yaml: cannot write"):
        set_value(operator, parse_config(operator), "site.name", "x", state_dir=blocked)


def test_values_read_back_as_json_and_errors_name_where_they_came_from(tmp_path):
    operator = {"state_dir": str(tmp_path / "a" / "b")}  # not there yet: made with its parents
    config = set_value(operator, parse_config(operator), "site.name", "x")
    assert value_at(config, "pipeline.stages") == ["face", "thermal", "qr"]
    assert type(value_at(config, "turnstile.fail_mode")) is str  # as JSON has it, not the enumeration
    with pytest.raises(ConfigError, match=r"^config\.set: "):
        set_value(operator, config, "checks.temperature.threshold_c", 99.0)
    gate_yaml = tmp_path / "gate.yaml"
    gate_yaml.write_text(yaml.safe_dump(operator))
    overrides_path(tmp_path / "a" / "b").write_text("checks.temperature.threshold_c: 99\n")  # written by hand
    with pytest.raises(ConfigError, match=rf"^{gate_yaml} \+ {tmp_path / 'a' / 'b' / 'overrides.yaml'}: "):
        load(gate_yaml)
    gate_yaml.write_text("checks: {temperature: {threshold_c: 99}}\n")
    with pytest.raises(ConfigError, match=rf"^{gate_yaml}: "):
        load(gate_yaml)
    assert load(None).site == parse_config({}).site
