"""The rules each of the gate's smaller stores keeps: passes, nonces, guards, cards, movements, groups, tokens,
webhooks, the event journal and the site's temperature calibration (one SQLite file, edge/store/)."""

import json
import sqlite3
import time
from dataclasses import dataclass

import pytest

from edge.events import Event, EventKind
from edge.errors import StorageError
from edge.store import CardRecord, Movement, PassRecord, Store


class Clock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@dataclass
class Claims:
    pid: str
    holder: str = "Visitor"
    nbf: float = 0.0
    exp: float = 2_000_000.0
    uses: int = 1


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def store(tmp_path, clock):
    with Store(tmp_path, clock=clock) as opened:
        yield opened


def test_a_pass_remembered_again_keeps_its_uses_and_revocation(store, clock):
    store.remember_pass(Claims("p1", uses=3), "token-1")
    store.count_pass_use("p1")
    store.revoke_pass("p1")
    clock.now += 10
    store.remember_pass(Claims("p1", holder="Renamed", nbf=10.0, exp=3_000_000.0, uses=5), "token-2")
    assert store.pass_state("p1") == PassRecord("p1", "Renamed", 10.0, 3_000_000.0, 5, 1, True)
    assert store.pass_state("never-seen") is None


def test_a_pass_revoked_before_it_was_seen_stays_revoked_once_seen(store):
    store.revoke_pass("p2")
    assert store.pass_state("p2").revoked
    store.remember_pass(Claims("p2"), "token")
    assert store.pass_state("p2").revoked and store.pass_state("p2").holder == "Visitor"


def test_uses_at_other_gates_only_grow_and_add_to_this_gates(store):
    assert store.note_uses_elsewhere("p3", "gate-2", 2)
    assert not store.note_uses_elsewhere("p3", "gate-2", 2)  # the same report again
    assert not store.note_uses_elsewhere("p3", "gate-2", 1)  # a late one
    assert store.note_uses_elsewhere("p3", "gate-3", 1)
    assert store.pass_state("p3") == PassRecord("p3", "", 0.0, 0.0, 0, 3, False)  # not seen here: known from the others
    store.remember_pass(Claims("p3"), "token")
    store.count_pass_use("p3")
    assert store.pass_state("p3").uses == 4 and store.own_uses_of("p3") == 1
    assert [(record.pass_id, record.uses) for record in store.passes()] == [("p3", 4)]


def test_only_used_passes_still_valid_are_told_to_the_site(store, clock):
    for pass_id, until in (("old", 1_000.0), ("unused", 5_000_000.0), ("used", 5_000_000.0), ("edge", 2_000.0)):
        store.remember_pass(Claims(pass_id, exp=until), "token")
        clock.now += 1
    for pass_id in ("old", "used", "used", "edge"):
        store.count_pass_use(pass_id)
    assert store.own_pass_uses(valid_after=2_000.0) == [("edge", 1), ("used", 2)]  # newest first
    assert store.own_uses_of("unknown") == 0


def test_a_nonce_is_refused_again_until_it_is_older_than_kept(store):
    assert store.remember_nonce("n1", 100.0, keep_s=60)
    assert not store.remember_nonce("n1", 159.0, keep_s=60)
    assert store.remember_nonce("n2", 160.0, keep_s=60)  # forgets what is older than 100: n1 is kept
    assert not store.remember_nonce("n1", 160.0, keep_s=60)
    assert store.remember_nonce("n1", 161.0, keep_s=60)


