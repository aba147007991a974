"""Whether anyone is near: the gate rests through an empty, lively scene and wakes for every person."""

import numpy as np
import pytest
import yaml

from drivers.sim.scenario import load_scenario
from drivers.sim.world import Phase, SimWorld
from edge.config import FaceConfig, PresenceConfig
from edge.presence import Presence
from tests.conftest import SCENARIOS

LIVELY = {
    "leaves": {"light_change": 0.15, "light_period_s": 20.0, "shadow": True, "clutter": "leaves", "noise_sd": 2.0},
    "rain": {"light_change": 0.15, "light_period_s": 20.0, "clutter": "rain", "noise_sd": 3.0},
}


def world_for(tmp_path, scene: dict, arrivals: list[float], seed: int = 1) -> SimWorld:
    photos = ["resident_a/03.jpg", "stranger_e/01.jpg", "resident_b/04.jpg", "stranger_f/02.jpg"]
    path = tmp_path / "scene.yaml"
    path.write_text(yaml.safe_dump({
        "faces_dir": str(SCENARIOS / "faces"), "tail_s": 1.0, "seed": seed, "scene": scene,
        "visitors": [{"at": at, "photo": photos[k % len(photos)], "expect": "denied", "dwell_s": 2.0}
                     for k, at in enumerate(arrivals)]}))
    return SimWorld(load_scenario(path))


@pytest.mark.parametrize("scene", sorted(LIVELY))
def test_an_empty_lively_scene_lets_the_gate_rest(tmp_path, scene):
    """Light rising and falling, a drifting shadow, leaves or rain, camera noise: 40 s of it and nothing
    wakes the gate but its slow periodic look."""
    world = world_for(tmp_path, LIVELY[scene], arrivals=[1000.0])
    presence = Presence(PresenceConfig())
    woken = []
    while world.now < 40.0:
        world.step()
        why = presence.wake_for(world.render_rgb(), world.now, busy=False)
        if why is not None:
            woken.append((round(world.now, 2), why, round(presence.stats.score, 4)))
    motion = [w for w in woken if w[1] == "motion"]
    assert motion == []
    checks = [w for w in woken if w[1] == "still_check"]
    assert 38 <= len(checks) <= 41  # one look a second: a person standing still is found within one
    assert not presence.awake


@pytest.mark.parametrize("scene", sorted(LIVELY))
def test_every_person_wakes_the_gate_as_soon_as_they_are_in_view(tmp_path, scene):
    """Four people walk up one after another: each wakes the gate within two frames of first being in
    view, long before they reach the 1.2 m where a decision can first be made."""
    arrivals = [3.0, 9.0, 15.0, 21.0]
    world = world_for(tmp_path, LIVELY[scene], arrivals=arrivals, seed=3)
    presence = Presence(PresenceConfig())
    first_in_view: dict[int, int] = {}
    first_moving: dict[int, int] = {}
    while not world.finished:
        world.step()
        image = world.render_rgb()
        why = presence.wake_for(image, world.now, busy=False)
        for placement in world.faces_in_view():
            index = placement.visitor.index
            first_in_view.setdefault(index, world.frame_index)
            if why == "motion":
                first_moving.setdefault(index, world.frame_index)
    assert sorted(first_in_view) == [0, 1, 2, 3]
    late = {i: first_moving.get(i, 10**9) - first_in_view[i] for i in first_in_view}
    assert all(frames <= 2 for frames in late.values()), late
    assert all(v.phase is Phase.gone for v in world.truth)


def test_a_visit_and_a_face_keep_the_gate_awake_then_it_rests(tmp_path):
    config = PresenceConfig(hold_s=2.0, still_check_s=1.0)
    presence = Presence(config)
    still = np.full((480, 640, 3), 120, np.uint8)
    assert presence.wake_for(still, 0.0, busy=False) == "still_check"  # the very first frame is looked at
    assert presence.wake_for(still, 0.04, busy=False) is None
    assert presence.wake_for(still, 0.08, busy=True) == "busy"  # a visit is open
    assert presence.awake
    assert presence.wake_for(still, 1.5, busy=False) == "busy"  # within hold_s of the visit
    presence.face_seen(1.5)
    assert presence.wake_for(still, 3.4, busy=False) == "busy"
    assert presence.wake_for(still, 3.6, busy=False) is None  # held 2 s after the face, then at rest
    assert not presence.awake
    assert presence.wake_for(still, 4.35, busy=False) is None
    assert presence.wake_for(still, 4.45, busy=False) == "still_check"  # a second after the last searched frame
    assert presence.stats.wakes == 1


