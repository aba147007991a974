"""Wiegand output: frames go out on their own thread, one bit per pulse on D0 or D1, and read back on the twin as the
frames sent; at a simulated gate a resident let in is sent as their number, a stranger refused is not sent."""

from __future__ import annotations

import random
import subprocess
import sys

import numpy as np
import pytest
import yaml

from drivers.wiegand import encode
from drivers.wiegand_out import SimWiegandOutput
from edge.app import Runtime
from edge.config import parse_config
from edge.controller_feed import frame_of
from edge.store import Store
from tests.conftest import ROOT, SCENARIOS


def test_frames_sent_on_the_twin_read_back_as_sent_in_order():
    rng = random.Random(7)
    sent = []
    with SimWiegandOutput(pulse_us=50, interval_us=300) as output:
        for _ in range(30):
            bits = rng.choice((26, 34))
            facility = rng.randrange(2 ** (8 if bits == 26 else 16))
            card = rng.randrange(2 ** 16)
            sent.append((facility, card, bits))
            assert output.send(encode(facility, card, bits))  # queued at once: the caller never waits for the wire
        assert output.wait_idle(30)
        assert [(c.facility, c.card, c.bits) for c in output.cards()] == sent
        assert len(output.pulses) == sum(bits for _, _, bits in sent) and output.sent == 30


def test_a_number_goes_out_as_facility_and_card_and_one_too_large_is_refused():
    assert frame_of(42 * 65536 + 1001, 26) == encode(42, 1001, 26)
    assert frame_of(2 ** 32 - 1, 34) == encode(2 ** 16 - 1, 2 ** 16 - 1, 34)
    for number, bits in ((2 ** 24, 26), (-1, 26), (2 ** 32, 34)):
        with pytest.raises(ValueError, match="does not fit"):
            frame_of(number, bits)


def test_a_resident_let_in_is_sent_as_their_number_and_a_stranger_is_not(tmp_path):
    from drivers.sim.scenario import load_scenario

    scenario = tmp_path / "feed.yaml"
    scenario.write_text(yaml.safe_dump({
        "faces_dir": str(SCENARIOS / "faces"),
        "residents": [{"name": "Chen", "photos": ["resident_c/01.jpg"]}, {"name": "Ana", "photos": ["resident_a/01.jpg"]}],
        "visitors": [{"at": 0.0, "photo": "resident_c/02.jpg", "identity": "Chen", "expect": "granted"},
                     {"at": 10.0, "photo": "stranger_e/01.jpg", "expect": "denied"},
                     {"at": 20.0, "photo": "resident_a/02.jpg", "identity": "Ana", "expect": "granted"}]}))
    config = parse_config({"mqtt": {"enabled": False}, "ui": {"enabled": False},
                           "hardware": {"wiegand_output": {"driver": "sim", "interval_us": 500}}})
    runtime = Runtime(config, state_dir=tmp_path / "state", scenario=load_scenario(scenario), realtime=False,
                      loop=False, control=False, ui=False)
    chen = next(r.id for r in runtime.store.residents() if r.name == "Chen")
    runtime.store.set_controller_number(chen, 7 * 65536 + 4711)  # Ana has no number: let in, not sent
    output = runtime.hardware.wiegand_output
    try:
        runtime.run(lambda: False)
        assert output.wait_idle(10)
        assert [c.number for c in output.cards()] == [str(7 * 65536 + 4711)]
        assert runtime.controller_feed.unnumbered == 1
    finally:
        runtime.close()


def test_the_cli_sets_a_resident_s_number_and_refuses_one_that_does_not_fit(tmp_path):
    config = tmp_path / "gate.yaml"
    config.write_text(yaml.safe_dump({"state_dir": str(tmp_path / "state"), "mqtt": {"enabled": False}}))
    with Store(tmp_path / "state") as store:
        resident = store.add_resident("Chen", "3-502", [np.ones(4, np.float32) / 2], [1.0], ["photo"])
    cli = [sys.executable, "-m", "edge.cli", "-c", str(config), "residents", "number", str(resident)]
    done = subprocess.run(cli + ["4711"], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0 and "4711" in done.stdout
    refused = subprocess.run(cli + [str(2 ** 24)], cwd=ROOT, capture_output=True, text=True)
    assert refused.returncode != 0 and "does not fit a 26-bit frame" in refused.stderr
    with Store(tmp_path / "state") as store:
        assert store.controller_number(resident) == 4711
