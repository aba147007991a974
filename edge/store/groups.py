"""Access groups edited from the console: the newest signed record of each, as this gate received it."""

from __future__ import annotations

import json

from edge.store.database import Database

RECORD_AHEAD_MS = 86_400_000  # a version (an administrator's clock, in ms) further ahead is not held against a newer one


class GroupRecords(Database):
    def apply_group_record(self, name: str, version: int, body: dict | None) -> bool:
        """Keep a group's record (None: removed) if newer than the one held; a replay or a late delivery changes
        nothing. True if applied."""
        with self._transaction() as db:
            held = db.execute("SELECT version FROM site_groups WHERE name = ?", (name,)).fetchone()
            trusted_until = self._clock() * 1000 + RECORD_AHEAD_MS
            if held is not None and held[0] >= version and held[0] <= trusted_until:
                return False
            db.execute("INSERT INTO site_groups(name, version, body) VALUES (?, ?, ?) ON CONFLICT(name) DO UPDATE "
                       "SET version = excluded.version, body = excluded.body",
                       (name, version, None if body is None else json.dumps(body, sort_keys=True)))
            return True

    def site_group_records(self) -> dict[str, dict]:
        """The groups the site has now (removed ones left out), by name."""
        return {str(name): json.loads(body) for name, body in
                self._query("SELECT name, body FROM site_groups WHERE body IS NOT NULL ORDER BY name")}