def test_a_person_stepping_into_a_still_view_is_motion_and_disabled_gating_runs_every_frame():
    presence = Presence(PresenceConfig())
    view = np.full((480, 640, 3), 120, np.uint8)
    for k in range(30):
        presence.wake_for(view, k * 0.04, busy=False)
    person = view.copy()
    person[150:330, 280:380] = (60, 80, 150)  # a head and shoulders, 100 x 180 pixels
    assert presence.wake_for(person, 1.24, busy=False) == "motion"
    assert presence.stats.score >= PresenceConfig().min_area
    darker = (view * 0.8).astype(np.uint8)  # the sun behind a cloud: every pixel alike
    quiet = Presence(PresenceConfig())
    for k in range(30):
        quiet.wake_for(view, k * 0.04, busy=False)
    assert quiet.wake_for(darker, 1.24, busy=False) is None
    off = Presence(PresenceConfig(enabled=False))
    assert {off.wake_for(view, k * 0.04, busy=False) for k in range(10)} == {"off"}


def _face_far_off(engine, eye_px: float) -> np.ndarray:
    """A grey 640x480 view with a resident's face in it, shrunk until its eyes are `eye_px` apart."""
    import cv2

    photo = cv2.imread(str(SCENARIOS / "faces" / "resident_a" / "03.jpg"))
    found = max(engine.detector.detect(photo), key=lambda face: face.eye_distance)
    scale = eye_px / found.eye_distance
    small = cv2.resize(photo, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    view = np.full((480, 640, 3), 120, np.uint8)
    height, width = min(small.shape[0], 480), min(small.shape[1], 640)
    view[:height, :width] = small[:height, :width]
    return view


def test_the_still_checks_look_finds_faces_smaller_than_the_gate_recognises_and_nobody_in_an_empty_view(
        engine_factory, empty_gallery):
    engine = engine_factory(empty_gallery)
    smallest = FaceConfig().min_eye_distance_px
    view = _face_far_off(engine, smallest)
    assert engine.anyone_there(view)
    assert engine.anyone_there(_face_far_off(engine, smallest * 2 / 3))  # a margin for a turned or dim face
    empty = np.full((480, 640, 3), 120, np.uint8)
    assert not engine.anyone_there(empty)
    looked: list[bool] = []
    presence = Presence(PresenceConfig(still_check_s=1.0),
                        look=lambda image: looked.append(True) or engine.anyone_there(image))
    for k in range(50):  # two seconds of a still view: the background takes everything in
        assert presence.wake_for(empty, k * 0.04, busy=False) is None
    assert presence.stats.looks == 2 == len(looked) and "still_check" not in presence.stats.woken
    whys = [presence.wake_for(view, 2.0 + k * 0.04, busy=False) for k in range(200)]
    assert whys[0] == "motion"  # someone came into the view
    assert "motion" not in whys[100:] and "still_check" in whys[100:]  # standing still, found by the look


def test_a_look_that_fails_wakes_the_stages_so_their_failure_shows_as_a_fault():
    def broken(image):
        raise RuntimeError("detector gone")

    presence = Presence(PresenceConfig(still_check_s=1.0), look=broken)
    empty = np.full((480, 640, 3), 120, np.uint8)
    whys = [presence.wake_for(empty, k * 0.04, busy=False) for k in range(50)]
    assert whys.count("still_check") == 2 and presence.stats.looks == 2


def test_presence_is_in_telemetry_with_its_thresholds(tmp_path):
    from edge.app import Runtime
    from edge.config import parse_config
    from edge.mqtt.telemetry import Telemetry

    path = tmp_path / "one.yaml"
    path.write_text(yaml.safe_dump({"faces_dir": str(SCENARIOS / "faces"), "tail_s": 3.0,
                                    "visitors": [{"at": 0.5, "photo": "stranger_e/01.jpg", "expect": "denied",
                                                  "dwell_s": 1.0}]}))
    config = parse_config({"mqtt": {"enabled": False}, "ui": {"enabled": False}})
    runtime = Runtime(config, state_dir=tmp_path / "state", scenario=load_scenario(path), realtime=False,
                      loop=False, control=False, ui=False)
    try:
        runtime.run(lambda: False)
        body = Telemetry(runtime.gate, runtime.store, "t", interval_s=1.0).snapshot(1.0)
    finally:
        runtime.close()
    presence = body["presence"]
    assert presence["enabled"] and presence["min_area"] == 0.003 and presence["pixel_threshold"] >= 12.0
    assert presence["woken"]["motion"] > 0 and presence["woken"]["busy"] > 0
    assert presence["frames"] == runtime.gate.stats.frames and presence["looks"] >= 1
    assert "presence" in body["stage_ms"]
