"""The gate's decisions over a simulated scenario driven frame by frame."""

import yaml

from drivers.sim.scenario import load_scenario
from edge.app import Runtime
from edge.config import parse_config
from edge.events import EventKind
from tests.conftest import SCENARIOS


def test_a_resident_seen_again_before_passing_gets_no_second_opening(tmp_path):
    """Alice is let in but lingers; the camera drops for longer than a visit lasts unseen, so her
    face comes back as a new visit and is granted again. A second pulse would let whoever is
    behind her through."""
    scenario = tmp_path / "linger.yaml"
    scenario.write_text(yaml.safe_dump({
        "faces_dir": str(SCENARIOS / "faces"), "tail_s": 0.5,
        "residents": [{"name": "Alice", "photos": ["resident_a/01.jpg", "resident_a/02.jpg"]}],
        "visitors": [{"at": 0.2, "photo": "resident_a/03.jpg", "identity": "Alice", "walks_through": False,
                      "dwell_s": 4.0, "expect": "granted"}]}))
    config = parse_config({"mqtt": {"enabled": False}, "ui": {"enabled": False}})
    runtime = Runtime(config, state_dir=tmp_path / "state", scenario=load_scenario(scenario), realtime=False,
                      loop=False, control=False, ui=False)
    world = runtime.hardware.world
    decisions = []
    runtime.gate.on_decision = lambda decision, pulsed: decisions.append((world.now, decision, pulsed))

    def camera_drops_after_the_decision() -> bool:
        world.camera_dropped = bool(decisions) and decisions[0][0] + 0.5 <= world.now < decisions[0][0] + 2.0
        return False

    try:
        runtime.run(camera_drops_after_the_decision)
        events = runtime.store.events(kind=EventKind.decision.value)
    finally:
        runtime.close()
    assert [d.granted for _, d, _ in decisions] == [True]
    assert runtime.gate.turnstile.pulses == 1
    assert len(events) == 2  # every decision is recorded, the second as sharing the first one's opening
    first, second = events
    assert first["granted"] and first["same_opening_as"] is None
    assert second["granted"] and second["same_opening_as"] == first["event_id"]
    assert second["resident_id"] == first["resident_id"]
    assert runtime.gate.stats.frames > 50  # the scenario played on after the drop


