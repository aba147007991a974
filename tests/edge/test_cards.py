"""Residents' cards: kept only as a keyed hash, enrolled and taken back from the CLI, and at a simulated gate a card
lets its holder in (or_face), or only with the holder's face (and_face); an unknown card is refused and counted."""

from __future__ import annotations

import subprocess
import sys

import pytest
import yaml

from edge.app import Runtime
from edge.cards import CardBook
from edge.config import parse_config
from edge.errors import ConfigError
from edge.store import Store
from tests.conftest import ROOT, SCENARIOS


def _template(seed: int):
    import numpy as np

    vector = np.random.default_rng(seed).normal(size=128).astype(np.float32)
    return vector / np.linalg.norm(vector)


def test_a_card_number_is_never_stored_and_one_card_has_one_holder(tmp_path):
    with Store(tmp_path) as store:
        chen = store.add_resident("Chen", "3-502", [_template(1)], [1.0], ["test"])
        ana = store.add_resident("Ana", "1-101", [_template(2)], [1.0], ["test"])
        book = CardBook(store, tmp_path)
        assert book.enrol("0004242001", chen) == "…2001"
        assert book.holder("4242001") == (chen, "Chen", None)
        with pytest.raises(ConfigError, match="already belongs"):
            book.enrol("4242001", ana)
        with pytest.raises(ConfigError, match="number: 1 to 20 digits"):
            book.enrol("42-42", ana)
        assert [c.label for c in book.cards()] == ["…2001"]
        store.remove_resident(chen)
        assert book.holder("4242001") is None  # gone with the resident
    raw = b"".join(path.read_bytes() for path in tmp_path.rglob("*") if path.is_file() and path.name != "card.key")
    assert b"4242001" not in raw and "4242001".encode("utf-16-le") not in raw
    assert (tmp_path / "card.key").stat().st_mode & 0o077 == 0
    with Store(tmp_path) as store:
        assert CardBook(store, tmp_path).keyed("1") == CardBook(store, tmp_path).keyed("1")  # one key, kept


def test_cards_from_the_cli(tmp_path):
    config = tmp_path / "gate.yaml"
    config.write_text(yaml.safe_dump({"state_dir": str(tmp_path / "state"), "mqtt": {"enabled": False}}))
    with Store(tmp_path / "state") as store:
        chen = store.add_resident("Chen", "3-502", [_template(1)], [1.0], ["test"])

    def cli(*args):
        return subprocess.run([sys.executable, "-m", "edge.cli", "-c", str(config), "cards", *args], cwd=ROOT,
                              capture_output=True, text=True, timeout=60)

    added = cli("add", "--resident", str(chen), "--number", "12345678")
    assert added.returncode == 0 and "…5678" in added.stdout and "12345678" not in added.stdout
    assert "Chen" in cli("list").stdout and "12345678" not in cli("list").stdout
    refused = cli("add", "--resident", "999", "--number", "1")
    assert refused.returncode != 0 and "resident: no resident 999" in refused.stderr
    assert cli("remove", "--number", "12345678").returncode == 0
    assert cli("remove", "--number", "12345678").returncode != 0
    child = cli("add", "--name", "Xiao Chen", "--unit", "3-502", "--number", "777")
    assert child.returncode == 0 and "known by the card alone" in child.stdout
    both = cli("add", "--resident", str(chen), "--name", "X", "--number", "778")
    assert both.returncode != 0 and "resident: give --resident ID" in both.stderr
    with Store(tmp_path / "state") as store:
        [xiao] = [r for r in store.residents() if r.name == "Xiao Chen"]
        assert xiao.templates == 0 and xiao.unit == "3-502"
        assert CardBook(store, tmp_path / "state").holder("777") == (xiao.id, "Xiao Chen", None)
        assert store.add_card_holder("Twin", "", CardBook(store, tmp_path / "state").keyed("777"), "…777") is None
        assert [r.name for r in store.residents()].count("Twin") == 0  # a taken card stores nobody


def _visit(tmp_path, mode: str, visitor: dict, *, cards: dict[str, str]):
    from drivers.sim.scenario import load_scenario

    tmp_path.mkdir(parents=True, exist_ok=True)
    scenario = tmp_path / "cards.yaml"
    scenario.write_text(yaml.safe_dump({
        "faces_dir": str(SCENARIOS / "faces"),
        "residents": [{"name": "Chen", "photos": ["resident_c/01.jpg"]},
                      {"name": "Ana", "photos": ["resident_a/01.jpg"]}],
        "visitors": [{"at": 0.0, **visitor}]}))
    config = parse_config({"mqtt": {"enabled": False}, "ui": {"enabled": False},
                           "hardware": {"card_reader": {"driver": "sim"}}, "checks": {"card": {"mode": mode}}})
    runtime = Runtime(config, state_dir=tmp_path / "state", scenario=load_scenario(scenario), realtime=False,
                      loop=False, control=False, ui=False)
    book = CardBook(runtime.store, tmp_path / "state")
    for number, name in cards.items():
        book.enrol(number, next(r.id for r in runtime.store.residents() if r.name == name))
    decisions, prompts = [], []
    runtime.gate.on_decision = lambda decision, pulsed: decisions.append(decision)
    runtime.gate.prompt_listeners.append(lambda prompt: prompts.append(prompt.code))
    try:
        runtime.run(lambda: False)
    finally:
        runtime.close()
    [decision] = decisions
    return decision, prompts


def test_or_face_a_stranger_s_face_with_a_resident_s_card_is_let_in_as_the_card_says(tmp_path):
    decision, _ = _visit(tmp_path, "or_face", {"photo": "stranger_e/01.jpg", "card": "4242001", "identity": "Chen",
                                               "expect": "granted"}, cards={"4242001": "Chen"})
    assert decision.granted and decision.resident_name == "Chen"
    assert decision.checks["face"]["code"] == "card" and "4242001" not in str(decision.checks)


def test_an_unknown_card_is_refused_with_its_reason(tmp_path):
    decision, _ = _visit(tmp_path, "or_face", {"photo": "stranger_e/01.jpg", "card": "999", "expect": "denied"},
                         cards={"4242001": "Chen"})
    assert not decision.granted and decision.reason_codes == ["card_unknown"]


def test_and_face_the_card_alone_does_not_open_and_another_s_face_is_a_mismatch(tmp_path):
    decision, _ = _visit(tmp_path / "stranger", "and_face", {"photo": "stranger_e/01.jpg", "card": "4242001",
                                                             "expect": "denied"}, cards={"4242001": "Chen"})
    assert not decision.granted and decision.reason_codes == ["card_needs_face"]
    decision, _ = _visit(tmp_path / "ana", "and_face", {"photo": "resident_a/04.jpg", "card": "4242001",
                                                        "expect": "denied"}, cards={"4242001": "Chen"})
    assert not decision.granted and decision.reason_codes == ["card_face_mismatch"]
    decision, _ = _visit(tmp_path / "chen", "and_face", {"photo": "resident_c/04.jpg", "card": "4242001",
                                                         "identity": "Chen", "expect": "granted"},
                         cards={"4242001": "Chen"})
    assert decision.granted and decision.checks["face"]["code"] == "card_and_face"


def test_and_face_a_face_without_its_card_is_asked_for_the_card(tmp_path):
    decision, prompts = _visit(tmp_path, "and_face", {"photo": "resident_c/04.jpg", "identity": "Chen",
                                                      "expect": "denied"}, cards={"4242001": "Chen"})
    assert "show_card" in prompts
    assert not decision.granted and decision.reason_codes == ["face_needs_card"]
