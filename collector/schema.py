"""What the collector stores: its tables (SQLite and PostgreSQL), and the row and hourly counters one event makes."""

from __future__ import annotations

import json
from typing import Any

EVENT_COLUMNS = ("event_id", "site", "gate", "kind", "time", "granted", "resident_id", "pass_id", "alarm", "reason",
                 "stored", "payload")

EVENTS = """CREATE TABLE IF NOT EXISTS events (
    event_id TEXT NOT NULL,
    site TEXT NOT NULL,
    gate TEXT NOT NULL,
    kind TEXT NOT NULL,
    time DOUBLE PRECISION NOT NULL,
    granted BOOLEAN,
    resident_id TEXT,
    pass_id TEXT,
    alarm TEXT,
    reason TEXT,
    stored DOUBLE PRECISION,
    payload TEXT NOT NULL,
    PRIMARY KEY (event_id{key})
){partitioned}"""
SHARED = (  # the same on both
    "CREATE INDEX IF NOT EXISTS events_gate_time ON events(site, gate, time)",
    "CREATE INDEX IF NOT EXISTS events_kind_time ON events(kind, time)",
    "CREATE INDEX IF NOT EXISTS events_resident ON events(resident_id, time) WHERE resident_id IS NOT NULL",
    "CREATE INDEX IF NOT EXISTS events_pass ON events(pass_id, time) WHERE pass_id IS NOT NULL",
    """CREATE TABLE IF NOT EXISTS gate_status (
        site TEXT NOT NULL,
        gate TEXT NOT NULL,
        status TEXT NOT NULL,
        time DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (site, gate)
    )""",
    # the latest telemetry of each gate: open faults and outbox depth for the fleet view
    """CREATE TABLE IF NOT EXISTS gate_health (
        site TEXT NOT NULL,
        gate TEXT NOT NULL,
        time DOUBLE PRECISION NOT NULL,
        faults TEXT NOT NULL,
        outbox INTEGER NOT NULL,
        fps DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (site, gate)
    )""",
    # messages refused with their reason, kept so that one poison message is looked at, not redelivered forever
    """CREATE TABLE IF NOT EXISTS quarantine (
        received DOUBLE PRECISION NOT NULL,
        topic TEXT NOT NULL,
        payload TEXT NOT NULL,
        reason TEXT NOT NULL
    )""",
    # per gate, hour and stage, from the gates' telemetry: the mean of the reported p50s and the
    # worst reported p95 (each report covers the gate's latest frames)
    """CREATE TABLE IF NOT EXISTS stage_timings (
        site TEXT NOT NULL,
        gate TEXT NOT NULL,
        hour BIGINT NOT NULL,
        stage TEXT NOT NULL,
        reports INTEGER NOT NULL,
        p50_sum DOUBLE PRECISION NOT NULL,
        p95_max DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (site, gate, hour, stage)
    )""",
    # per gate and hour: entries, denials, denial:<code>, alarm:<kind>
    """CREATE TABLE IF NOT EXISTS hourly_counts (
        site TEXT NOT NULL,
        gate TEXT NOT NULL,
        hour BIGINT NOT NULL,
        metric TEXT NOT NULL,
        count BIGINT NOT NULL,
        PRIMARY KEY (site, gate, hour, metric)
    )""",
    "CREATE INDEX IF NOT EXISTS hourly_counts_hour ON hourly_counts(hour)",
    """CREATE TABLE IF NOT EXISTS alarm_acks (
        event_id TEXT PRIMARY KEY,
        operator TEXT NOT NULL,
        time DOUBLE PRECISION NOT NULL
    )""",
    # every read and action in the fleet view, by whom
    """CREATE TABLE IF NOT EXISTS audit (
        time DOUBLE PRECISION NOT NULL,
        operator TEXT NOT NULL,
        action TEXT NOT NULL,
        detail TEXT NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS audit_time ON audit(time)",
)
OPERATORS_POSTGRES = """CREATE TABLE IF NOT EXISTS operators (
            name TEXT PRIMARY KEY,
            password_hash BYTEA NOT NULL,
            salt BYTEA NOT NULL,
            created DOUBLE PRECISION NOT NULL
        )"""
OPERATORS_SQLITE = """CREATE TABLE IF NOT EXISTS operators (
            name TEXT PRIMARY KEY,
            password_hash BLOB NOT NULL,
            salt BLOB NOT NULL,
            created REAL NOT NULL
        )"""
# face snapshots the gates chose to send (storage.snapshots_to_collector): kept as long as the events
SNAPSHOTS = """CREATE TABLE IF NOT EXISTS snapshots (
            event_id TEXT PRIMARY KEY,
            site TEXT NOT NULL,
            gate TEXT NOT NULL,
            time DOUBLE PRECISION NOT NULL,
            jpeg {blob} NOT NULL
        )"""


def tables(postgres: bool) -> list[str]:
    events = EVENTS.format(key=", time", partitioned=" PARTITION BY RANGE (time)") if postgres \
        else EVENTS.format(key="", partitioned="")
    return [events, *SHARED, OPERATORS_POSTGRES if postgres else OPERATORS_SQLITE,
            SNAPSHOTS.format(blob="BYTEA" if postgres else "BLOB"),
            "CREATE INDEX IF NOT EXISTS snapshots_time ON snapshots(time)"]


# columns added since the first schema; an older database gets them on open
ADDED_COLUMNS = [("events", name, kind) for name, kind in (
    ("granted", "BOOLEAN"), ("resident_id", "TEXT"), ("pass_id", "TEXT"), ("alarm", "TEXT"), ("reason", "TEXT"),
    ("stored", "DOUBLE PRECISION"))]


def event_row(message: dict[str, Any], stored: float, text: str | None = None) -> tuple:
    """The stored row of an event: the columns the fleet view searches, and the whole message as JSON
    (`text`, when the caller has the message's own JSON already)."""
    kind = str(message.get("kind", ""))
    granted = message.get("granted") if kind == "decision" and isinstance(message.get("granted"), bool) else None
    codes = message.get("reason_codes")
    reason = str(codes[0])[:64] if isinstance(codes, list) and codes else None
    resident = message.get("resident_id")
    pass_id = message.get("pass_id")
    alarm = message.get("alarm") if kind == "alarm" else None
    return (message["event_id"], str(message.get("site", "")), str(message.get("gate", "")), kind,
            float(message.get("time", 0)), granted, None if resident is None else str(resident)[:64],
            None if pass_id is None else str(pass_id)[:64], None if alarm is None else str(alarm)[:32], reason,
            stored, text if text is not None else json.dumps(message, separators=(",", ":"), sort_keys=True))


def metrics(message: dict[str, Any]) -> list[str]:
    """The hourly counters one event adds to."""
    kind = message.get("kind")
    if kind == "decision":
        if message.get("granted"):
            return [] if message.get("same_opening_as") else ["entries"]  # one person, one opening
        codes = message.get("reason_codes")
        return ["denials", *(f"denial:{str(code)[:64]}" for code in (codes if isinstance(codes, list) and codes
                                                                      else ["unspecified"]))]
    if kind == "alarm":
        return [f"alarm:{str(message.get('alarm', 'unknown'))[:32]}"]
    return []


