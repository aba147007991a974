"""Events and the outbox: every event is written to both in one transaction, before anyone publishes it.

An outbox entry leaves only when the broker (telemetry, or `confirm: broker`) or a collector has
confirmed it; telemetry is the first thing dropped when the outbox is over its bound.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from edge.events import Event
from edge.store.database import Database


@dataclass(frozen=True)
class OutboxItem:
    seq: int
    event_id: str
    topic: str
    payload: str
    qos: int = 1


class EventJournal(Database):
    def record_event(self, event: Event, topic: str, hooks: tuple[str, ...] = ()) -> None:
        """The event, its outbox entry and one queue entry per webhook that wants it, committed together before anyone
        publishes it."""
        payload = event.to_json()
        with self._transaction() as db:
            db.execute("INSERT INTO events(event_id, kind, time, payload) VALUES (?, ?, ?, ?)",
                       (event.event_id, event.kind.value, event.time, payload))
            db.execute("INSERT INTO outbox(event_id, topic, payload, created, kind) VALUES (?, ?, ?, ?, 'event')",
                       (event.event_id, topic, payload, self._clock()))
            for hook in hooks:
                db.execute("INSERT INTO webhook_queue(hook, event_id, payload, created) VALUES (?, ?, ?, ?)",
                           (hook, event.event_id, payload, self._clock()))

    def queue_telemetry(self, message_id: str, topic: str, payload: str) -> None:
        """Telemetry goes through the outbox too, but is the first thing dropped when it is full."""
        with self._transaction() as db:
            db.execute("INSERT INTO outbox(event_id, topic, payload, created, kind, qos) VALUES (?, ?, ?, ?, 'telemetry', 0)",
                       (message_id, topic, payload, self._clock()))

    def outbox_bytes(self) -> int:
        return int(self._query("SELECT COALESCE(SUM(LENGTH(payload) + LENGTH(topic) + 64), 0) FROM outbox")[0][0])

    def enforce_outbox_limit(self, max_bytes: int) -> dict[str, int]:
        """Drop the oldest telemetry, then (only if still over) the oldest events; counts dropped by kind."""
        dropped = {"telemetry": 0, "event": 0}
        with self._transaction() as db:
            size = int(db.execute("SELECT COALESCE(SUM(LENGTH(payload) + LENGTH(topic) + 64), 0) FROM outbox")
                       .fetchone()[0])
            for kind in ("telemetry", "event"):
                while size > max_bytes:
                    rows = db.execute("SELECT seq, LENGTH(payload) + LENGTH(topic) + 64 FROM outbox WHERE kind = ? "
                                      "ORDER BY seq LIMIT 100", (kind,)).fetchall()
                    if not rows:
                        break
                    for seq, length in rows:
                        if size <= max_bytes:
                            break
                        db.execute("DELETE FROM outbox WHERE seq = ?", (seq,))
                        size -= length
                        dropped[kind] += 1
        return dropped

    def events(self, *, since: float = 0.0, kind: str | None = None, limit: int = 1000) -> list[dict]:
        sql = "SELECT payload FROM events WHERE time >= ?"
        params: list = [since]
        if kind:
            sql += " AND kind = ?"
            params.append(kind)
        sql += " ORDER BY seq LIMIT ?"
        params.append(limit)
        return [json.loads(row[0]) for row in self._query(sql, tuple(params))]

    def events_after(self, cursor: int, limit: int) -> tuple[list[dict], int]:
        """Up to `limit` events recorded after `cursor` (0: from the first kept), oldest first, and the cursor to
        ask from next (the last one's; `cursor` again when there is nothing new)."""
        rows = self._query("SELECT seq, payload FROM events WHERE seq > ? ORDER BY seq LIMIT ?", (cursor, limit))
        return [json.loads(payload) for _, payload in rows], (int(rows[-1][0]) if rows else cursor)

    def latest_events(self, count: int) -> list[dict]:
        """The newest `count` events, oldest first."""
        rows = self._query("SELECT payload FROM events ORDER BY seq DESC LIMIT ?", (count,))
        return [json.loads(row[0]) for row in reversed(rows)]

    def newest_event_time(self) -> float | None:
        """When the newest event was recorded, by the clock of the time (indexed: cheap at start)."""
        return self._query("SELECT MAX(time) FROM events")[0][0]

    def event_count(self) -> int:
        return self._query("SELECT COUNT(*) FROM events")[0][0]

    def outbox_pending(self, limit: int = 100) -> list[OutboxItem]:
        """Entries not yet published (or due again), oldest first."""
        rows = self._query("SELECT seq, event_id, topic, payload, qos FROM outbox WHERE sent_at IS NULL "
                           "ORDER BY seq LIMIT ?", (limit,))
        return [OutboxItem(*row) for row in rows]

    def outbox_sent(self, event_ids: list[str], when: float) -> None:
        """The broker has them; they stay until the collector confirms it stored them."""
        with self._transaction() as db:
            db.executemany("UPDATE outbox SET sent_at = ? WHERE event_id = ?", [(when, i) for i in event_ids])

    def outbox_resend_unconfirmed(self, older_than: float) -> int:
        """Entries the broker took but no collector confirmed in time are published again."""
        with self._transaction() as db:
            return db.execute("UPDATE outbox SET sent_at = NULL WHERE sent_at < ?", (older_than,)).rowcount

    def outbox_size(self) -> int:
        return self._query("SELECT COUNT(*) FROM outbox")[0][0]

    def outbox_delivered(self, event_ids: list[str]) -> int:
        """Entries settled for good; returns how many the outbox held (a confirmation may repeat or name others)."""
        with self._transaction() as db:
            return db.executemany("DELETE FROM outbox WHERE event_id = ?",
                                  [(event_id,) for event_id in event_ids]).rowcount

    def prune_events(self, older_than: float) -> int:
        """Delete delivered events older than `older_than`; undelivered ones stay."""
        with self._transaction() as db:
            return db.execute("DELETE FROM events WHERE time < ? AND event_id NOT IN "
                              "(SELECT event_id FROM outbox)", (older_than,)).rowcount
