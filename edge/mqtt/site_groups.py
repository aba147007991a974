"""Access groups edited site-wide from the console: signed records, retained, one topic per group.

`gatepost admin group FILE` publishes a group's hours, holidays, verification mode and the gates
it covers; `gatepost admin remove-group NAME` its removal. Each gate checks the signature and the
rules on paho's thread (bounded), keeps the newest version per group (a replay or a late delivery
changes nothing) and applies it on the frame loop; a gate that was offline catches up from the
retained records when it reconnects.
"""

from __future__ import annotations

import logging
import queue
import re
from collections.abc import Callable
from dataclasses import dataclass

from edge.access_groups import SiteGroups, group_rules
from edge.mqtt.auth import Refused, Verifier
from edge.mqtt.link import Incoming
from edge.mqtt.topics import ROOT, Topics
from edge.store import GroupRecords

log = logging.getLogger(__name__)

GROUP_RECORD_COMMAND = "group.record"
GROUP_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
MAX_GATES = 256


@dataclass(frozen=True)
class GroupNews:
    name: str
    version: int
    body: dict | None  # None: removed


def group_record(name: str, version: int, *, gates: list[str] | None = None, weekly: dict | None = None,
                 holidays: dict | None = None, verification: str | None = None, removed: bool = False) -> dict:
    """The arguments of a group's record, as `gatepost admin group` signs them; ValueError naming the field."""
    if not GROUP_NAME.match(name):
        raise ValueError("name: letters, digits, '-' and '_', 1 to 64")
    if removed:
        return {"name": name, "version": version, "removed": True}
    body = {"name": name, "version": version, "gates": gates or ["*"], "weekly": weekly or {},
            "holidays": holidays or {}, **({"verification": verification} if verification else {})}
    group_rules(body)
    return body


class SiteGroupRecords:
    def __init__(self, store: GroupRecords, groups: SiteGroups, topics: Topics, admin_keys: dict[str, str], *,
                 record: Callable[[dict], object] | None = None) -> None:
        self.store = store
        self.groups = groups
        self.topics = topics
        self.verifier = Verifier(admin_keys)
        self.record = record
        self._queue: queue.Queue[GroupNews] = queue.Queue(maxsize=1000)
        self.refused = 0

    def submit(self, incoming: Incoming) -> bool:
        """paho's thread: True if the message was a group record (queued, or refused with a log line)."""
        parts = incoming.topic.split("/")
        if not (len(parts) == 4 and parts[:3] == [ROOT, self.topics.site, "groups"]):
            return False
        if not incoming.payload:
            return True  # a cleared topic
        try:
            news = self._check(parts[3], incoming.payload)
        except (Refused, ValueError) as refusal:
            self.refused += 1
            log.warning("access groups: %s refused: %s", incoming.topic[:200], refusal)
            return True
        try:
            self._queue.put_nowait(news)
        except queue.Full:
            log.error("access groups: queue full; the record on %s dropped", incoming.topic[:200])
        return True

    def _check(self, name: str, payload: bytes) -> GroupNews:
        message = self.verifier.verify(payload, target=self.topics.site, expected_cmd=GROUP_RECORD_COMMAND)
        args = message.args
        if args.get("name") != name or not GROUP_NAME.match(name):
            raise Refused("malformed: args.name does not match the topic")
        version = args.get("version")
        if isinstance(version, bool) or not isinstance(version, int) or version <= 0:
            raise Refused("malformed: args.version must be a positive integer")
        if args.get("removed") is True:
            return GroupNews(name, version, None)
        gates = args.get("gates")  # none: every gate
        if gates is not None and (not isinstance(gates, list) or not 0 < len(gates) <= MAX_GATES or
                                  not all(isinstance(g, str) and 0 < len(g) <= 64 for g in gates)):
            raise Refused(f"malformed: args.gates must list 1 to {MAX_GATES} gate ids, or '*'")
        group_rules(args)  # ValueError naming the field: an overlapping interval, a bad date
        return GroupNews(name, version, {k: args[k] for k in ("gates", "weekly", "holidays", "verification")
                                         if k in args})

    def poll(self, *, budget: int = 100) -> None:
        """The frame loop: apply what came, then the groups in force are read again."""
        changed = False  # pragma: no mutate (None is as False)
        for _ in range(budget):
            try:
                news = self._queue.get_nowait()
            except queue.Empty:
                break
            if self.store.apply_group_record(news.name, news.version, news.body):
                changed = True
                log.info("access group %s %s (site record %d)", news.name,
                         "removed" if news.body is None else "set", news.version)
                if self.record is not None:
                    self.record({"action": "group_record", "group": news.name, "version": news.version,
                                 "removed": news.body is None})
        if changed:
            self.groups.reload()
