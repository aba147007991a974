"""The fleet view's operators and audit trail in the collector's database (SQLite here; PostgreSQL in test_db.py):
a password replaced, not added; the audit newest first, bounded, and readable as written."""

from __future__ import annotations

import pytest

from collector.db import CollectorDB


@pytest.fixture
def db(tmp_path):
    database = CollectorDB(f"sqlite:///{tmp_path}/collector.db")
    yield database
    database.close()


def test_an_operator_s_password_is_replaced_and_an_unknown_one_has_none(db):
    assert db.operator("ops") is None
    db.set_operator("ops", b"h1", b"s1")
    db.set_operator("auditor", b"h2", b"s2")
    assert db.operator("ops") == (b"h1", b"s1")
    db.set_operator("ops", b"h3", b"s3")
    assert (db.operator("ops"), db.operator("auditor")) == ((b"h3", b"s3"), (b"h2", b"s2"))
    assert db.operator("OPS") is None


def test_the_audit_is_read_newest_first_to_its_bound_as_it_was_written(db):
    for n in range(5):
        db.audit("ops", "search", {"n": n, "gate": "东门"}, when=1000.0 + n)
    db.audit("李", "login", {}, when=999.0)
    log = db.audit_log(3)
    assert log == [(1004.0, "ops", "search", {"gate": "东门", "n": 4}), (1003.0, "ops", "search", {"gate": "东门", "n": 3}),
                   (1002.0, "ops", "search", {"gate": "东门", "n": 2})]
    assert db.audit_log()[-1] == (999.0, "李", "login", {}) and len(db.audit_log()) == 6
    with db._cursor() as cursor:  # read by people with SQL too: the words as written, keys in order
        cursor.execute("SELECT detail FROM audit WHERE time = 1004.0")
        assert cursor.fetchone()[0] == '{"gate": "东门", "n": 4}'


def test_the_audit_is_read_to_a_hundred_rows_unless_told(db):
    for n in range(101):
        db.audit("ops", "search", {}, when=float(n))
    assert [row[0] for row in db.audit_log()] == [float(n) for n in range(100, 0, -1)]
