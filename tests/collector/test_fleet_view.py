"""The operators' fleet view in Debian's chromium, driven by Playwright, against a collector fed by
simulated gates speaking the gate's protocol."""

import json
import re
import shutil
import socket
import urllib.error
import urllib.request

import pytest

from collector.web.server import FleetServer
from edge.passwords import hash_secret
from tests.broker import Broker
from tests.conftest import ROOT
from tests.emulators import wait_for
from tests.fleet import Fleet, LightGate
from tests.mqtt.helpers import CollectorSide

ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync"]
CJK = re.compile(r"[\u3400-\u9fff]")


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    if not shutil.which("chromium"):
        pytest.skip("Debian's chromium is not installed (./scripts/setup.sh --test installs it)")
    tmp = tmp_path_factory.mktemp("fleet")
    broker = Broker(tmp / "broker").start()
    collector = CollectorSide(broker, f"sqlite:///{tmp}/collector.db").start()
    gates = [LightGate(f"site-{n % 2 + 1}", f"gate-{n}", "127.0.0.1", broker.port, seed=n) for n in range(8)]
    simulated = Fleet(gates)
    assert simulated.connect() == 8
    simulated.run_for(3.0, every_s=0.4, telemetry_s=1.0)
    gates[0].event(resident=4242)
    alarm_ids = [gates[1].event(kind="alarm"), gates[2].event(kind="alarm")]
    gates[3].telemetry(faults={"thermal": "thermal: no frame for 3 s"})
    gates[4].visitor("李伟", "3-502")
    assert simulated.settle(30)
    gates[7].client.socket().shutdown(socket.SHUT_RDWR)  # a gate that dies: the broker publishes its last will
    assert wait_for(lambda: any(g.gate == "gate-7" and g.status == "offline" for g in collector.db.gates()),
                    timeout=30)
    assert wait_for(lambda: any(g.gate == "gate-3" and g.faults for g in collector.db.gates()), timeout=10)
    collector.db.set_operator("ops", *hash_secret("correct horse battery"))
    server = FleetServer(collector.db, port=0, language="zh")
    server.start()
    assert server.error is None
    from playwright.sync_api import sync_playwright

    playwright = sync_playwright().start()
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
    try:
        yield {"url": f"http://127.0.0.1:{server.port}", "browser": browser, "db": collector.db, "gates": gates,
               "alarm_ids": alarm_ids, "made": sum(g.made for g in gates)}
    finally:
        browser.close()
        playwright.stop()
        server.stop()
        simulated.close()
        collector.close()
        broker.stop()


def fresh_page(fleet, width=1280, height=900):
    page = fleet["browser"].new_page(viewport={"width": width, "height": height})
    page.add_init_script("localStorage.setItem('fleet-language', 'zh')")
    page.goto(fleet["url"])
    return page


def submit_login(page, password: str) -> None:
    page.fill("#login-name", "ops")
    page.fill("#login-password", password)
    page.click("#login-button")


def logged_in(fleet):
    page = fresh_page(fleet)
    submit_login(page, "correct horse battery")
    page.wait_for_selector("#gates tbody tr")
    return page


def test_a_wrong_password_is_refused_in_the_page_s_language_and_the_right_one_shows_every_gate(fleet):
    page = fresh_page(fleet)
    submit_login(page, "wrong horse")
    page.wait_for_function("document.getElementById('login-error').textContent.length > 0")
    assert page.inner_text("#login-error") == "用户名或密码错误"
    page.fill("#login-password", "correct horse battery")
    page.click("#login-button")
    page.wait_for_selector("#gates tbody tr")
    rows = page.locator("#gates tbody tr")
    assert rows.count() == 8
    dead = page.locator("#gates tbody tr[data-gate='site-2/gate-7'] td").all_inner_texts()
    assert dead[2] == "离线"
    faulty = page.locator("#gates tbody tr[data-gate='site-2/gate-3'] td").all_inner_texts()
    assert faulty[4] == "thermal" and faulty[2] == "在线"
    assert "离线 1" in page.inner_text("#summary") and "有故障 1" in page.inner_text("#summary")
    actions = {action for _, operator, action, _ in fleet["db"].audit_log(200) if operator == "ops"}
    assert {"login_refused", "login", "read_gates", "read_alarms"} <= actions
    page.close()


