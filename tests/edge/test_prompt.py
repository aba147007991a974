"""The person at the gate is told what to do, and the instruction follows the visit frame by frame."""

import numpy as np
import pytest

from drivers.sim.scenario import load_scenario
from edge.app import Runtime
from edge.config import ChecksConfig, parse_config
from edge.decision import Policy, Visit
from edge.events import Decision, DecisionSource
from edge.face.engine import SeenFace
from edge.face.matcher import Match
from edge.face.quality import Quality
from edge.prompt import RESULT_HOLD_S, prompt_for, refusal_prompt
from edge.readings import ThermalReading
from edge.voice import VoicePrompts
from tests.conftest import SCENARIOS

POLICY = Policy(ChecksConfig(), window_s=3.0)
ALICE = Match(1, "Alice", 0.7, 0.1, "match", 0.5)
STRANGER = Match(None, None, 0.3, 0.1, "below threshold", 0.5)
NORMAL = ThermalReading(True, 36.6, 0.2, live=True)


def face(*codes: str) -> SeenFace:
    quality = Quality(40.0, 100.0, 0.1, 0.9, tuple(codes), tuple(codes))
    return SeenFace(1, [0, 0, 10, 10], np.zeros((5, 2)), 0.9, quality, 0.7, None, primary=True)


def visit(match=None, thermal=None, codes=(), decision=None) -> Visit:
    seen = Visit(1, started=100.0, started_perf=0.0, match=match, thermal=thermal, codes=list(codes))
    seen.decision = decision
    return seen


def prompt(now=100.5, face_seen=None, current=None, decided=None, out_of_service=False):
    return prompt_for(now=now, face=face_seen, visit=current, decided=decided, policy=POLICY,
                      out_of_service=out_of_service)


@pytest.mark.parametrize("codes, expected", [(("too_small",), "step_closer"), (("uncertain_detection",), "face_hidden"),
                                             (("turned_away", "blurred"), "look_at_camera"), (("blurred",), "hold_still")])
def test_a_face_the_gate_cannot_use_gets_told_why(codes, expected):
    assert prompt(face_seen=face(*codes)) == expected
    assert prompt(face_seen=face(*codes), current=visit()) == expected


def test_nobody_there_is_idle_and_a_broken_gate_says_so():
    assert prompt() == "idle"
    assert prompt(out_of_service=True, face_seen=face()) == "out_of_service"


def test_waiting_for_a_trusted_reading_then_for_recognition():
    far = ThermalReading(False, 36.0, 0.9, live=True, flags=["too far"], reason="reading not trusted: too far")
    assert prompt(face_seen=face(), current=visit(ALICE, far)) == "step_closer"
    assert prompt(face_seen=face(), current=visit(ALICE, None)) == "measuring_temperature"
    assert prompt(face_seen=face(), current=visit(None, NORMAL)) == "recognising"


def test_a_face_not_recognised_is_asked_for_a_pass_with_the_guide():
    assert prompt(face_seen=face(), current=visit(STRANGER, NORMAL)) == "show_code"
    strict = Policy(ChecksConfig(qr={"mode": "required"}), window_s=3.0)
    assert prompt_for(now=100.5, face=face(), visit=visit(ALICE, NORMAL), decided=None, policy=strict,
                      out_of_service=False) == "show_code"


def test_the_decision_is_shown_while_the_person_stays_and_a_little_after():
    granted = visit(ALICE, NORMAL, decision=Decision(True, DecisionSource.pipeline, ["resident"]))
    assert prompt(current=granted, decided=(granted, 100.0), face_seen=face()) == "welcome"
    assert prompt(now=100.0 + RESULT_HOLD_S - 0.1, decided=(granted, 100.0)) == "welcome"
    assert prompt(now=100.0 + RESULT_HOLD_S, decided=(granted, 100.0)) == "idle"
    assert prompt(now=120.0, current=granted, decided=(granted, 100.0)) == "welcome"  # still standing there


@pytest.mark.parametrize("codes, expected", [
    (["fever"], "refused_fever"), (["spoof"], "refused_spoof"), (["unknown_face"], "refused_unknown"),
    (["face_not_recognised", "temperature_unavailable"], "refused_unknown"), (["code_expired"], "refused_code"),
    (["no_code"], "refused_code"), (["temperature_uncertain"], "refused_temperature"),
    (["no_required_check"], "see_guard"), ([], "see_guard")])
def test_each_refusal_says_what_to_do_next(codes, expected):
    assert refusal_prompt(codes) == expected


def test_the_prompt_changes_on_the_frame_the_visit_changes(tmp_path):
    config = parse_config({"mqtt": {"enabled": False}, "ui": {"enabled": False}})
    runtime = Runtime(config, state_dir=tmp_path / "state", scenario=load_scenario(SCENARIOS / "morning.yaml"),
                      realtime=False, loop=False, control=False, ui=False)
    gate = runtime.gate
    prompts, decided_at = [], []
    gate.prompt_listeners.append(lambda p: prompts.append((gate.stats.frames, p.code, p.guide)))
    gate.on_decision = lambda decision, pulsed: decided_at.append((gate.stats.frames, decision))
    try:
        runtime.run(lambda: False)
    finally:
        runtime.close()
    codes = [code for _, code, _ in prompts]
    assert {"welcome", "refused_unknown", "refused_fever", "refused_spoof", "show_code"} <= set(codes), codes
    for frame, decision in decided_at:
        expected = "welcome" if decision.granted else refusal_prompt(decision.reason_codes)
        on_screen = [code for at, code, _ in prompts if at <= frame][-1]  # as the decision's frame ended
        assert on_screen == expected, (frame, expected, prompts)
    assert all(guide == (code == "show_code") for _, code, guide in prompts)


def test_a_voice_file_is_played_for_a_prompt_that_has_one(tmp_path):
    (tmp_path / "zh").mkdir()
    (tmp_path / "zh" / "welcome.wav").write_bytes(b"RIFF")
    played = tmp_path / "played.txt"
    player = tmp_path / "player.sh"
    player.write_text(f"#!/bin/sh\necho \"$1\" >> {played}\n")
    player.chmod(0o755)
    voice = VoicePrompts(tmp_path, "zh", [str(player)])
    voice.say("welcome")
    voice.say("idle")  # no file: silence
    voice._playing.wait(5)
    assert played.read_text().strip() == str(tmp_path / "zh" / "welcome.wav")
    assert list(voice.spoken) == ["welcome"]
    voice.close()


def test_a_face_whose_eye_corners_are_too_small_to_read_is_asked_closer():
    face_maximum = ThermalReading(True, 36.7, 1.0, live=True, flags=["too small", "face maximum"])
    assert prompt(face_seen=face(), current=visit(ALICE, face_maximum)) == "step_closer"
    at_the_closest = ThermalReading(True, 36.7, 1.0, live=True, flags=["face maximum"])  # closer would be too close
    assert prompt(face_seen=face(), current=visit(ALICE, at_the_closest)) == "measuring_temperature"