def test_a_locked_database_keeps_the_gate_shut_and_says_so(tmp_path):
    """No decision without a record: while another process holds the write lock, a resident is not let in,
    the fault is reported once, and the gate recovers when the lock goes."""
    import sqlite3

    scenario = tmp_path / "alice.yaml"
    scenario.write_text(yaml.safe_dump({
        "faces_dir": str(SCENARIOS / "faces"), "tail_s": 0.5,
        "residents": [{"name": "Alice", "photos": ["resident_a/01.jpg", "resident_a/02.jpg"]}],
        "visitors": [{"at": 0.2, "photo": "resident_a/03.jpg", "identity": "Alice", "expect": "granted"}]}))
    config = parse_config({"mqtt": {"enabled": False}, "ui": {"enabled": False}})
    runtime = Runtime(config, state_dir=tmp_path / "state", scenario=load_scenario(scenario), realtime=False,
                      loop=False, control=False, ui=False)
    decisions = []
    runtime.gate.on_decision = lambda decision, pulsed: decisions.append((decision, pulsed))
    other = sqlite3.connect(tmp_path / "state" / "gatepost.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
    try:
        runtime.run(lambda: bool(decisions))
        assert [(d.granted, pulsed) for d, pulsed in decisions] == [(True, False)]
        assert runtime.gate.turnstile.pulses == 0
        assert "database is locked" in runtime.gate.faults["storage"]
        other.execute("ROLLBACK")
        assert runtime.gate.record(EventKind.status, {"state": "test"}) is not None
        assert "storage" not in runtime.gate.faults
    finally:
        other.close()
        runtime.close()


def test_one_daemon_per_state_directory(tmp_path):
    import pytest

    from edge.errors import StorageError

    config = parse_config({"mqtt": {"enabled": False}, "ui": {"enabled": False},
                           "simulation": {"scenario": str(SCENARIOS / "residents_only.yaml")}})
    first = Runtime(config, state_dir=tmp_path / "state", realtime=False, loop=False, control=False, ui=False)
    try:
        with pytest.raises(StorageError, match=r"another gatepost daemon \(pid \d+\) is using this state directory"):
            Runtime(config, state_dir=tmp_path / "state", realtime=False, loop=False, control=False, ui=False)
    finally:
        first.close()
    Runtime(config, state_dir=tmp_path / "state", realtime=False, loop=False, control=False, ui=False).close()


def test_stage_timings_keep_a_bounded_window():
    from edge.gate import GateStats

    stats = GateStats()
    for n in range(2001):
        stats.add({"face": float(n)})
    assert len(stats.stage_ms["face"]) == 1001 and stats.stage_ms["face"][-1] == 2000.0


def test_work_from_another_thread_runs_on_the_frame_loop(tmp_path):
    import threading

    from edge.gate import Gate

    config = parse_config({"mqtt": {"enabled": False}, "ui": {"enabled": False}})
    runtime = Runtime(config, state_dir=tmp_path, realtime=False, loop=False, control=False, ui=False, mqtt=False)
    try:
        gate: Gate = runtime.gate
        future = gate.call_soon(lambda: threading.current_thread().name)
        assert not future.done()  # nothing runs until the loop takes it
        gate.step()
        assert future.result(timeout=1) == threading.current_thread().name
    finally:
        runtime.close()


def test_each_person_teaches_the_thermal_baseline_their_sharpest_reading(tmp_path):
    """Screening mode learns one reading per person: the sharpest canthus reading of their visit, taken while
    they stand at the gate, even after the decision. Residents are often let in on a far face-maximum reading
    the baseline ignores (too blurred to calibrate by), which once left it without a single sample."""
    visitors = [{"at": 3.0 * n, "photo": f"{folder}/03.jpg", "identity": name, "dwell_s": 4.0, "expect": "granted"}
                for n, (name, folder) in enumerate([("Alice", "resident_a"), ("Bob", "resident_b"),
                                                    ("Chen", "resident_c"), ("Dana", "resident_d")])]
    scenario = tmp_path / "four.yaml"
    scenario.write_text(yaml.safe_dump({
        "faces_dir": str(SCENARIOS / "faces"), "tail_s": 1.0,
        "residents": [{"name": v["identity"], "photos": [v["photo"].replace("03", "01")]} for v in visitors],
        "visitors": visitors}))
    config = parse_config({"mqtt": {"enabled": False}, "ui": {"enabled": False}})
    runtime = Runtime(config, state_dir=tmp_path / "state", scenario=load_scenario(scenario), realtime=False,
                      loop=False, control=False, ui=False)
    taught = []
    thermal = next(stage for stage in runtime.gate.stages if stage.name == "thermal")
    learn = thermal.learn
    thermal.learn = lambda reading: (taught.append(reading), learn(reading))
    decisions = []
    runtime.gate.on_decision = lambda decision, pulsed: decisions.append(decision)
    try:
        runtime.run(lambda: False)
    finally:
        runtime.close()
    assert [d.granted for d in decisions] == [True] * 4
    assert len(taught) == 4 and thermal.baseline.samples == 4
    for reading in taught:
        assert reading.available and reading.live and "face maximum" not in reading.flags
        assert reading.uncertainty_c <= 0.3 and abs(reading.temperature_c - 36.6) <= 0.3  # the ideal world: 36.6


def test_a_full_disk_holds_the_gate_shut_and_says_so_instead_of_ending_the_daemon(tmp_path):
    """The state database cannot grow (SQLite's own "database or disk is full"): the gate records nothing, so it
    decides nothing and stays shut; the fault shows; the loop goes on (it used to exit, and systemd restarted it
    into the same full disk, with no guard screen)."""
    scenario = tmp_path / "alice.yaml"
    scenario.write_text(yaml.safe_dump({
        "faces_dir": str(SCENARIOS / "faces"), "tail_s": 2.0,
        "residents": [{"name": "Alice", "photos": ["resident_a/01.jpg"]}],
        "visitors": [{"at": 1.0, "photo": "resident_a/03.jpg", "identity": "Alice", "expect": "granted"}]}))
    from tests.broker import free_port

    # the broker away, so nothing leaves the outbox to make room; telemetry queued every 50 ms
    config = parse_config({"mqtt": {"port": free_port(), "telemetry_interval_s": 0.05}, "ui": {"enabled": False}})
    runtime = Runtime(config, state_dir=tmp_path / "state", scenario=load_scenario(scenario), realtime=False,
                      loop=False, control=False, ui=False)
    world = runtime.hardware.world
    import sqlite3

    full = runtime.store._db
    full.execute("CREATE TABLE filler (x BLOB)")
    pages = full.execute("PRAGMA page_count").fetchone()[0]
    full.execute(f"PRAGMA max_page_count = {pages + 2}")  # a page or two more, then the disk is full
    try:
        while True:
            full.execute("INSERT INTO filler VALUES (zeroblob(2048))")
    except sqlite3.OperationalError as error:
        assert "full" in str(error)
    said = []
    failed = runtime.gate.storage_failed
    runtime.gate.storage_failed = lambda error: (said.append(str(error)), failed(error))
    try:
        runtime.run(lambda: False)  # returns when the scenario ends: it did not raise
        assert said and any("full" in line for line in said)
        assert runtime.gate.stats.frames > 50 and world.finished
        full.execute("PRAGMA max_page_count = 1073741823")
        granted = [e for e in runtime.store.events(kind="decision") if e["granted"]]
        assert runtime.gate.turnstile.pulses == len(granted)  # no opening without its record
    finally:
        full.execute("PRAGMA max_page_count = 1073741823")
        runtime.close()


def test_a_single_use_pass_opens_the_gate_once(tmp_path):
    """The gate counts a pass's use when it opens for it: a single-use pass shown again is refused. (A mutation that
    skipped the count survived: the tests called the store's counter directly.)"""
    import time

    from edge.mqtt.auth import generate_key
    from edge.qr.passes import issue_pass

    private, public = generate_key()
    now = time.time()
    token, _ = issue_pass(private, "site-key", site="demo-site", gates=["*"], holder="plumber", valid_from=now - 60,
                          valid_until=now + 3600, uses=1, kind="visitor")
    visitor = {"photo": "stranger_e/01.jpg", "qr": {"payload": token, "via": "scanner"}, "dwell_s": 4.0}
    scenario = tmp_path / "pass.yaml"
    scenario.write_text(yaml.safe_dump({
        "faces_dir": str(SCENARIOS / "faces"), "tail_s": 1.0,
        "config": {"qr": {"passes": {"public_keys": {"site-key": public}}}},
        "residents": [{"name": "Alice", "photos": ["resident_a/01.jpg"]}],
        "visitors": [{**visitor, "at": 0.5, "expect": "granted"}, {**visitor, "at": 1.0, "expect": "denied"}]}))
    config = parse_config({"mqtt": {"enabled": False}, "ui": {"enabled": False}})
    runtime = Runtime(config, state_dir=tmp_path / "state", scenario=load_scenario(scenario), realtime=False,
                      loop=False, control=False, ui=False)
    decisions = []
    runtime.gate.on_decision = lambda decision, pulsed: decisions.append((decision, pulsed))
    try:
        runtime.run(lambda: False)
    finally:
        runtime.close()
    assert [(d.granted, pulsed) for d, pulsed in decisions] == [(True, True), (False, False)]
    assert decisions[1][0].checks["qr"]["code"] == "code_invalid"


def test_an_exception_in_the_loop_still_turns_the_relay_off(tmp_path):
    """Without the loop's try/finally, an exception while the relay is energised skipped stop(): relay left on."""
    import pytest

    scenario = tmp_path / "alice.yaml"
    scenario.write_text(yaml.safe_dump({
        "faces_dir": str(SCENARIOS / "faces"), "tail_s": 1.0,
        "residents": [{"name": "Alice", "photos": ["resident_a/01.jpg"]}],
        "visitors": [{"at": 0.5, "photo": "resident_a/03.jpg", "identity": "Alice", "expect": "granted"}]}))
    config = parse_config({"mqtt": {"enabled": False}, "ui": {"enabled": False}, "turnstile": {"pulse_ms": 5000}})
    runtime = Runtime(config, state_dir=tmp_path / "state", scenario=load_scenario(scenario), realtime=False,
                      loop=False, control=False, ui=False)
    relay = runtime.hardware.world.relay

    def crash_while_open() -> bool:
        if relay.state:
            raise RuntimeError("a bug in the loop")
        return False

    try:
        with pytest.raises(RuntimeError, match="a bug in the loop"):
            runtime.run(crash_while_open)
        assert relay.state is False
    finally:
        runtime.close()
