import os
import signal
import subprocess
import sys
import textwrap

import numpy as np

from edge.events import Event, EventKind
from edge.store import MIGRATIONS, Store
from tests.conftest import ROOT


def test_schema_is_migrated_and_wal_is_on(tmp_path):
    with Store(tmp_path) as store:
        assert store.schema_version == len(MIGRATIONS)
        assert store._query("PRAGMA journal_mode")[0][0] == "wal"


def test_event_and_outbox_are_written_together(tmp_path):
    with Store(tmp_path) as store:
        event = Event(EventKind.decision, {"granted": True})
        store.record_event(event, "gatepost/s/g/event")
        assert store.events()[0]["event_id"] == event.event_id
        assert [item.event_id for item in store.outbox_pending()] == [event.event_id]
        assert store.outbox_delivered([event.event_id, "never-held"]) == 1
        assert store.outbox_size() == 0 and store.event_count() == 1
        assert store.outbox_delivered([event.event_id]) == 0  # a repeated confirmation settles nothing


def test_resident_with_templates_is_all_or_nothing(tmp_path):
    with Store(tmp_path) as store:
        good = [np.ones(4, np.float32)]
        try:
            store.add_resident("Ann", "1", good + good, [1.0], ["a.jpg", "b.jpg"])  # mismatched lists
        except ValueError:
            pass
        assert store.residents() == []
        resident = store.add_resident("Ann", "1", good, [1.0], ["a.jpg"])
        gallery = store.gallery()
        assert gallery.owners.tolist() == [resident] and gallery.version == 1
        assert store.remove_resident(resident)
        assert store.gallery().embeddings.shape[0] == 0


WRITER = textwrap.dedent("""
    import sys
    from edge.events import Event, EventKind
    from edge.store import Store
    store = Store(sys.argv[1])
    n = 0
    while True:
        store.record_event(Event(EventKind.decision, {"n": n, "pad": "x" * 500}), "t")
        print(n, flush=True)   # printed only after the commit returned
        n += 1
""")


def test_sigkill_during_writes_loses_no_committed_event(tmp_path):
    for _ in range(3):
        process = subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path)], stdout=subprocess.PIPE,
                                   text=True, cwd=ROOT)
        committed = -1
        for line in process.stdout:
            committed = int(line)
            if committed >= 40:
                break
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
        with Store(tmp_path) as store:
            assert store._query("PRAGMA integrity_check")[0][0] == "ok"
            numbers = [event["n"] for event in store.events(limit=100000)]
            outbox = store.outbox_size()
        # every event whose commit returned is there, in the outbox too; the round restarts at 0
        assert numbers.count(committed) >= 1
        assert outbox == len(numbers)
        assert len(set(e for e in numbers)) >= committed + 1


def test_prune_keeps_undelivered_events(tmp_path):
    with Store(tmp_path) as store:
        old_delivered = Event(EventKind.decision, {}, time=1000.0)
        old_pending = Event(EventKind.decision, {}, time=1000.0)
        recent = Event(EventKind.decision, {}, time=5000.0)
        for event in (old_delivered, old_pending, recent):
            store.record_event(event, "t")
        store.outbox_delivered([old_delivered.event_id, recent.event_id])
        assert store.prune_events(older_than=2000.0) == 1
        assert {e["event_id"] for e in store.events()} == {old_pending.event_id, recent.event_id}


def test_full_outbox_drops_oldest_telemetry_first_then_events(tmp_path):
    with Store(tmp_path) as store:
        events = []
        for n in range(10):
            store.queue_telemetry(f"t{n}", "t", "x" * 1000)
            event = Event(EventKind.decision, {"pad": "y" * 1000})
            store.record_event(event, "e")
            events.append(event.event_id)
        limit = store.outbox_bytes() - 5 * (1000 + len("t") + 64)  # five telemetry rows
        assert store.enforce_outbox_limit(limit) == {"telemetry": 5, "event": 0}
        remaining = [item.event_id for item in store.outbox_pending(100)]
        assert remaining[:2] == [events[0], events[1]]  # oldest events kept, oldest telemetry gone
        assert "t0" not in remaining and "t9" in remaining
        dropped = store.enforce_outbox_limit(3 * 1200)
        assert dropped["telemetry"] == 5 and dropped["event"] > 0
        assert store.event_count() == 10  # dropped from the outbox, never from the events table


