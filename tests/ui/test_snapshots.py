"""Face snapshots with decisions: nothing image-like without the option; with it, one JPEG a decision, shown only to a
guard logged in at the touchscreen, gone after the retention."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from datetime import date, timedelta

import yaml

from edge.app import Runtime
from edge.config import parse_config
from edge.snapshots import Snapshots
from tests.broker import free_port
from tests.conftest import SCENARIOS

IMAGE_MARKS = (b"JFIF", b"Exif", b"\x89PNG", b"\xff\xd8\xff\xdb")


def _run(tmp_path, storage: dict, *, ui_port: int | None = None) -> Runtime:
    scenario = tmp_path / "visits.yaml"
    scenario.write_text(yaml.safe_dump({
        "faces_dir": str(SCENARIOS / "faces"), "residents": [{"name": "Chen", "unit": "3-502", "photos": ["resident_c/01.jpg"]}],
        "visitors": [{"at": 0.0, "photo": "resident_c/04.jpg", "identity": "Chen", "expect": "granted"},
                     {"at": 5.0, "photo": "stranger_e/01.jpg", "expect": "denied"}]}))
    from drivers.sim.scenario import load_scenario

    ui = {"enabled": ui_port is not None, "port": ui_port or 8080}
    config = parse_config({"mqtt": {"enabled": False}, "ui": ui, "storage": storage})
    runtime = Runtime(config, state_dir=tmp_path / "state", scenario=load_scenario(scenario), realtime=False,
                      loop=False, control=False, ui=ui_port is not None)
    runtime.run(lambda: False)
    return runtime


def _decisions(runtime: Runtime) -> list[dict]:
    return [e for e in runtime.store.latest_events(50) if e["kind"] == "decision"]


def test_without_the_option_no_image_bytes_are_written_anywhere(tmp_path):
    runtime = _run(tmp_path, {})
    try:
        assert len(_decisions(runtime)) == 2 and runtime.snapshots is None
    finally:
        runtime.close()
    written = [path for path in (tmp_path / "state").rglob("*") if path.is_file()]
    assert written  # the database at least: the check below has something to look at
    for path in written:
        content = path.read_bytes()
        assert not any(mark in content for mark in IMAGE_MARKS), path
    assert not (tmp_path / "state" / "snapshots").exists()


def test_with_snapshots_each_decision_keeps_its_face_for_a_guard_logged_in_only(tmp_path):
    port = free_port()
    runtime = _run(tmp_path, {"snapshots": "face"}, ui_port=port)
    try:
        decisions = _decisions(runtime)
        assert len(decisions) == 2
        assert [d.get("resident_unit") for d in decisions if d["granted"]] == ["3-502"]  # the unit, for the export
        for event in decisions:
            jpeg = runtime.service.snapshot(event["event_id"])
            assert jpeg is not None and jpeg[:3] == b"\xff\xd8\xff"
        assert runtime.service.snapshot("../../etc/passwd") is None
        runtime.service.guards.add("7", "Guard 7", "2468")
        url = f"http://127.0.0.1:{port}"
        path = f"/api/snapshots/{decisions[0]['event_id']}.jpg"
        assert _status(url + path) == 401
        cookie = _login(url, "7", "2468")
        request = urllib.request.Request(url + path, headers={"Cookie": cookie})
        with urllib.request.urlopen(request, timeout=5) as response:
            assert response.headers["Content-Type"] == "image/jpeg"
            assert response.headers["Cache-Control"] == "no-store"
            assert response.read()[:3] == b"\xff\xd8\xff"
        assert _status(url + "/api/snapshots/0123456789abcdef.jpg", cookie) == 404
        _the_screen_shows_the_newest_decisions_face(url)
    finally:
        runtime.close()


def _the_screen_shows_the_newest_decisions_face(url: str) -> None:
    import shutil

    if not shutil.which("chromium"):
        return  # the HTTP checks above stand; ./scripts/setup.sh --test installs chromium
    from playwright.sync_api import sync_playwright

    from tests.ui.daemon import ARGS, CHROMIUM

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 800, "height": 480})
            page.goto(url + "/")
            page.wait_for_selector("body[data-ready='1']")
            assert page.is_hidden("#decision-snapshot")
            page.fill("#guard-id", "7")
            page.fill("#pin", "2468")
            page.click("#login-button")
            page.wait_for_selector("#decision-snapshot", state="visible", timeout=10_000)
            assert page.evaluate("document.getElementById('decision-snapshot').naturalWidth") > 0
        finally:
            browser.close()


def test_snapshots_older_than_the_retention_are_deleted(tmp_path):
    folder = tmp_path / "snapshots"
    today = date(2026, 12, 5)
    for age in (0, 6, 7, 8, 30):
        day = folder / (today - timedelta(days=age)).isoformat()
        day.mkdir(parents=True)
        (day / "0123456789abcdef.jpg").write_bytes(b"\xff\xd8\xff")
    (folder / "notes").mkdir()
    snapshots = Snapshots(folder, retention_days=7)
    assert snapshots.prune(today=today, force=True) == 2
    snapshots.close()
    assert sorted(p.name for p in folder.iterdir()) == ["2026-11-28", "2026-11-29", "2026-12-05", "notes"]


def _status(url: str, cookie: str | None = None) -> int:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers={"Cookie": cookie} if cookie else {}),
                                    timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def _login(url: str, guard: str, pin: str) -> str:
    request = urllib.request.Request(url + "/api/login", data=json.dumps({"guard": guard, "pin": pin}).encode(),
                                     method="POST", headers={"Content-Type": "application/json", "Origin": url})
    with urllib.request.urlopen(request, timeout=5) as response:
        return response.headers["Set-Cookie"].split(";")[0]