def test_a_guard_is_locked_out_at_the_last_failure_and_set_again_clears_it(store, clock):
    store.set_guard("g1", "Ann", b"hash", b"salt")
    store.record_pin_attempt("g1", False, max_failures=3, lockout_s=300)
    store.record_pin_attempt("g1", False, max_failures=3, lockout_s=300)
    assert (store.guard("g1").failed, store.guard("g1").locked_until) == (2, 0)
    store.record_pin_attempt("g1", False, max_failures=3, lockout_s=300, now=500.0)
    assert (store.guard("g1").failed, store.guard("g1").locked_until) == (0, 800.0)
    store.record_pin_attempt("g1", False, max_failures=3, lockout_s=300)
    store.record_pin_attempt("g1", True, max_failures=3, lockout_s=300)
    assert store.guard("g1").failed == 0
    store.record_pin_attempt("g1", False, max_failures=1, lockout_s=60)
    assert store.guard("g1").locked_until == clock.now + 60  # the store's clock when the caller gives none
    store.set_guard("g1", "Ann B", b"new", b"pepper")
    assert store.guard("g1") == type(store.guard("g1"))("g1", "Ann B", b"new", b"pepper", 0, 0)
    store.set_guard("g0", "Bo", b"h", b"s")
    assert [guard.guard_id for guard in store.guards()] == ["g0", "g1"]
    assert store.remove_guard("g1") and not store.remove_guard("g1") and store.guard("g1") is None


def test_a_card_belongs_to_one_resident(store, clock):
    assert store.add_card_holder("Kid", "12", b"card-1", "…0001") is not None
    holder_id = store.card_holder(b"card-1")[0]
    assert store.card_holder(b"card-1") == (holder_id, "Kid", None)
    assert store.add_card_holder("Other", "13", b"card-1", "…0001") is None
    assert not store.add_card(b"card-1", holder_id + 1, "…0001")
    clock.now += 1
    assert store.add_card(b"card-2", holder_id, "…0002")
    assert store.cards() == [CardRecord("…0001", holder_id, "Kid", clock.now - 1), CardRecord("…0002", holder_id, "Kid", clock.now)]
    assert store.remove_card(b"card-1") and not store.remove_card(b"card-1")
    assert store.card_holder(b"card-1") is None


def test_a_movement_is_kept_only_if_newer_than_the_one_held_for_its_person_and_gate(store):
    assert store.note_movement(Movement("resident:a", "g1", "in", 100.0))
    assert not store.note_movement(Movement("resident:a", "g1", "out", 100.0))
    assert not store.note_movement(Movement("resident:a", "g1", "out", 99.0))
    assert store.note_movement(Movement("resident:a", "g2", "out", 150.0))
    assert store.last_movement("resident:a") == Movement("resident:a", "g2", "out", 150.0)
    assert store.note_movement(Movement("resident:a", "g1", "reset", 200.0))
    assert store.last_movement("resident:a").direction == "reset" and store.last_movement("nobody") is None
    store.note_movement(Movement("pass:p", "g1", "in", 120.0))
    assert [m.person for m in store.movements_at("g1", since=120.0, limit=5)] == ["resident:a", "pass:p"]
    assert [m.person for m in store.movements_at("g1", since=120.0, limit=1)] == ["resident:a"]
    assert store.forget_movements(before=150.0) == 1 and store.last_movement("pass:p") is None
    assert store.forget_movements(before=150.0) == 0


def test_a_group_record_is_kept_only_if_newer_unless_the_one_held_is_from_a_clock_far_ahead(store, clock):
    now_ms = int(clock.now * 1000)
    assert store.apply_group_record("staff", now_ms, {"hours": "08-18"})
    assert not store.apply_group_record("staff", now_ms, {"hours": "00-24"})
    assert not store.apply_group_record("staff", now_ms - 1, None)
    assert store.site_group_records() == {"staff": {"hours": "08-18"}}
    assert store.apply_group_record("staff", now_ms + 1, None)
    assert store.site_group_records() == {}
    far_ahead = now_ms + 86_400_000 + 5_000
    assert store.apply_group_record("night", far_ahead, {"hours": "wrong"})
    assert store.apply_group_record("night", now_ms + 2, {"hours": "22-06"})  # a right clock wins over it
    exactly_a_day = now_ms + 86_400_000
    assert store.apply_group_record("day", exactly_a_day, {"hours": "a"})
    assert not store.apply_group_record("day", now_ms + 3, {"hours": "b"})