def test_latest_events_are_the_newest_oldest_first(tmp_path):
    with Store(tmp_path) as store:
        for n in range(5):
            store.record_event(Event(EventKind.status, {"n": n}), "t")
        assert [e["n"] for e in store.latest_events(3)] == [2, 3, 4]


def test_a_removal_is_final_against_older_site_records(tmp_path):
    """A resident removed here (console, CLI) does not come back when the site's retained record is replayed."""
    import numpy as np

    with Store(tmp_path) as store:
        template = np.ones(128, np.float32) / np.sqrt(128)
        assert store.apply_resident_record("uid-bob", 1_700_000_000_000, name="Bob", embeddings=[template])
        bob = store.resident_by_uid("uid-bob")
        assert store.remove_resident(bob.id)
        assert not store.apply_resident_record("uid-bob", 1_700_000_000_000, name="Bob", embeddings=[template])
        assert store.resident_by_uid("uid-bob") is None
        assert store.apply_resident_record("uid-bob", 1_700_000_000_001 + 1, name="Bob", embeddings=[template])


def test_each_concern_is_its_own_class_over_the_one_database(tmp_path):
    from edge.store import MIGRATIONS, EventJournal, GuardRecord, GuardRecords, PassRecords

    with GuardRecords(tmp_path) as guards:  # a part alone opens (and migrates) the same file
        guards.set_guard("7", "Wang", b"hash", b"salt")
        assert guards.guard("7") == GuardRecord("7", "Wang", b"hash", b"salt", 0, 0.0)
        assert not hasattr(guards, "record_event")
    with EventJournal(tmp_path) as journal:
        assert journal.schema_version == len(MIGRATIONS) and journal.outbox_size() == 0
    with PassRecords(tmp_path) as passes:
        passes.revoke_pass("p-1")
        (record,) = passes.passes()
        assert (record.pass_id, record.revoked, record.uses) == ("p-1", True, 0)
    with Store(tmp_path) as store:
        assert [g.name for g in store.guards()] == ["Wang"] and store.pass_state("p-1").revoked


def test_a_record_from_a_clock_ten_years_ahead_does_not_outlive_a_removal_from_a_right_one(tmp_path):
    """Record versions are administrators' clocks: a resident enrolled from a machine ten years ahead could no
    longer be removed from one with the right time. A version dated far ahead of this gate's clock no longer holds."""
    import time

    import numpy as np

    now = time.time()
    with Store(tmp_path) as store:
        vector = np.ones(128, np.float32) / np.sqrt(128)
        ahead = int((now + 10 * 365 * 86400) * 1000)
        assert store.apply_resident_record("uid-1", ahead, name="Ann", embeddings=[vector])
        assert store.apply_resident_record("uid-1", int(now * 1000), embeddings=None)  # removed, rightly
        assert store.resident_by_uid("uid-1") is None
        assert not store.apply_resident_record("uid-1", int(now * 1000) - 5, name="Ann", embeddings=[vector])


def test_every_path_that_changes_templates_bumps_the_gallery_version(tmp_path):
    """A site-wide removal that did not bump the version left the removed resident in the running matcher."""
    import numpy as np

    vector = np.ones(128, np.float32) / np.sqrt(128)
    with Store(tmp_path) as store:
        versions = [store.gallery_version]
        store.apply_resident_record("uid-9", 5, name="Ann", embeddings=[vector])
        versions.append(store.gallery_version)
        store.apply_resident_record("uid-9", 6, embeddings=None)  # removed site-wide
        versions.append(store.gallery_version)
        resident = store.add_resident("Bo", "", [vector], [1.0], ["cli"])
        versions.append(store.gallery_version)
        store.add_templates(resident, [vector], [1.0], ["more"])
        versions.append(store.gallery_version)
        store.adapt(resident, vector, 1.0, "visit", keep=1)
        versions.append(store.gallery_version)
        store.remove_resident(resident)
        versions.append(store.gallery_version)
    assert versions == sorted(set(versions)) and len(versions) == 7
