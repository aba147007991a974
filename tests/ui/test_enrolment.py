"""Enrolment at the touchscreen, in Debian's chromium: the guard sees the faces before saving, and a resident
enrolled twice is refused naming them."""

import pytest
import yaml

from edge.control import send
from edge.store import Store
from tests.conftest import SCENARIOS
from tests.emulators import wait_for
from tests.ui.daemon import touchscreen_gate
from tests.ui.test_touchscreen import ARTIFACTS, open_page


@pytest.fixture(scope="module")
def gate(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("enrolment")
    scenario = tmp / "standing.yaml"
    scenario.write_text(yaml.safe_dump({  # a visitor who stands in front of the camera, as one being enrolled does
        "faces_dir": str(SCENARIOS / "faces"), "tail_s": 300,
        "residents": [{"name": "Bob", "photos": ["resident_b/01.jpg"]}],
        "visitors": [{"at": 0.5, "photo": "resident_c/04.jpg", "walks_through": False, "dwell_s": 60,
                      "distance_m": 0.6, "expect": "denied"}]}))
    with touchscreen_gate(tmp, {"hardware": {"card_reader": {"driver": "sim"}},
                                "simulation": {"scenario": str(scenario), "realtime": True, "loop": False}}) as gate:
        yield gate


def capture_and_save(page, name: str) -> str:
    page.click("#enrol-capture")
    page.wait_for_selector("#enrol-faces img", timeout=15_000)
    page.fill("#enrol-name", name)
    page.fill("#enrol-pin", "2468")
    shown = len(page.query_selector_all("#enrol-faces img"))
    captions = page.inner_text("#enrol-faces")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"guard-enrolment-preview-{name.replace(' ', '-')}.png"))
    assert page.is_visible("#enrol-save") and page.evaluate(
        "document.getElementById('enrol-save').getBoundingClientRect().bottom <= window.innerHeight")
    page.click("#enrol-save")
    page.wait_for_function("document.getElementById('enrol-save').disabled && "
                           "document.getElementById('enrol-result').innerText.length > 0", timeout=10_000)
    return f"{shown}|{captions}|{page.inner_text('#enrol-result')}"


def test_the_guard_sees_the_captured_faces_then_saves_adds_a_card_and_a_second_enrolment_is_refused(gate):
    page = open_page(gate)
    page.click("#enrol-button")
    shown, captions, result = capture_and_save(page, "Chen").split("|")
    assert 1 <= int(shown) <= 3 and "eyes" in captions and "px" in captions
    assert result.startswith("Enrolled #"), result
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "guard-enrolment-saved.png"))
    add_card_by_tapping(page, gate, int(result.split("#")[1].split(" ")[0]))
    _, _, again = capture_and_save(page, "Chen again").split("|")
    assert "already enrolled as resident" in again and "Chen" in again, again
    with Store(gate["state"]) as store:
        assert [r.name for r in store.residents()] == ["Bob", "Chen"]
        assert not any(t.source.startswith("touchscreen") and t.name == "Chen again" for t in store.templates())
    page.close()


def add_card_by_tapping(page, gate, resident_id: int) -> None:
    """After enrolment the guard adds the resident's card: "tap the card now"; the number is never shown. Nobody
    tapping first: the guard is told, nothing is stored."""
    page.fill("#enrol-pin", "2468")
    page.click("#enrol-card")
    page.wait_for_function("document.getElementById('enrol-result').innerText === 'No card within 15 s'",
                           timeout=25_000)
    with Store(gate["state"]) as store:
        assert store.cards() == []
    page.fill("#enrol-pin", "2468")
    page.click("#enrol-card")
    page.wait_for_function("document.getElementById('enrol-result').innerText === 'Tap the card now'")

    def tapped() -> bool:  # tapped until the gate listens: a tap before that is a visitor's unknown card
        send(gate["state"], {"command": "sim", "card": "4242001"})
        return page.inner_text("#enrol-result").startswith("Card enrolled")

    assert wait_for(tapped, timeout=15, interval=0.5)
    assert "4242001" not in page.inner_text("#enrol-result") and "2001" in page.inner_text("#enrol-result")
    with Store(gate["state"]) as store:
        [card] = store.cards()
        assert card.resident_id == resident_id and "4242001" not in repr(card)
        assert any(e["action"] == "card_enrolled" and e["guard"] == "7" for e in store.events(kind="action"))
