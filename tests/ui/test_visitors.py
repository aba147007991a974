"""A guard registers a visitor at the touchscreen, in Debian's chromium, and hands over a printed pass in under a
minute: name, host unit and expiry beside the code, and the code read back from the printout is a pass the site's
gates let in. Without the PIN, or with a field missing, nothing is issued."""

import json
import subprocess
import sys
import time

import cv2
import numpy as np
import pytest
from pyzbar import pyzbar

from edge.qr.passes import PassVerifier
from edge.store import Store
from tests.conftest import ROOT, SCENARIOS
from tests.emulators import wait_for
from tests.ui.daemon import touchscreen_gate
from tests.ui.test_touchscreen import ARTIFACTS, login, open_page, post

SITE = "demo-site"


@pytest.fixture(scope="module")
def gate(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("visitors")
    key = tmp / "site-pass.key"
    subprocess.run([sys.executable, "-m", "edge.cli", "passes", "keygen", "--out", str(key), "--id", "site-pass"],
                   check=True, cwd=ROOT, capture_output=True)
    public = json.loads(key.read_text())["public"]
    with touchscreen_gate(tmp, {
        "site": {"site_id": SITE},
        "qr": {"passes": {"public_keys": {"site-pass": public}, "booth_key": str(key)}},
        "simulation": {"scenario": str(SCENARIOS / "residents_only.yaml"), "realtime": True, "loop": True}}) as gate:
        yield {**gate, "public": public}


def codes_in(png: bytes) -> list[str]:
    image = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_GRAYSCALE)
    return [symbol.data.decode() for symbol in pyzbar.decode(image, symbols=[pyzbar.ZBarSymbol.QRCODE])]


def test_a_guard_registers_a_visitor_and_hands_over_a_printed_pass_within_a_minute(gate, tmp_path):
    page = open_page(gate)
    started = time.monotonic()  # the guard turns to the screen: the clock starts
    page.click("#visitor-button")
    page.fill("#visitor-name", "Li Wei")
    page.fill("#visitor-host", "3-502")
    page.click("#visitor-hours button[data-hours='4']")
    page.fill("#visitor-pin", "2468")
    page.click("#visitor-issue")
    page.wait_for_selector("#visitor-print:not(.hidden)")
    page.emulate_media(media="print")  # what the printer gets
    printout = page.screenshot(full_page=True)
    handed_over = time.monotonic() - started
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "visitor-pass-print.png").write_bytes(printout)
    assert handed_over < 60, handed_over
    assert page.inner_text("#pass-name") == "Li Wei" and page.inner_text("#pass-host") == "3-502"
    assert page.inner_text("#pass-until")  # the expiry, in the screen's language
    [token] = codes_in(printout)
    with Store(tmp_path / "scratch") as scratch:
        verdict = PassVerifier({"site-pass": gate["public"]}, site=SITE, gate="gate-2", store=scratch)(token, "scanner")
    assert verdict.status == "valid" and verdict.pass_id == page.get_attribute("#visitor-pass", "data-pass-id")
    with Store(gate["state"]) as store:
        assert wait_for(lambda: any(e["action"] == "visitor_registered" for e in store.events(kind="action")))
        [event] = [e for e in store.events(kind="action") if e["action"] == "visitor_registered"]
        assert event["guard"] == "7" and event["name"] == "Li Wei" and event["host_unit"] == "3-502"
        assert 4 * 3600 - 120 < event["valid_until"] - time.time() <= 4 * 3600
        assert "phone" not in event and [p.holder for p in store.passes()] == ["Li Wei"]
    page.close()


@pytest.mark.parametrize("change, field", [({"pin": "0000"}, "wrong_pin"), ({"name": " "}, "name"),
                                           ({"host_unit": ""}, "host_unit"), ({"hours": 0}, "hours"),
                                           ({"hours": 1000}, "hours"), ({"phone": "call me"}, "phone"),
                                           ({"name": "x" * 65}, "name")])
def test_without_the_pin_or_with_a_bad_field_nothing_is_issued(gate, change, field):
    cookie = login(gate, "7", "2468")
    body = {"name": "Li Wei", "host_unit": "3-502", "hours": 4, "phone": "", "pin": "2468", **change}
    with Store(gate["state"]) as store:
        before = len(store.passes())
    status, answer = post(gate, "/api/visitors", body, cookie)
    assert status in (400, 403) and field in answer["error"], answer
    with Store(gate["state"]) as store:
        assert len(store.passes()) == before