def test_an_alarm_is_acknowledged_once_by_its_operator(fleet):
    page = logged_in(fleet)
    page.wait_for_selector("#alarms li[data-event-id]")
    first = page.locator(f"#alarms li[data-event-id='{fleet['alarm_ids'][0]}']")
    first.locator("button").click()
    page.wait_for_function(f"document.querySelector(\"#alarms li[data-event-id='{fleet['alarm_ids'][0]}']\")"
                           ".classList.contains('acknowledged')")
    assert "已由 ops 确认" in first.inner_text()
    acknowledged = [a for a in fleet["db"].alarms() if a["event_id"] == fleet["alarm_ids"][0]]
    assert acknowledged[0]["acknowledged_by"] == "ops"
    assert any(action == "acknowledge_alarm" and detail == {"event_id": fleet["alarm_ids"][0]}
               for _, _, action, detail in fleet["db"].audit_log(200))
    page.screenshot(path=str(ARTIFACTS / "fleet-1280x900-zh.png"), full_page=True)
    page.close()


def test_charts_are_drawn_from_the_stored_counts(fleet):
    page = logged_in(fleet)
    page.wait_for_function("[...document.querySelectorAll('#charts img')].length === 5 && "
                           "[...document.querySelectorAll('#charts img')].every(i => i.complete && i.naturalWidth > 0)")
    hourly = page.evaluate("fetch('/api/hourly?hours=24').then(r => r.json())")
    entries = sum(sum(values) for metric, values in hourly["counts"].items() if metric == "entries")
    stored = fleet["db"].search(kind="decision", limit=500)
    assert entries == sum(1 for e in stored if e["granted"]) > 0
    svg = page.evaluate("fetch('/api/chart.svg?hours=24&chart=denials&lang=en').then(r => r.text())")
    denial_bars = [float(v) for v in re.findall(r"<title>[^<]*: ([0-9.]+)</title></rect>", svg)]
    assert sum(denial_bars) == sum(1 for e in stored if not e["granted"])
    page.close()


def test_visitors_registered_at_a_booth_are_listed_with_their_host_and_expiry(fleet):
    page = logged_in(fleet)
    page.select_option("#search-kind", "action")
    page.click("#search-button")
    page.wait_for_function("[...document.querySelectorAll('#results tbody tr td')].some(td => td.textContent.includes('李伟'))")
    row = [r for r in page.locator("#results tbody tr").all() if "李伟" in r.inner_text()][0]
    cells = row.locator("td").all_inner_texts()
    assert cells[2] == "gate-4" and "访客李伟" in cells[4] and "3-502" in cells[4] and "有效至" in cells[4], cells
    page.close()


def test_search_finds_a_resident_s_passages_and_alarms_by_kind(fleet):
    page = logged_in(fleet)
    page.fill("#search-resident", "4242")
    page.click("#search-button")
    page.wait_for_function("document.querySelector('#results tbody tr td')")
    cells = page.locator("#results tbody tr").first.locator("td").all_inner_texts()
    assert cells[2] == "gate-0" and cells[4].startswith("通过") and "resident 4242" in cells[4]
    assert page.locator("#results tbody tr").count() == 1
    page.fill("#search-resident", "")
    page.select_option("#search-kind", "alarm")
    page.click("#search-button")
    page.wait_for_function("[...document.querySelectorAll('#results tbody tr td:nth-child(4)')]"
                           ".every(td => td.textContent === '告警')")
    assert page.locator("#results tbody tr").count() == len(fleet["db"].search(kind="alarm"))
    page.close()


