"""Anti-passback: whoever went in must come out before going in again, at every gate of the site.

Each gate is an entry or an exit (`site.direction`). When a gate lets a known person through (a
resident by face or card, a visitor by pass) it notes the movement and publishes it, retained,
under its own topic; every gate keeps each person's newest movement at each gate, and the newest
of them is where the person is. A guard's reset is a movement too ("reset"): being the newest, it
clears the person at every gate. A gate away from its broker decides on what it knows and sends
its movements when it is back, so a person may pass twice the same way while two gates cannot
talk (the alarm or refusal comes at the next gate that has heard). The broker's ACL vouches for
which gate a movement came from (a gate writes only under its own topics); a lying gate can hold
people back, never let anyone in. Records dated more than `MAX_FUTURE_S` ahead are refused, so a
gate with a wrong clock cannot pin a person for good.

Messages are checked on paho's thread (bounded) and applied on the frame loop by `poll()`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import queue
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from edge.store import Movement, Store
from edge.untrusted import UntrustedInput, load_json

if TYPE_CHECKING:
    from edge.config import GateConfig

log = logging.getLogger(__name__)

MAX_MESSAGE = 600  # bytes: {"person": ..., "direction": ..., "time": ...}
MAX_PERSON = 200
MAX_FUTURE_S = 300.0
MAX_ANNOUNCED = 2000  # movements announced at each connect, newest first
DIRECTIONS = ("in", "out", "reset")
WAY = {"entry": "in", "exit": "out"}

Person = tuple[str, object]  # ("resident", resident id) or ("pass", pass id): who a grant lets through
Publish = Callable[[str, str], None]  # (topic, payload): retained, QoS 1


def person_key(person: str) -> str:
    """A person as one topic level (a pass id may hold '/' or '+')."""
    return hashlib.sha256(person.encode()).hexdigest()[:32]


def parse_movement(gate: str, key: str, payload: bytes, *, now: float) -> Movement:
    """Another gate's movement record; UntrustedInput naming the field when it is not one."""
    body = load_json(payload, max_bytes=MAX_MESSAGE, what="movement")
    if not isinstance(body, dict):
        raise UntrustedInput("movement: expected a JSON object")
    person, direction, when = body.get("person"), body.get("direction"), body.get("time")
    if not isinstance(person, str) or not 0 < len(person) <= MAX_PERSON or person_key(person) != key:
        raise UntrustedInput("movement: field 'person' does not match the topic")
    if direction not in DIRECTIONS:
        raise UntrustedInput(f"movement: field 'direction' must be one of {', '.join(DIRECTIONS)}")
    if isinstance(when, bool) or not isinstance(when, (int, float)) or not math.isfinite(when) or when <= 0:
        raise UntrustedInput("movement: field 'time' must be a Unix time")
    if when > now + MAX_FUTURE_S:
        raise UntrustedInput("movement: field 'time' is in the future")
    return Movement(person, gate, str(direction), float(when))


