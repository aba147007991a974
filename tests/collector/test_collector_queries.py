"""The fleet view's queries, each filter and bound stated: search, hourly counts, stage timings,
alarms, gates, batches and lag (SQLite; the PostgreSQL statements that differ are in test_db.py)."""

import json
import time

import pytest

from collector.db import DAY_S, CollectorDB
from tests.postgres import postgres_server

HOUR = 1_700_000_000 // 3600 * 3600


@pytest.fixture()
def db(tmp_path):
    database = CollectorDB(f"sqlite:///{tmp_path}/c.db")
    yield database
    database.close()


def event(event_id: str, when: float | None, *, site: str = "s1", gate: str = "g1", kind: str = "decision",
          **extra) -> dict:
    body = {"event_id": event_id, "site": site, "gate": gate, "kind": kind, **extra}
    if when is not None:
        body["time"] = when
    return body


def ids(rows: list[dict]) -> list[str]:
    return [row["event_id"] for row in rows]


@pytest.fixture()
def searched(db):
    db.insert_events([event("e0", None, granted=False),  # no time: stored at 0, and still found
                      event("e1", HOUR + 10, granted=True, resident_id="r1"),
                      event("e2", HOUR + 20, gate="g2", kind="alarm", alarm="fever", pass_id="p1"),
                      event("e3", HOUR + 30, site="s2", granted=True)])
    return db


def test_search_finds_newest_first_by_each_field(searched):
    db = searched
    assert ids(db.search()) == ["e3", "e2", "e1", "e0"]
    assert all(row["stored"] > HOUR for row in db.search())
    assert ids(db.search(site="s1")) == ["e2", "e1", "e0"]
    assert ids(db.search(gate="g2")) == ["e2"]
    assert ids(db.search(kind="alarm")) == ["e2"]
    assert ids(db.search(resident="r1")) == ["e1"]
    assert ids(db.search(pass_id="p1")) == ["e2"]
    assert ids(db.search(since=HOUR + 10, until=HOUR + 30)) == ["e2", "e1"]  # from `since`, up to before `until`
    assert ids(db.search(limit=2)) == ["e3", "e2"]
    assert ids(db.events()) == ["e0", "e1", "e2", "e3"]  # exports: oldest first
    assert ids(db.events(site="s1")) == ["e0", "e1", "e2"]
    assert ids(db.events(gate="g2")) == ids(db.events(kind="alarm")) == ["e2"]
    assert ids(db.events(since=HOUR + 20, limit=1)) == ["e2"]


def test_lists_stop_at_their_default_lengths(db):
    db.insert_events([event(f"a{n}", HOUR + n, kind="alarm", alarm="fever") for n in range(1001)])
    assert len(db.search()) == 100 and ids(db.search())[0] == "a1000"
    assert len(db.alarms()) == 50 and db.alarms()[0]["event_id"] == "a1000"
    assert len(db.events()) == 1000 and ids(db.events())[-1] == "a999"
    for n in range(101):
        db.quarantine("gatepost/s1/g1/event", b"{", "event: not JSON", HOUR + n)
    assert len(db.quarantined()) == 100 and db.quarantined()[0][0] == HOUR + 100


def test_alarms_say_who_acknowledged_them_and_when(searched):
    db = searched
    db.insert_events([event("e4", None, kind="alarm", alarm="spoof")])  # no time: listed all the same
    assert [(a["event_id"], a["acknowledged_by"], a["acknowledged_at"]) for a in db.alarms()] == [
        ("e2", None, None), ("e4", None, None)]
    assert db.acknowledge_alarm("e2", "olga", HOUR + 99)
    assert not db.acknowledge_alarm("e2", "ivan", HOUR + 100)  # once
    assert not db.acknowledge_alarm("e1", "ivan", HOUR + 100)  # not an alarm
    assert db.alarms(since=HOUR)[0] == {**event("e2", HOUR + 20, gate="g2", kind="alarm", alarm="fever", pass_id="p1"),
                                        "acknowledged_by": "olga", "acknowledged_at": HOUR + 99}
    assert ids(db.alarms(since=HOUR)) == ["e2"]


def test_hourly_counts_sum_the_chosen_gates_from_the_hour_of_since(db):
    db.insert_events([event("e0", None, granted=True),
                      event("e1", HOUR + 10, granted=True),
                      event("e2", HOUR + 3600 + 10, granted=True),
                      event("e3", HOUR + 3600 + 20, gate="g2", granted=True),
                      event("e4", HOUR + 3600 + 30, site="s2", granted=True)])
    assert db.hourly_counts()[0] == (0, "entries", 1)
    assert db.hourly_counts(since=HOUR + 3600 + 1800) == [(HOUR + 3600, "entries", 3)]  # the hour `since` falls in
    assert db.hourly_counts(since=HOUR + 1, site="s1") == [(HOUR, "entries", 1), (HOUR + 3600, "entries", 2)]
    assert db.hourly_counts(since=HOUR, gate="g2") == [(HOUR + 3600, "entries", 1)]


