"""Visitor passes across the gates of a site: use counts shared, revocations site-wide.

Each gate publishes, retained, how often it let each pass through; every gate adds the others'
counts to its own, so a single-use pass used at gate-1 is used up at gate-2. Counts only grow:
a replayed or late report changes nothing. A revocation is a record signed by an administrator
and retained for the site, so a gate that was offline catches up when it reconnects. The broker's
ACL vouches for which gate a count came from (a gate writes only under its own topics); a gate
that lies can only refuse visitors, never admit one.

Messages are checked on paho's thread (bounded) and applied on the frame loop by `poll()`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import queue
import time
from collections.abc import Callable
from dataclasses import dataclass

from edge.mqtt.auth import Refused, Verifier
from edge.mqtt.link import Incoming
from edge.mqtt.topics import ROOT, Topics
from edge.store import Store
from edge.untrusted import UntrustedInput, load_json

log = logging.getLogger(__name__)

PASS_RECORD_COMMAND = "pass.record"
MAX_USES_MESSAGE = 512  # bytes: {"pass_id": ..., "uses": n}
MAX_USES = 2**31
SHARE_AFTER_EXPIRY_S = 86400.0  # counts of passes that expired longer ago are no longer announced
MAX_ANNOUNCED = 2000  # counts announced at each connect, newest passes first


def pass_key(pass_id: str) -> str:
    """A pass id as one topic level: an issuer may put '/' or '+' in a pass id."""
    return hashlib.sha256(pass_id.encode()).hexdigest()[:32]


def pass_record(pass_id: str, *, version: int) -> dict:
    """The arguments of a site-wide revocation (what `gatepost admin revoke-pass` signs)."""
    return {"pass_id": pass_id, "revoked": True, "version": version}


@dataclass(frozen=True)
class PassNews:
    pass_id: str
    gate: str | None  # the gate that counted `uses`; None for a revocation
    uses: int = 0


Publish = Callable[[str, str], None]  # (topic, payload): retained, QoS 1


class SitePasses:
    def __init__(self, store: Store, topics: Topics, admin_keys: dict[str, str], publish: Publish, *,
                 clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.topics = topics
        self.verifier = Verifier(admin_keys)
        self.publish = publish
        self.clock = clock
        self._queue: queue.Queue[PassNews] = queue.Queue(maxsize=10_000)
        self.refused = 0

    # paho's thread

    def submit(self, incoming: Incoming) -> bool:
        """True if the message was about passes (applied later, or refused here with a log line)."""
        parts = incoming.topic.split("/")
        if len(parts) == 5 and parts[:2] == [ROOT, self.topics.site] and parts[3] == "pass_uses":
            news = self._check(lambda: self._uses(parts[2], parts[4], incoming.payload), incoming.topic)
        elif len(parts) == 4 and parts[:3] == [ROOT, self.topics.site, "passes"]:
            news = self._check(lambda: self._revocation(parts[3], incoming.payload), incoming.topic)
        else:
            return False
        if news is not None:
            try:
                self._queue.put_nowait(news)
            except queue.Full:
                log.error("site passes: queue full; news on %s dropped", incoming.topic[:200])
        return True

    def _check(self, parse: Callable[[], PassNews | None], topic: str) -> PassNews | None:
        try:
            return parse()
        except (Refused, UntrustedInput) as refusal:
            self.refused += 1
            log.warning("site passes: %s refused: %s", topic[:200], refusal)
        return None

    def _uses(self, gate: str, key: str, payload: bytes) -> PassNews | None:
        if gate == self.topics.gate or not payload:
            return None  # our own count, or a cleared topic
        body = load_json(payload, max_bytes=MAX_USES_MESSAGE, what="pass uses")
        if not isinstance(body, dict):
            raise Refused("malformed: expected a JSON object")
        pass_id, uses = body.get("pass_id"), body.get("uses")
        if not isinstance(pass_id, str) or pass_key(pass_id) != key:
            raise Refused("malformed: field 'pass_id' does not match the topic")
        if isinstance(uses, bool) or not isinstance(uses, int) or not 0 < uses < MAX_USES:
            raise Refused("malformed: field 'uses' must be a positive integer")
        return PassNews(pass_id, gate, uses)

    def _revocation(self, key: str, payload: bytes) -> PassNews | None:
        if not payload:
            return None
        message = self.verifier.verify(payload, target=self.topics.site, expected_cmd=PASS_RECORD_COMMAND)
        pass_id = message.args.get("pass_id")
        if not isinstance(pass_id, str) or pass_key(pass_id) != key:
            raise Refused("malformed: args.pass_id does not match the topic")
        if message.args.get("revoked") is not True:
            raise Refused("malformed: args.revoked must be true (a revocation cannot be undone)")
        return PassNews(pass_id, None)

    # the frame loop

    def poll(self, *, budget: int = 200) -> None:
        for _ in range(budget):
            try:
                news = self._queue.get_nowait()
            except queue.Empty:
                return
            if news.gate is None:
                self.store.revoke_pass(news.pass_id)
                log.info("pass %s revoked site-wide", news.pass_id)
            elif self.store.note_uses_elsewhere(news.pass_id, news.gate, news.uses):
                log.info("pass %s used %d time(s) at %s", news.pass_id, news.uses, news.gate)

    def used(self, pass_id: str) -> None:
        """This gate let the pass through: the site hears its new count (and again at every connect)."""
        self.publish(*self._count(pass_id, self.store.own_uses_of(pass_id)))

    def announcements(self) -> list[tuple[str, str]]:
        owned = self.store.own_pass_uses(valid_after=self.clock() - SHARE_AFTER_EXPIRY_S)
        return [self._count(pass_id, uses) for pass_id, uses in owned[:MAX_ANNOUNCED]]

    def _count(self, pass_id: str, uses: int) -> tuple[str, str]:
        body = json.dumps({"pass_id": pass_id, "uses": uses}, separators=(",", ":"))
        return self.topics.pass_uses(pass_key(pass_id)), body
