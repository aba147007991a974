"""Spot checks: one pass on temperature in N, drawn at random, asks the guard for a clinical recheck."""

import yaml

from drivers.sim.scenario import load_scenario
from edge.app import Runtime
from edge.config import parse_config
from edge.events import Decision, DecisionSource, EventKind
from edge.spot_checks import SpotChecks
from tests.conftest import SCENARIOS


def decision(granted=True, code="temperature_normal", temperature=True) -> Decision:
    return Decision(granted, DecisionSource.pipeline, [], visit_id="v1",
                    temperature={"estimate_c": 36.6} if temperature else None,
                    checks={"temperature": {"status": "pass" if code == "temperature_normal" else "fail", "code": code}})


def test_one_pass_in_n_is_marked_as_its_draw_says_and_nothing_else_is():
    draws = iter([0.05, 0.95, 0.09, 0.11])
    checks = SpotChecks(lambda: 10, draw=lambda: next(draws))
    marked = []
    for _ in range(4):
        passed = decision()
        checks.deciding(None, passed)
        marked.append(passed.temperature.get("spot_check", False))
    assert marked == [True, False, True, False] and checks.marked == 2  # a draw under 1/10 is the one in ten


def test_denials_passes_without_a_temperature_and_a_count_of_0_are_never_marked():
    always = SpotChecks(lambda: 1, draw=lambda: 0.0)
    for decided in (decision(granted=False), decision(code="fever", granted=False), decision(temperature=False),
                    decision(code="temperature_unavailable")):
        always.deciding(None, decided)
        assert decided.temperature is None or "spot_check" not in decided.temperature
    never = SpotChecks(lambda: 0, draw=lambda: 0.0)
    passed = decision()
    never.deciding(None, passed)
    assert "spot_check" not in passed.temperature and always.marked == never.marked == 0


def run_two_residents(tmp_path, recheck: dict) -> list[dict]:
    visitors = [{"at": 3.0 * n, "photo": f"{folder}/03.jpg", "identity": name, "expect": "granted"}
                for n, (name, folder) in enumerate([("Alice", "resident_a"), ("Bob", "resident_b")])]
    tmp_path.mkdir()
    scenario = tmp_path / "two.yaml"
    scenario.write_text(yaml.safe_dump({
        "faces_dir": str(SCENARIOS / "faces"), "tail_s": 1.0,
        "residents": [{"name": v["identity"], "photos": [v["photo"].replace("03", "01")]} for v in visitors],
        "visitors": visitors}))
    config = parse_config({"mqtt": {"enabled": False}, "ui": {"enabled": False},
                           "hardware": {"thermal": {"recheck": recheck}}})
    runtime = Runtime(config, state_dir=tmp_path / "state", scenario=load_scenario(scenario), realtime=False,
                      loop=False, control=False, ui=False)
    try:
        runtime.run(lambda: False)
        asked = runtime.thermal_status()["spot_checks_asked"]
        decisions = runtime.store.events(kind=EventKind.decision.value)
        assert asked == sum(1 for d in decisions if d["temperature"].get("spot_check"))  # told in status and telemetry
        return decisions
    finally:
        runtime.close()


def test_the_gate_records_the_mark_on_the_decision_it_draws_and_not_with_recheck_learning_off(tmp_path):
    every = run_two_residents(tmp_path / "every", {"spot_check_every": 1})
    assert [(d["granted"], d["temperature"].get("spot_check")) for d in every] == [(True, True), (True, True)]
    off = run_two_residents(tmp_path / "off", {"spot_check_every": 1, "enabled": False})
    assert [(d["granted"], "spot_check" in d["temperature"]) for d in off] == [(True, False), (True, False)]