def test_stage_timings_from_the_hour_of_since_for_the_chosen_gates(db):
    face = {"face": (10.0, 30.0)}
    db.add_telemetry([("s1", "g1", face, {}, 0, 5.0)], time=100.0)
    db.add_telemetry([("s1", "g1", face, {}, 0, 5.0)], time=HOUR + 3599)  # the hour before
    db.add_telemetry([("s3", "g1", {"qr": (0.25, 0.5)}, {}, 0, 5.0)], time=HOUR)  # under a millisecond
    assert db.stage_timings(site="s3") == [("s3", "g1", HOUR, "qr", 0.25, 0.5)]
    db.add_telemetry([("s1", "g1", face, {}, 0, 5.0), ("s1", "g2", {"face": (20.0, 50.0)}, {}, 0, 5.0),
                      ("s2", "g1", face, {}, 0, 5.0)], time=HOUR + 3600 + 10)
    assert db.stage_timings()[0] == ("s1", "g1", 0, "face", 10.0, 30.0)
    assert db.stage_timings(since=HOUR + 3600 + 1800) == [
        ("s1", "g1", HOUR + 3600, "face", 10.0, 30.0), ("s1", "g2", HOUR + 3600, "face", 20.0, 50.0),
        ("s2", "g1", HOUR + 3600, "face", 10.0, 30.0)]
    assert db.stage_timings(since=HOUR, site="s1", gate="g2") == [("s1", "g2", HOUR + 3600, "face", 20.0, 50.0)]


def test_gates_say_when_each_was_last_heard_and_its_health(db):
    db.set_statuses([("s1", "g1", "online")], HOUR + 5)
    db.add_telemetry([("s1", "g1", {}, {"camera": "unplugged"}, 3, 4.5), ("s1", "g2", {}, {}, 0, 5.0)], HOUR + 9)
    db.set_statuses([("s1", "g3", "offline")], HOUR + 7)
    rows = {(g.site, g.gate): (g.status, g.last_seen, g.faults, g.outbox, g.fps) for g in db.gates()}
    assert rows == {("s1", "g1"): ("online", HOUR + 9, {"camera": "unplugged"}, 3, 4.5),
                    ("s1", "g2"): ("unknown", HOUR + 9, {}, 0, 5.0),
                    ("s1", "g3"): ("offline", HOUR + 7, {}, None, None)}


def test_batches_and_lag_are_measured_from_each_rows_commit(db):
    before = time.time()
    db.insert_events([event("e1", before - 5.0), event("e2", before - 5.0)])
    db.insert_events([event("e3", 0.5)])
    after = time.time()
    batches = db.batches(since=before)
    assert [count for _, count in batches] == [2, 1] and all(before <= t <= after for t, _ in batches)
    assert db.batches(since=after + 1) == []
    lags = db.lag(since=before - 10)
    assert len(lags) == 2 and all(5.0 <= lag <= after - before + 5.0 for lag in lags)
    assert len(db.lag()) == 3


def test_a_day_dropped_by_retention_takes_late_events_again_on_postgresql():
    """A gate away for longer than the retention can still deliver: its day's partition is made again."""
    server = postgres_server()
    db = CollectorDB(server.url)
    try:
        day = HOUR // DAY_S * DAY_S
        db.insert_events([event("e1", day + 10)])
        assert db.drop_before(day + DAY_S) == 1 and db.count() == 0
        assert db.insert_events([event("e2", day + 20)]) == 1 and db.count() == 1
        alias = CollectorDB(server.url.replace("postgresql://", "postgres://", 1))  # libpq's other scheme
        assert alias.postgres and alias.count() == 1
        alias.close()
    finally:
        db.close()
        server.stop()


def test_a_batch_refused_on_a_new_day_leaves_that_day_open_to_the_next_on_postgresql():
    """A refused batch rolled back the day's new partition while the partition was remembered: every later
    event of that day was refused ("no partition") and quarantined, until the collector restarted."""
    server = postgres_server()  # skips without psycopg
    import psycopg

    db = CollectorDB(server.url)
    try:
        day = HOUR // DAY_S * DAY_S
        with pytest.raises(psycopg.DataError, match="NUL"):  # PostgreSQL's text holds no NUL
            db.insert_events([event("e1", day + 10), event("e\x002", day + 20)])
        assert db.count() == 0
        assert db.insert_events([event("e3", day + 30)]) == 1 and db.count() == 1
    finally:
        db.close()
        server.stop()


def test_a_quarantined_message_is_kept_as_text_at_most_64_kb_with_odd_bytes_escaped(db):
    db.quarantine("gatepost/s1/g1/event\x00", b"\xff{\x00}" + b"x" * 70_000, "event: not JSON\x00", HOUR)
    [(received, topic, payload, reason)] = db.quarantined()
    assert (received, topic, reason) == (HOUR, "gatepost/s1/g1/event", "event: not JSON")
    assert payload.startswith("\\xff{\\x00}xx") and len(payload) == 65536 - 4 + len("\\xff{\\x00}")


