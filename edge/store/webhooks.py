"""Events waiting for webhook receivers: written with the event (EventJournal.record_event), read in order, gone
once the receiver took them. A bound keeps a receiver gone for weeks from filling the disk: the oldest go first,
counted."""

from __future__ import annotations

from edge.store.database import Database


class WebhookQueue(Database):
    def webhook_batch(self, hook: str, limit: int) -> list[tuple[int, str, str]]:
        """The oldest waiting (seq, event_id, payload) of `hook`."""
        return [(int(seq), str(event_id), str(payload)) for seq, event_id, payload in self._query(
            "SELECT seq, event_id, payload FROM webhook_queue WHERE hook = ? ORDER BY seq LIMIT ?", (hook, limit))]

    def webhook_delivered(self, seqs: list[int]) -> None:
        if not seqs:
            return
        with self._transaction() as db:
            db.executemany("DELETE FROM webhook_queue WHERE seq = ?", [(seq,) for seq in seqs])

    def webhook_backlog(self, hook: str) -> int:
        return int(self._query("SELECT COUNT(*) FROM webhook_queue WHERE hook = ?", (hook,))[0][0])

    def enforce_webhook_limit(self, hook: str, max_waiting: int) -> int:
        """Drop the oldest beyond `max_waiting`; how many were dropped."""
        with self._transaction() as db:
            waiting = int(db.execute("SELECT COUNT(*) FROM webhook_queue WHERE hook = ?", (hook,)).fetchone()[0])
            excess = max(0, waiting - max_waiting)  # (SQLite reads a negative LIMIT as none)
            db.execute("DELETE FROM webhook_queue WHERE seq IN (SELECT seq FROM webhook_queue WHERE hook = ? "
                       "ORDER BY seq LIMIT ?)", (hook, excess))
            return excess
