"""The guard frees a resident held back by anti-passback from the touchscreen, in Debian's chromium (which also lists
the access groups in force, open or not): the alarm names the resident, the reset clears them and is recorded; a
reset of an alarm that is not anti-passback's is refused."""

import pytest
import yaml

from edge.store import Store
from tests.conftest import SCENARIOS
from tests.emulators import wait_for
from tests.ui.daemon import touchscreen_gate
from tests.ui.test_touchscreen import login, open_page, post

ALL_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@pytest.fixture(scope="module")
def gate(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("passback")
    scenario = tmp / "twice.yaml"
    scenario.write_text(yaml.safe_dump({
        "faces_dir": str(SCENARIOS / "faces"), "tail_s": 300,
        "residents": [{"name": "Chen", "unit": "3-502", "photos": ["resident_c/01.jpg"]}],
        "visitors": [{"at": 3.0, "photo": "resident_c/02.jpg", "identity": "Chen", "expect": "granted"},
                     {"at": 14.0, "photo": "resident_c/02.jpg", "identity": "Chen", "expect": "denied"}]}))
    with touchscreen_gate(tmp, {
        "site": {"direction": "entry"},
        "checks": {"antipassback": {"mode": "hard"},
                   "schedule": {"groups": {"couriers": {"weekly": {}},  # never open: shown closed
                                           "staff": {"weekly": {d: ["00:00-24:00"] for d in ALL_DAYS}}}}},
        "simulation": {"scenario": str(scenario), "realtime": True, "loop": False}}) as gate:
        yield gate


def test_the_guard_resets_a_resident_held_back_and_the_reset_is_recorded(gate):
    page = open_page(gate)
    # the access groups in force here, open now or not
    assert page.inner_text("#groups [data-group='couriers']") == "couriers closed now"
    assert page.inner_text("#groups [data-group='staff']") == "staff open"
    page.wait_for_selector("#alarm-banner:not(.hidden)", timeout=90_000)
    assert "ANTI-PASSBACK: Chen" in page.inner_text("#alarm-text")
    with Store(gate["state"]) as store:
        [alarm] = [e for e in store.events(kind="alarm") if e["alarm"] == "passback"]
        decisions = [e for e in store.events(kind="decision")]
    assert [d["granted"] for d in decisions] == [True, False] and decisions[1]["reason_codes"] == ["passback"]
    cookie = login(gate, "7", "2468")
    status, refused = post(gate, "/api/passback-reset", {"event_id": "not-an-alarm"}, cookie)
    assert status == 400 and "event_id" in refused["error"]
    page.click("#passback-reset-button")
    page.wait_for_selector("#alarm-banner.hidden", state="attached")
    with Store(gate["state"]) as store:
        assert wait_for(lambda: any(e["action"] == "passback_reset" for e in store.events(kind="action")))
        [reset] = [e for e in store.events(kind="action") if e["action"] == "passback_reset"]
        assert reset["actor"] == "guard:7" and reset["person"].startswith("resident:")
        assert store.last_movement(reset["person"]).direction == "reset"
    status, _ = post(gate, "/api/passback-reset", {"event_id": alarm["event_id"]}, cookie)
    assert status == 400  # done: the alarm is no longer open
    page.close()