def test_an_event_without_site_gate_or_time_is_counted_at_hour_zero_under_no_gate(db):
    db.insert_events([{"event_id": "e1", "kind": "decision", "granted": True}])
    assert db.hourly_counts() == [(0, "entries", 1)]
    assert db.hourly_counts(site="s1") == [] and db.hourly_counts(gate="g1") == []


def test_events_of_one_gate_and_hour_add_up_in_one_batch(db):
    db.insert_events([event("e1", HOUR + 1, granted=True), event("e2", HOUR + 2, granted=True)])
    db.insert_events([event("e3", HOUR + 3, granted=True)])
    assert db.hourly_counts(site="s1", gate="g1") == [(HOUR, "entries", 3)]


def test_an_event_is_stored_as_the_gate_sent_it_and_texts_must_match_the_events(db, tmp_path):
    import sqlite3

    text = '{"event_id": "e1",  "kind": "decision", "site": "s1", "gate": "g1", "time": 1700000000}'
    db.insert_events([json.loads(text)], [text])
    with sqlite3.connect(tmp_path / "c.db") as raw:
        assert raw.execute("SELECT payload FROM events").fetchall() == [(text,)]
    with pytest.raises(ValueError):
        db.insert_events([event("e2", HOUR), event("e3", HOUR)], ["{}"])
    assert db.count() == 1


def test_a_closed_database_lets_its_connection_go_and_opens_again_when_used(db):
    import sqlite3

    db.insert_events([event("e1", HOUR)])
    connection = db._db
    db.close()
    with pytest.raises(sqlite3.ProgrammingError):
        connection.execute("SELECT 1")
    assert db.count() == 1


def test_a_postgresql_url_without_psycopg_says_what_to_install(monkeypatch):
    import sys

    from edge.errors import StorageError

    monkeypatch.setitem(sys.modules, "psycopg", None)  # as if it were not installed
    with pytest.raises(StorageError) as refused:
        CollectorDB("postgresql://collector@127.0.0.1:1/events")
    assert str(refused.value) == "a PostgreSQL URL needs the psycopg package (pip install 'psycopg[binary]')"


def test_sqlite_urls_name_a_file_as_sqlalchemy_does(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for url, file in (("sqlite:///relative.db", tmp_path / "relative.db"), ("sqlite://short.db", tmp_path / "short.db"),
                      (f"sqlite:///{tmp_path}/new/folders/absolute.db", tmp_path / "new" / "folders" / "absolute.db")):
        CollectorDB(url).close()
        assert file.is_file(), url


def test_a_database_out_of_reach_is_named_without_its_password():
    from edge.errors import StorageError

    with pytest.raises(StorageError) as refused:
        CollectorDB("postgresql://collector:secret@127.0.0.1:1/events")
    assert str(refused.value).startswith("cannot connect to 127.0.0.1:1/events: ") and "secret" not in str(refused.value)
    # libpq ends the password at its first '@' (or '/', '?', '#') and reads the rest as the host or the database
    for password in ("se@cret", "se/cret", "se?cret", "se#cret"):
        with pytest.raises(StorageError) as refused:
            CollectorDB(f"postgresql://collector:{password}@127.0.0.1:1/events")
        assert str(refused.value) == ("database URL: write '@', '/', '?' and '#' in its user name or password as "
                                      "%40, %2F, %3F and %23")
    with pytest.raises(StorageError) as refused:  # escaped, as asked: tried, and named without it
        CollectorDB("postgresql://collector:se%2Fcret@127.0.0.1:1/events")
    assert str(refused.value).startswith("cannot connect to 127.0.0.1:1/events: ")


def test_a_database_address_is_shown_without_user_or_password():
    from collector.database_url import database_address

    assert database_address("postgresql://u:p@db.example:5432/fleet?application_name=a@b") == (
        "db.example:5432/fleet?application_name=a@b")
    assert database_address("postgresql://db.example/fleet") == "db.example/fleet"
    assert database_address("sqlite:///fleet.db") == "fleet.db"  # the file as opened: relative to the working folder
    assert database_address("sqlite:////srv/a@b/fleet.db") == "/srv/a@b/fleet.db"
    assert database_address("postgresql://u@db/fleet?password=secret&sslmode=require&x=y") == "db/fleet?sslmode=require&x=y"
    assert database_address("postgresql://u@db/fleet?password=secret") == "db/fleet"
    assert database_address("postgresql:///fleet?host=/var/run/postgresql") == "/fleet?host=/var/run/postgresql"
    assert database_address("postgresql://u:p@db/fleet?password=a=b&application_name=a://b") == (
        "db/fleet?application_name=a://b")
    for unclear in ("postgresql://u:pa/ss@db/fleet", "postgresql://u:pa?ss@db/fleet", "postgresql://u:pa#ss@db/fleet",
                    "postgresql://u:p@ss@db/fleet", "postgresql://u:p?a=1&b@db/fleet",
                    "postgresql://u:pa/ss@db/fleet?application_name=a://b"):
        assert database_address(unclear) == "a database (its URL not shown: the user name or password needs escapes)"
