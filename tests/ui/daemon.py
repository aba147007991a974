"""A gate daemon run as `gatepost run` from a config file, with Debian's chromium driven by Playwright beside it: what
the touchscreen's browser tests share."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml

from tests.broker import free_port
from tests.conftest import ROOT
from tests.emulators import wait_for

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--autoplay-policy=no-user-gesture-required"]


@contextmanager
def touchscreen_gate(tmp: Path, settings: dict, *, guards=(("7", "2468"),)) -> Iterator[dict]:
    """The daemon with `settings` (state in tmp/state, the touchscreen on a free port, MQTT off unless given) and
    `guards` added; yields the page's address, the browser and the state folder."""
    if not shutil.which("chromium"):
        pytest.skip("Debian's chromium is not installed (./scripts/setup.sh --test installs it)")
    port = free_port()
    config = tmp / "gate.yaml"
    ui = {"language": "en", **settings.get("ui", {}), "port": port}
    config.write_text(yaml.safe_dump({"state_dir": str(tmp / "state"), "mqtt": {"enabled": False}, **settings,
                                      "ui": ui}))
    cli = [sys.executable, "-m", "edge.cli", "-c", str(config)]
    for guard, pin in guards:
        subprocess.run(cli + ["guards", "add", "--id", guard, "--name", f"Guard {guard}", "--pin", pin], check=True,
                       cwd=ROOT, capture_output=True)
    daemon = subprocess.Popen(cli + ["run"], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"

    def serving() -> bool:
        try:
            return urllib.request.urlopen(url + "/api/health", timeout=1).status == 200
        except OSError:
            return False

    try:
        assert wait_for(serving, timeout=60)
        from playwright.sync_api import sync_playwright

        playwright = sync_playwright().start()
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield {"url": url, "browser": browser, "state": tmp / "state", "cli": cli, "port": port}
        finally:
            browser.close()
            playwright.stop()
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(timeout=30)
