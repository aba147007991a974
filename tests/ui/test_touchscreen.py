"""The guard's touchscreen in Debian's chromium, driven by Playwright, against a running daemon."""

import json
import shutil
import signal
import subprocess
import sys
import urllib.error
import urllib.request

import pytest
import yaml

from edge.store import Store
from tests.broker import free_port
from tests.conftest import ROOT, SCENARIOS
from tests.emulators import LcusBoard, wait_for

ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--autoplay-policy=no-user-gesture-required"]


@pytest.fixture(scope="module")
def gate(tmp_path_factory):
    if not shutil.which("chromium"):
        pytest.skip("Debian's chromium is not installed (./scripts/setup.sh --test installs it)")
    tmp = tmp_path_factory.mktemp("touchscreen")
    board = LcusBoard(channels=1)
    scenario = tmp / "fever.yaml"
    scenario.write_text(yaml.safe_dump({
        "faces_dir": str(SCENARIOS / "faces"), "tail_s": 300,
        "residents": [{"name": "Bob", "unit": "5-1102", "photos": ["resident_b/01.jpg"]}],
        "visitors": [{"at": 15.0, "photo": "resident_b/03.jpg", "identity": "Bob", "temperature_c": 38.6,
                      "expect": "denied"}]}))
    port = free_port()
    config = tmp / "gate.yaml"
    config.write_text(yaml.safe_dump({
        "state_dir": str(tmp / "state"), "mqtt": {"enabled": False},
        "ui": {"port": port, "language": "zh", "max_pin_failures": 3},
        "hardware": {"relay": {"driver": "lcus", "port": board.port}},
        "simulation": {"scenario": str(scenario), "realtime": True, "loop": False}}))
    cli = [sys.executable, "-m", "edge.cli", "-c", str(config)]
    for guard, pin in (("7", "2468"), ("8", "1357")):
        subprocess.run(cli + ["guards", "add", "--id", guard, "--name", f"Guard {guard}", "--pin", pin], check=True,
                       cwd=ROOT, capture_output=True)
    daemon = subprocess.Popen(cli + ["run"], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"

    def serving():
        try:
            return urllib.request.urlopen(url + "/api/state", timeout=1).status == 200
        except OSError:
            return False

    assert wait_for(serving, timeout=60)
    from playwright.sync_api import sync_playwright

    playwright = sync_playwright().start()
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
    try:
        yield {"url": url, "board": board, "browser": browser, "state": tmp / "state"}
    finally:
        browser.close()
        playwright.stop()
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(timeout=30)
        board.close()


def open_page(gate, width=800, height=480, *, login=("7", "2468")):
    page = gate["browser"].new_page(viewport={"width": width, "height": height})
    page.goto(gate["url"] + "/")
    page.wait_for_selector("body[data-ready='1']")
    if login:
        page.fill("#guard-id", login[0])
        page.fill("#pin", login[1])
        page.click("#login-button")
        page.wait_for_selector("#login-dialog", state="hidden")
    return page


def post(gate, path, body, cookie=None):
    request = urllib.request.Request(gate["url"] + path, data=body if isinstance(body, bytes) else json.dumps(body).encode(),
                                     method="POST", headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_fever_decision_card_appears_within_a_second_and_the_alarm_is_acknowledged(gate):
    page = open_page(gate)
    page.wait_for_selector("#decision-card.denied[data-live='1']", timeout=60_000)  # pushed, not loaded
    card = page.locator("#decision-card")
    event_id, shown_at = card.get_attribute("data-event-id"), float(card.get_attribute("data-shown-at"))
    events = page.evaluate("fetch('/api/state').then(r => r.json())")["events"]
    decision = next(e for e in events if e["event_id"] == event_id)
    assert shown_at - decision["time"] * 1000 < 1000  # same machine, same clock
    assert "fever" in decision["reason_codes"]
    assert "禁止通行" in page.inner_text("#decision-title")
    banner = page.locator("#alarm-banner")
    banner.wait_for(state="visible")
    assert "发烧" in page.inner_text("#alarm-text")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "touchscreen-800x480-fever.png"))
    page.fill("#recheck-input", "38.9")
    page.click("#recheck-button")
    page.click("#ack-button")
    banner.wait_for(state="hidden")
    with Store(gate["state"]) as store:
        assert wait_for(lambda: any(e["action"] == "alarm_acknowledged" for e in store.events(kind="action")))
        recheck = next(e for e in store.events(kind="action") if e["action"] == "fever_recheck")
        assert recheck["clinical_temperature_c"] == 38.9 and recheck["fever_confirmed"] and recheck["guard"] == "7"
    page.close()


def test_wrong_pin_is_refused_and_the_right_pin_opens_once(gate):
    board = gate["board"]
    page = open_page(gate, 1024, 600)
    assert board.log.states.count((1, True)) == 0
    page.click("#open-button")
    page.click("button.reason[data-reason='delivery']")
    page.fill("#open-pin", "0000")
    page.click("#open-confirm")
    page.wait_for_function("document.getElementById('open-result').textContent.length > 0")
    assert "密码错误" in page.inner_text("#open-result")
    assert board.log.states.count((1, True)) == 0  # the relay saw nothing
    page.fill("#open-pin", "2468")
    page.click("#open-confirm")
    assert wait_for(lambda: board.log.states.count((1, True)) == 1, timeout=10)
    assert wait_for(lambda: board.log.states[-1] == (1, False), timeout=10)  # a pulse, not a latch
    page.wait_for_selector("#decision-card.granted")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "touchscreen-1024x600-manual-open.png"))
    page.click("#lang")
    assert page.inner_text("#decision-title") == "ENTER"
    page.screenshot(path=str(ARTIFACTS / "touchscreen-1024x600-english.png"))
    page.close()
    assert board.log.states.count((1, True)) == 1
    with Store(gate["state"]) as store:
        opens = [d for d in store.events(kind="decision") if d["source"] == "guard"]
        assert [(d["actor"], d["reasons"]) for d in opens] == [("7", ["manual open: delivery"])]


def test_requests_without_a_guard_or_with_bad_fields_change_nothing(gate):
    board = gate["board"]
    before = board.log.states.count((1, True))
    assert post(gate, "/api/open", {"reason": "delivery", "pin": "2468"}) == (401, {"ok": False, "error": "login required"})
    assert post(gate, "/api/login", b"{not json")[0] == 400
    assert post(gate, "/api/login", {"guard": 7, "pin": "2468"}) == (400, {"ok": False, "error": "guard: expected str"})
    page = open_page(gate)
    status = page.evaluate("""fetch('/api/open', {method: 'POST', headers: {'Content-Type': 'application/json'},
                                  body: JSON.stringify({reason: 'because', pin: '2468'})}).then(r => r.status)""")
    assert status == 400
    page.close()
    assert board.log.states.count((1, True)) == before


def test_repeated_wrong_pins_lock_the_guard_out(gate):
    for _ in range(3):
        assert post(gate, "/api/login", {"guard": "8", "pin": "9999"})[1]["error"] == "wrong_pin"
    assert post(gate, "/api/login", {"guard": "8", "pin": "1357"}) == (403, {"ok": False, "error": "locked_out"})
    with Store(gate["state"]) as store:
        assert wait_for(lambda: sum(1 for e in store.events(kind="action") if e["action"] == "pin_refused") >= 4)