def test_the_search_exports_as_csv_with_its_words_and_codes(fleet):
    import csv
    import io

    page = logged_in(fleet)
    page.select_option("#search-kind", "alarm")
    with page.expect_download() as downloading:
        page.click("#export-button")
    download = downloading.value
    text = open(download.path(), encoding="utf-8").read()
    page.close()
    assert download.suggested_filename == "gatepost-events.csv" and text.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    assert rows[0][:4] == ["时间", "小区", "门", "类别"] and "体温 °C" in rows[0]
    assert len(rows) - 1 == len(fleet["db"].search(kind="alarm", limit=100_000))
    assert {row[3] for row in rows[1:]} == {"告警"}
    audit = [action for _, _, action, _ in fleet["db"].audit_log(20)]
    assert "export_events" in audit


def test_an_exported_cell_is_never_a_formula():
    from collector.export import events_csv

    text = events_csv([{"kind": "alarm", "alarm": "tamper", "detail": "=HYPERLINK(\"http://evil\")", "time": 0,
                        "site": "s", "gate": "+g", "event_id": "e"}], lambda group, code: code)
    assert "'=HYPERLINK" in text and "'+g" in text


def test_a_residents_unit_has_its_own_column():
    import csv
    import io

    from collector.export import COLUMNS, events_csv

    text = events_csv([{"kind": "decision", "granted": True, "resident_name": "王芳", "resident_unit": "3-502",
                        "resident_id": 7, "time": 0, "event_id": "e"}], lambda group, code: code)
    header, row = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    assert header == list(COLUMNS) and row[header.index("unit")] == "3-502" and row[header.index("name")] == "王芳"


def test_in_english_nothing_on_the_page_is_chinese(fleet):
    page = logged_in(fleet)
    page.wait_for_selector("#alarms li button")
    page.select_option("#search-kind", "alarm")
    page.click("#search-button")
    page.wait_for_selector("#results tbody tr td:nth-child(5)")
    assert CJK.search(page.inner_text("#alarms")) and CJK.search(page.inner_text("#results"))
    page.click("#lang")  # what is drawn is redrawn in the same click, not when the next answer comes
    assert page.evaluate("document.documentElement.lang") == "en"
    assert page.inner_text("#summary").startswith("online") and page.inner_text("header h1") == "Gate fleet"
    assert not CJK.search(page.inner_text("main")) and page.inner_text("#lang") == "中文"  # the way back
    for chart in ("entries", "denials", "alarms", "decision_p95", "stage_p95"):
        svg = page.evaluate(f"fetch(document.querySelector('#charts img[data-chart={chart}]').src).then(r => r.text())")
        assert not CJK.search(svg), chart
    page.screenshot(path=str(ARTIFACTS / "fleet-1280x900-en.png"), full_page=True)
    page.close()


def test_nothing_is_read_without_a_login_and_a_foreign_page_cannot_act(fleet):
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(fleet["url"] + "/api/gates", timeout=5)
    assert refused.value.code == 401
    request = urllib.request.Request(fleet["url"] + "/api/alarms/ack", data=json.dumps({"event_id": "x"}).encode(),
                                     headers={"Content-Type": "application/json", "Origin": "http://evil.example"},
                                     method="POST")
    with pytest.raises(urllib.error.HTTPError) as foreign:
        urllib.request.urlopen(request, timeout=5)
    assert foreign.value.code == 403


