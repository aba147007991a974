"""The gate's decisions over a simulated scenario driven frame by frame."""

import yaml

from drivers.sim.scenario import load_scenario
from edge.app import Runtime
from edge.config import parse_config
from edge.events import EventKind
from tests.conftest import SCENARIOS


def test_a_resident_seen_again_before_passing_gets_no_second_opening(tmp_path):
    """Alice is let in but lingers; the camera drops for longer than a visit lasts unseen, so her
    face comes back as a new visit and is granted again. A second pulse would let whoever is
    behind her through."""
    scenario = tmp_path / "linger.yaml"
    scenario.write_text(yaml.safe_dump({
        "faces_dir": str(SCENARIOS / "faces"), "tail_s": 0.5,
        "residents": [{"name": "Alice", "photos": ["resident_a/01.jpg", "resident_a/02.jpg"]}],
        "visitors": [{"at": 0.2, "photo": "resident_a/03.jpg", "identity": "Alice", "walks_through": False,
                      "dwell_s": 4.0, "expect": "granted"}]}))
    config = parse_config({"mqtt": {"enabled": False}, "ui": {"enabled": False}})
    runtime = Runtime(config, state_dir=tmp_path / "state", scenario=load_scenario(scenario), realtime=False,
                      loop=False, control=False, ui=False)
    world = runtime.hardware.world
    decisions = []
    runtime.gate.on_decision = lambda decision, pulsed: decisions.append((world.now, decision, pulsed))

    def camera_drops_after_the_decision() -> bool:
        world.camera_dropped = bool(decisions) and decisions[0][0] + 0.5 <= world.now < decisions[0][0] + 2.0
        return False

    try:
        runtime.run(camera_drops_after_the_decision)
        events = runtime.store.events(kind=EventKind.decision.value)
    finally:
        runtime.close()
    assert [d.granted for _, d, _ in decisions] == [True]
    assert runtime.gate.turnstile.pulses == 1
    assert len(events) == 1
    assert runtime.gate.stats.frames > 50  # the scenario played on after the drop