def test_a_token_keeps_its_scopes_and_is_revoked_once(store, clock):
    store.add_token("t1", "integrator", b"hash", ("events:read", "gate:open"))
    record = store.token("t1")
    assert (record.name, record.secret_hash, record.scopes, record.created, record.revoked) == \
        ("integrator", b"hash", ("events:read", "gate:open"), clock.now, None)
    clock.now += 5
    assert store.revoke_token("t1") and not store.revoke_token("t1") and not store.revoke_token("t2")
    assert store.token("t1").revoked == clock.now and store.token("t2") is None
    assert [token.token_id for token in store.tokens()] == ["t1"]


def test_a_webhook_queue_is_read_in_order_and_its_oldest_dropped_beyond_the_bound(store):
    events = [Event(EventKind.decision, {"n": n}) for n in range(5)]
    for event in events:
        store.record_event(event, "topic", hooks=("a",))
    store.record_event(Event(EventKind.alarm, {}), "topic", hooks=("b",))
    batch = store.webhook_batch("a", 2)
    assert [event_id for _, event_id, _ in batch] == [e.event_id for e in events[:2]]
    store.webhook_delivered([seq for seq, _, _ in batch])
    store.webhook_delivered([])
    assert store.webhook_backlog("a") == 3 and store.webhook_backlog("b") == 1
    assert json.loads(batch[0][2])["event_id"] == events[0].event_id  # the event as recorded
    assert store.enforce_webhook_limit("a", 3) == 0 and store.webhook_backlog("a") == 3
    assert store.enforce_webhook_limit("a", 2) == 1
    assert store.enforce_webhook_limit("a", 0) == 2
    assert store.webhook_batch("a", 10) == []
    assert store.webhook_backlog("b") == 1


def test_the_journal_reads_events_by_time_kind_and_cursor(store, clock):
    recorded = []
    for n, kind in enumerate((EventKind.decision, EventKind.alarm, EventKind.decision)):
        event = Event(kind, {"n": n}, time=100.0 + n)
        store.record_event(event, "topic")
        recorded.append(event.event_id)
    ids = lambda events: [event["event_id"] for event in events]  # noqa: E731
    assert ids(store.events(since=101.0)) == recorded[1:]
    assert ids(store.events(kind="decision")) == [recorded[0], recorded[2]]
    assert ids(store.events(limit=2)) == recorded[:2]
    first, cursor = store.events_after(0, 2)
    assert ids(first) == recorded[:2]
    rest, cursor = store.events_after(cursor, 2)
    assert ids(rest) == recorded[2:]
    assert store.events_after(cursor, 2) == ([], cursor)
    assert ids(store.latest_events(2)) == recorded[1:]
    assert store.newest_event_time() == 102.0 and store.event_count() == 3


def test_an_entry_the_broker_took_is_published_again_if_no_collector_confirms_it(store):
    for n in range(3):
        store.record_event(Event(EventKind.decision, {"n": n}), "topic")
    sent = [item.event_id for item in store.outbox_pending()]
    store.outbox_sent(sent[:2], 50.0)
    assert [item.event_id for item in store.outbox_pending()] == sent[2:]
    assert [item.event_id for item in store.outbox_pending(limit=0)] == []
    assert store.outbox_resend_unconfirmed(50.0) == 0
    assert store.outbox_resend_unconfirmed(50.5) == 2
    assert [item.event_id for item in store.outbox_pending()] == sent
    store.queue_telemetry("m1", "status", "{}")
    assert store.outbox_pending()[-1].qos == 0 and store.outbox_pending()[0].qos == 1