class Passback:
    """This gate's view of where each person is, and its side of telling the site."""

    def __init__(self, store: Store, config: Callable[[], GateConfig], *, clock: Callable[[], float] = time.time,
                 topic: Callable[[str], str] | None = None,
                 alarm: Callable[[dict[str, Any]], object] | None = None) -> None:
        """`config`: the gate's configuration as it stands; `topic`: this gate's topic for a person key; `alarm`:
        records a passback alarm (a gate of both ways, after the passage)."""
        self.store = store
        self.config = config
        self.alarm = alarm
        self.clock = clock
        self.topic = topic
        self.publish: Publish | None = None  # set while the gate has a broker
        self._queue: queue.Queue[Movement] = queue.Queue(maxsize=10_000)
        self._uids: dict[int, str] = {}
        self._next_prune = 0.0  # pragma: no mutate (any time long past: the first grant prunes)
        self.refused = 0

    # who

    def person(self, who: object) -> str | None:
        """The site-wide key of `who` (a grant's ("resident", id) or ("pass", id)); None for anyone else."""
        if not isinstance(who, tuple) or len(who) != 2:
            return None
        kind, value = who
        if kind == "pass":
            return f"pass:{value}"
        if kind == "resident" and isinstance(value, int):
            uid = self._uids.get(value) or self.store.uid_of(value)
            if uid is None:
                return None
            self._uids[value] = uid
            return f"resident:{uid}"
        return None

    # the policy's question, and the grant's note (the frame loop)

    def conflict(self, who: Person | None) -> Movement | None:
        """The movement that holds `who` back at this gate: they already went this way and have not come back."""
        config = self.config()
        way = WAY.get(config.site.direction)
        if config.checks.antipassback.mode == "off" or way is None:
            return None  # a gate of both ways learns the way only after the passage: never refused before it
        person = self.person(who)
        if person is None:
            return None
        last = self.store.last_movement(person)
        if last is None or last.direction != way:
            return None
        forget_s = config.checks.antipassback.forget_after_h * 3600.0
        if forget_s and self.clock() - last.time > forget_s:
            return None
        return last

    def passed(self, who: Person | None) -> None:
        """This gate let `who` through: noted here, and told to the site."""
        config = self.config()
        way = WAY.get(config.site.direction)
        if way is None or config.checks.antipassback.mode == "off":
            return
        person = self.person(who)
        if person is None:
            return
        self._note(Movement(person, config.site.gate_id, way, self.clock()))
        self._prune()

    def _prune(self) -> None:
        """Movements that hold nobody back any more go, at most once an hour."""
        now, forget_s = self.clock(), self.config().checks.antipassback.forget_after_h * 3600.0
        if forget_s and now >= self._next_prune:
            self._next_prune = now + 3600.0
            self.store.forget_movements(before=now - forget_s)

    def went(self, who: object, way: str) -> None:
        """A gate of both ways: its passage sensor told the way `who` went ("in" or "out"). Noted like any movement;
        the same way as their last one is an alarm (it can only be told after the passage, so never refused)."""
        config = self.config()
        person = self.person(who)
        if config.site.direction != "both" or person is None or config.checks.antipassback.mode == "off" or \
                way not in WAY.values():
            return
        last = self.store.last_movement(person)
        forget_s = config.checks.antipassback.forget_after_h * 3600.0
        repeated = last is not None and last.direction == way and not (forget_s and self.clock() - last.time > forget_s)
        self._note(Movement(person, config.site.gate_id, way, self.clock()))
        if repeated and last is not None and self.alarm is not None:
            assert isinstance(who, tuple)  # a person was found: a grant's (kind, id)
            kind, value = who[0], who[1]
            self.alarm({"alarm": "passback", "detail": f"went {way} again (last at {last.gate})", "granted": True,
                        "way": way, "gate": last.gate, "since": round(last.time, 3), "name": "",
                        "resident_id" if kind == "resident" else "pass_id": value})

    def reset(self, person: str) -> None:
        """A guard's word: the person may pass either way once more, at every gate."""
        if not 0 < len(person) <= MAX_PERSON:
            raise ValueError(f"person: 1 to {MAX_PERSON} characters")
        self._note(Movement(person, self.config().site.gate_id, "reset", self.clock()))

    def _note(self, movement: Movement) -> None:
        self.store.note_movement(movement)
        if self.publish is not None and self.topic is not None:
            self.publish(*self._record(movement))

    def _record(self, movement: Movement) -> tuple[str, str]:
        assert self.topic is not None
        body = json.dumps({"person": movement.person, "direction": movement.direction, "time": movement.time},
                          separators=(",", ":"))  # pragma: no mutate (other gates read JSON in any spacing)
        return self.topic(person_key(movement.person)), body

    # the site (paho's thread, then the frame loop)

    def submit(self, gate: str, key: str, payload: bytes) -> None:
        """Another gate's movement: checked here, applied by `poll()`; refused with a log line."""
        if gate == self.config().site.gate_id or not payload:
            return  # our own record, or a cleared topic
        try:
            movement = parse_movement(gate, key, payload, now=self.clock())
        except UntrustedInput as refusal:
            self.refused += 1
            log.warning("anti-passback: %s/%s refused: %s", gate[:64], key[:40], refusal)
            return
        try:
            self._queue.put_nowait(movement)
        except queue.Full:
            log.error("anti-passback: queue full; a movement from %s dropped", gate[:64])

    def poll(self, *, budget: int = 200) -> None:
        for _ in range(budget):
            try:
                movement = self._queue.get_nowait()
            except queue.Empty:
                return
            self.store.note_movement(movement)

    def announcements(self) -> list[tuple[str, str]]:
        """This gate's own recent movements, sent again at each connect (they were retained, but may have been
        made while the broker was away)."""
        if self.topic is None:
            return []
        forget_s = self.config().checks.antipassback.forget_after_h * 3600.0
        since = self.clock() - forget_s if forget_s else 0.0
        own = self.store.movements_at(self.config().site.gate_id, since=since, limit=MAX_ANNOUNCED)
        return [self._record(movement) for movement in own]
