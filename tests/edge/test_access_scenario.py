"""Issue 31's morning at an entry gate (config/scenarios/access.yaml), played at 06:59 on a Monday: a courier a minute
before his hours and again after, a resident by card, a visitor registered at the booth with a printed pass, a resident
going in twice, a stranger. Every decision matches the ground truth, each for its own reason."""

import pytest

from edge.config import parse_config
from edge.simulate import run_simulation
from tests.conftest import SCENARIOS


def test_the_access_morning_is_decided_as_the_ground_truth_says_each_for_its_reason(tmp_path):
    config = parse_config({"mqtt": {"enabled": False}, "ui": {"enabled": False}})
    report = run_simulation(config, SCENARIOS / "access.yaml", realtime=False, state_dir=tmp_path / "state")
    assert report["matches_ground_truth"], [v for v in report["visits"] if not v["correct"]]
    visits = report["visits"]
    codes = [{name: check["code"] for name, check in v["checks"].items()} for v in visits]
    assert codes[0]["schedule"] == "outside_hours" and codes[5]["schedule"] == "within_hours"  # 06:59 and 07:00:10
    assert visits[2]["resident"] == "Ana" and codes[3]["qr"] == "code_valid" and codes[3]["face"] == "visitor_pass"
    assert codes[1]["antipassback"] == "passback_clear" and codes[4]["antipassback"] == "passback"
    assert codes[6]["face"] == "unknown_face"


def test_a_scenario_clock_that_is_not_a_time_is_refused_naming_it(tmp_path):
    from drivers.sim.scenario import load_scenario
    from edge.errors import ConfigError

    scenario = tmp_path / "bad.yaml"
    scenario.write_text((SCENARIOS / "access.yaml").read_text().replace('clock: "2026-12-07T06:59:00"',
                                                                          'clock: "monday morning"'))
    with pytest.raises(ConfigError, match="clock"):
        load_scenario(scenario)