def test_a_code_from_the_wire_that_is_no_word_hides_nothing(fleet):
    """An alarm named "constructor" (or 7), or a retained status "constructor", looked up as an inherited property
    of the catalogue, emptied the alarm list for a week and the gates table ("template.replace is not a function").
    Codes are now looked up as own keys, unknown ones stored as "unknown", and events dated ahead refused."""
    import time

    import paho.mqtt.client as mqtt

    gate = fleet["gates"][5]
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="hostile-5", protocol=mqtt.MQTTv5)
    client.connect("127.0.0.1", gate.port)
    client.loop_start()
    base = {"site": gate.site, "gate": gate.gate, "kind": "alarm", "time": time.time()}
    for n, alarm in enumerate(["constructor", 7, "__proto__"]):
        client.publish(f"gatepost/{gate.site}/{gate.gate}/alarm",
                       json.dumps({**base, "event_id": f"hostile-{n}", "alarm": alarm}), qos=1).wait_for_publish(5)
    client.publish(f"gatepost/{gate.site}/{gate.gate}/alarm",
                   json.dumps({**base, "event_id": "future", "alarm": "fever", "time": 1e11 - 1}), qos=1)
    client.publish(f"gatepost/{gate.site}/{gate.gate}/status", "constructor", qos=1, retain=True).wait_for_publish(5)
    db = fleet["db"]
    assert wait_for(lambda: sum(1 for a in db.alarms() if a["event_id"].startswith("hostile")) == 3, timeout=15)
    assert wait_for(lambda: any(reason.startswith("time:") for *_, reason in db.quarantined()), timeout=15)
    assert wait_for(lambda: any(g.gate == gate.gate and g.status == "unknown" for g in db.gates()), timeout=15)
    errors = []
    page = fresh_page(fleet)
    page.on("pageerror", lambda error: errors.append(str(error)))
    submit_login(page, "correct horse battery")
    page.wait_for_selector("#gates tbody tr")
    page.wait_for_selector(f"#alarms li[data-event-id='{fleet['alarm_ids'][1]}']")
    assert page.locator("#gates tbody tr").count() == 8
    listed = page.inner_text("#alarms")
    assert listed.count("未知告警") >= 3 and "constructor" not in listed
    assert errors == []
    client.loop_stop()
    client.disconnect()
    page.close()


def _login_from(url: str, name: str, password: str, *, source: str = "127.0.0.1", host: str | None = None,
                origin: str | None = None) -> tuple[int, dict]:
    import http.client
    import urllib.parse

    parts = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10, source_address=(source, 0))
    headers = {"Content-Type": "application/json", "Host": host or parts.netloc, "Origin": origin or url}
    connection.request("POST", "/api/login", body=json.dumps({"name": name, "password": password}), headers=headers)
    response = connection.getresponse()
    answer = (response.status, json.loads(response.read()))
    connection.close()
    return answer


def test_behind_a_tls_proxy_logins_work_and_off_loopback_plain_http_is_refused(fleet):
    """Behind the TLS reverse proxy the README advises, every login was refused 403 (the expected Origin was built
    from the request's own scheme); `--host 0.0.0.0` served passwords over plain HTTP."""
    from edge.errors import ConfigError

    with pytest.raises(ConfigError, match="^host: 0.0.0.0 is reachable from the network"):
        FleetServer(fleet["db"], host="0.0.0.0", port=0)
    proxied = FleetServer(fleet["db"], port=0, public_url="https://fleet.example")
    proxied.start()
    try:
        url = f"http://127.0.0.1:{proxied.port}"
        status, _ = _login_from(url, "ops", "correct horse battery", host="fleet.example",
                                origin="https://fleet.example")
        assert status == 200
        assert _login_from(url, "ops", "correct horse battery", host="fleet.example",
                           origin="https://evil.example")[0] == 403
    finally:
        proxied.stop()


def test_nobody_can_lock_an_operator_out_of_their_own_desk(fleet):
    """Five wrong passwords from anywhere locked the operator out everywhere; each refusal of an unknown name wrote a
    row of audit. Lockouts now count per source, and guesses at unknown names write nothing."""
    before = len(fleet["db"].audit_log(5000))
    for _ in range(6):
        _login_from(fleet["url"], "ops", "wrong", source="127.0.0.9")
    assert _login_from(fleet["url"], "ops", "correct horse battery", source="127.0.0.9")[1]["error"] == "locked_out"
    assert _login_from(fleet["url"], "ops", "correct horse battery")[0] == 200  # the operator's own desk
    written = len(fleet["db"].audit_log(5000)) - before
    for n in range(30):
        _login_from(fleet["url"], f"nobody-{n}", "guess", source="127.0.0.8")
    assert len(fleet["db"].audit_log(5000)) - before - written <= 1  # at most the source's lockout