def test_the_outbox_limit_is_met_exactly(store):
    store.queue_telemetry("m1", "t", "x" * 36)  # 100 bytes as counted: payload, topic and 64
    store.queue_telemetry("m2", "t", "x" * 36)
    store.record_event(Event(EventKind.decision, {}), "topic")
    size = store.outbox_bytes()
    assert store.enforce_outbox_limit(size) == {"telemetry": 0, "event": 0}
    assert store.enforce_outbox_limit(size - 1) == {"telemetry": 1, "event": 0}
    assert store.enforce_outbox_limit(size - 100) == {"telemetry": 0, "event": 0}
    assert store.enforce_outbox_limit(0) == {"telemetry": 1, "event": 1} and store.outbox_bytes() == 0


def test_the_site_offset_is_the_newest_change_and_each_change_remembers_the_one_before(store, clock):
    assert store.site_offset() == (0, 0.0)
    first = store.change_offset(0.2, 12, "learned", "guard:g1")
    clock.now += 1
    second = store.change_offset(-0.1, 0, f"revert of {first.id}", "admin")
    assert (first.previous_c, second.previous_c, second.time) == (0.0, 0.2, clock.now)
    assert store.site_offset() == (second.id, -0.1)
    assert store.offset_changes() == [second, first] and store.offset_changes(limit=1) == [second]
    with store._transaction() as db:
        db.executemany("INSERT INTO thermal_offsets(time, offset_c, previous_c, pairs, reason, actor) "
                       "VALUES (0, 0, 0, 0, 'reset', 'test')", [()] * 1000)
    assert len(store.offset_changes()) == 1000  # the history shown is the newest thousand


def test_rechecks_are_newest_first(store):
    first = store.add_recheck("v1", 37.9, 37.5, 36.8, "guard:g1")
    second = store.add_recheck("v2", 38.1, 37.8, 38.0, "guard:g2")
    assert store.rechecks(10) == [second, first] and store.rechecks(1) == [second]
    assert (first.visit_id, first.gate_c, first.raw_c, first.clinical_c, first.actor) == \
        ("v1", 37.9, 37.5, 36.8, "guard:g1")


def test_a_residents_deviations_keep_only_the_newest_and_are_forgotten_by_visit_or_age(store, clock):
    ann, bo = (store.add_card_holder(name, "1", name.encode(), "…") for name in ("Ann", "Bo"))
    for n in range(4):
        store.add_resident_deviation(ann, f"v{n}", 0.1 * n, keep=3)
        clock.now += 10
    store.add_resident_deviation(bo, "w0", 0.5, keep=3)
    assert store.resident_deviations(ann, since=0.0, limit=10) == pytest.approx([0.3, 0.2, 0.1])
    assert store.resident_deviations(ann, since=clock.now - 25, limit=10) == pytest.approx([0.3, 0.2])
    assert store.resident_deviations(ann, since=0.0, limit=1) == pytest.approx([0.3])
    assert store.forget_resident_deviation("v3") and not store.forget_resident_deviation("v3")
    assert store.prune_resident_deviations(clock.now - 25) == 1  # v1 (v0 was not kept)
    assert store.resident_deviations(ann, since=0.0, limit=10) == pytest.approx([0.2])
    assert store.resident_deviations(bo, since=0.0, limit=10) == pytest.approx([0.5])


def test_a_recheck_names_a_visit_decided_within_the_week(store, clock):
    store.record_event(Event(EventKind.decision, {"visit_id": "v1", "granted": False}, time=clock.now - 3600), "t")
    store.record_event(Event(EventKind.alarm, {"visit_id": "v2"}, time=clock.now), "t")
    store.record_event(Event(EventKind.decision, {"visit_id": "v3"}, time=clock.now - 8 * 86400), "t")
    assert store.decided_visit("v1")["visit_id"] == "v1"
    assert store.decided_visit("v2") is None and store.decided_visit("v3") is None


def test_the_database_is_durable_and_keeps_its_references(store):
    assert store._query("PRAGMA synchronous")[0][0] == 2  # FULL: a committed decision survives a power cut
    with pytest.raises(StorageError, match="FOREIGN KEY constraint failed"):
        store.add_card(b"card", 424242, "…")  # no such resident
    assert store.cards() == []


def test_a_failed_transaction_leaves_nothing_and_the_store_goes_on(store):
    with pytest.raises(RuntimeError):
        with store._transaction() as db:
            db.execute("INSERT INTO nonces(nonce, seen) VALUES ('half', 1.0)")
            raise RuntimeError("a bug between two writes")
    assert store._query("SELECT COUNT(*) FROM nonces")[0][0] == 0
    assert store.remember_nonce("whole", 1.0, keep_s=60)


def test_a_closed_store_says_so_in_one_line(tmp_path):
    store = Store(tmp_path)
    store.close()
    store.close()  # twice is no error
    for use in (store.outbox_size, lambda: store.remember_nonce("n", 1.0, keep_s=1)):
        with pytest.raises(StorageError, match=r"gatepost.db: store used after close\(\)$"):
            use()


def test_a_database_from_a_newer_gatepost_is_refused_and_left_as_it_is(tmp_path):
    with Store(tmp_path) as store:
        newer = store.schema_version + 1
        store._query(f"PRAGMA user_version = {newer}")
    with pytest.raises(StorageError, match=rf"schema version {newer} is newer than this gatepost \({newer - 1}\)"):
        Store(tmp_path)
    with sqlite3.connect(tmp_path / "gatepost.db") as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == newer


def test_a_state_directory_that_cannot_be_made_or_a_file_that_is_no_database_is_a_storage_error(tmp_path):
    (tmp_path / "a-file").write_text("x")
    with pytest.raises(StorageError, match=r"a-file/state: cannot create the state directory \(\[Errno 20\]"):
        Store(tmp_path / "a-file" / "state")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "gatepost.db").write_bytes(b"not a database" * 100)
    with pytest.raises(StorageError, match=r"gatepost.db: cannot open the state database"):
        Store(tmp_path / "bad")


def test_events_are_listed_from_the_first_and_a_thousand_at_a_time_unless_asked(store):
    with store._transaction() as db:
        db.executemany("INSERT INTO events(event_id, kind, time, payload) VALUES (?, 'decision', ?, ?)",
                       [(f"e{n}", n / 2000, json.dumps({"event_id": f"e{n}"})) for n in range(1001)])
    listed = store.events()
    assert len(listed) == 1000 and listed[0]["event_id"] == "e0"  # at time 0.0 too
    assert len(store.events(limit=2000)) == 1001


def test_the_outbox_hands_out_a_hundred_entries_at_a_time_unless_asked(store):
    with store._transaction() as db:
        db.executemany("INSERT INTO outbox(event_id, topic, payload, created, kind) VALUES (?, 't', '{}', 0, 'event')",
                       [(f"e{n}",) for n in range(101)])
    assert len(store.outbox_pending()) == 100 and len(store.outbox_pending(limit=200)) == 101


def test_a_row_without_an_id_is_a_storage_error_not_row_zero():
    from types import SimpleNamespace

    from edge.store.database import row_id

    assert row_id(SimpleNamespace(lastrowid=7)) == 7
    with pytest.raises(StorageError, match="^the database gave no id for a new row$"):
        row_id(SimpleNamespace(lastrowid=None))


def test_a_state_directory_is_made_with_its_parents_and_a_bad_query_names_the_database(tmp_path):
    with Store(tmp_path / "new" / "state") as store:
        with pytest.raises(StorageError, match=r"/new/state/gatepost.db: no such table: nowhere$"):
            store._query("SELECT 1 FROM nowhere")


def test_a_write_lock_held_elsewhere_fails_a_write_within_about_a_second_not_five(store):
    other = sqlite3.connect(store.path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        started = time.monotonic()
        with pytest.raises(StorageError, match="database is locked"):
            store.remember_nonce("n", 1.0, keep_s=60)
        assert time.monotonic() - started < 3.0  # BUSY_TIMEOUT_S: the gate stays shut, not stalled
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert store.remember_nonce("n", 1.0, keep_s=60)
