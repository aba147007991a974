"""The administrators' console on the gate: signed commands in, replies out, all on the frame loop.

Messages arrive on paho's thread and wait in a queue; `poll()` runs them between frames, so
commands change the gate on the same thread as the checks do. Every refusal is answered with
its reason and recorded as an event.
"""

from __future__ import annotations

import logging
import queue
import time
from collections.abc import Callable
from dataclasses import dataclass


from edge.errors import ConfigError, EnrolmentError
from edge.face.enrolment import DuplicateEnrolment
from edge.events import DecisionSource, EventKind
from edge.mqtt.auth import Refused, SignedMessage, Verifier, check_fresh
from edge.mqtt.link import Incoming
from edge.mqtt.templates import decode_templates
from edge.mqtt.topics import Topics
from edge.service import GateService

log = logging.getLogger(__name__)

RECORD_COMMAND = "resident.record"
RECORD_AHEAD_S = 86400.0  # a record dated further ahead of the gate's clock is refused
POLL_BUDGET_S = 0.02  # console work run between two frames, at most


Reply = Callable[..., None]  # MqttLink.reply(incoming, body, fallback_topic=...)


class Console:
    def __init__(self, gate: GateService, reply: Reply, topics: Topics, *, clock=time.time) -> None:
        self.gate = gate
        self.reply = reply
        self.topics = topics
        self.clock = clock
        self.verifier = Verifier(gate.config.mqtt.admin_keys)
        self.max_age = gate.config.mqtt.command_max_age_s
        # signed work and refusals wait apart: a flood of garbage from anyone on the broker fills only its own queue,
        # never the place of an administrator's signed command (one was dropped behind 1,000 unsigned ones)
        self._signed: queue.Queue[Work] = queue.Queue(maxsize=1000)
        self._refused: queue.Queue[Work] = queue.Queue(maxsize=1000)
        self._refusals = RefusalLog(lambda body: gate.record(EventKind.action, body))
        self.handlers = {
            "status": self._status, "open": self._open, "residents.list": self._residents_list,
            "residents.add": self._residents_add, "residents.remove": self._residents_remove,
            "events.query": self._events_query, "config.get": self._config_get, "config.set": self._config_set,
            "passes.revoke": self._passes_revoke, "passes.list": self._passes_list,
            "trustlist.update": self._trustlist_update, "api.tokens.add": self._tokens_add,
            "api.tokens.list": self._tokens_list, "api.tokens.revoke": self._tokens_revoke,
            "cards.add": self._cards_add, "cards.list": self._cards_list, "cards.remove": self._cards_remove,
            "residents.group": self._residents_group, "passback.reset": self._passback_reset,
        }

    @property
    def target(self) -> str:
        return f"{self.topics.site}/{self.topics.gate}"

    def submit(self, incoming: Incoming) -> None:
        """paho's thread: parse and check the signature here (bounded), so the frame loop only runs handlers."""
        try:
            if "/residents/" in incoming.topic:
                work = Work(incoming, "record", self._check_record(incoming))
            else:
                work = Work(incoming, "command", self._check_command(incoming))
        except Refused as refusal:
            work = Work(incoming, "refused", None, str(refusal), refusal.nonce)
        except Exception as error:  # whatever a stranger sends, the console answers and goes on
            log.exception("console: checking a message on %s failed", incoming.topic)
            work = Work(incoming, "refused", None, f"malformed: {type(error).__name__}")
        try:
            (self._refused if work.kind == "refused" else self._signed).put_nowait(work)
        except queue.Full:
            log.error("console queue full; message on %s dropped", incoming.topic)

    def poll(self, *, budget_s: float = POLL_BUDGET_S) -> None:
        """The frame loop, between frames: run queued work until the queue is empty or the budget is spent."""
        deadline = time.perf_counter() + budget_s
        while time.perf_counter() < deadline:
            try:
                work = self._signed.get_nowait()
            except queue.Empty:
                try:
                    work = self._refused.get_nowait()
                except queue.Empty:
                    return
            try:
                self._run(work)
            except Exception as error:  # a handler bug must not stop the gate
                log.exception("console: %s on %s failed", work.kind, work.incoming.topic)
                self._refuse(work.incoming, work.incoming.topic.rsplit("/", 1)[-1], "",
                             f"internal error: {type(error).__name__}")

    def _run(self, work: "Work") -> None:
        name = work.incoming.topic.rsplit("/", 1)[-1]
        if work.kind == "refused":
            if "/residents/" in work.incoming.topic:
                self._record_refused(name, work.refusal or "refused")
            else:
                self._refuse(work.incoming, name, work.nonce, work.refusal or "refused")
        elif work.kind == "record":
            self._resident_record(work.incoming, work.message)
        elif work.message is not None:
            self._command(work.incoming, work.message)

    # commands

    def _check_command(self, incoming: Incoming) -> SignedMessage:
        name = incoming.topic.rsplit("/", 1)[-1]
        message = self.verifier.verify(incoming.payload, target=self.target, expected_cmd=name)
        check_fresh(message, self.clock(), self.max_age)
        if name not in self.handlers:
            raise Refused(f"unknown command {name!r}; known: {', '.join(sorted(self.handlers))}", message.nonce)
        return message

    def _command(self, incoming: Incoming, message: SignedMessage) -> None:
        name = incoming.topic.rsplit("/", 1)[-1]
        try:
            if not self.gate.first_use_of_nonce(message.nonce, self.clock(), keep_s=4 * self.max_age):
                raise Refused("replayed: nonce already used")
            result = self.handlers[name](message.args, message.key)
        except Refused as refusal:
            self._refuse(incoming, name, message.nonce, str(refusal))
            return
        self.gate.record(EventKind.action, {"action": "command", "command": name, "admin": message.key})
        self.reply(incoming, {"ok": True, "cmd": name, "nonce": message.nonce, "result": result},
                   fallback_topic=self.topics.reply(message.nonce))

    def _refuse(self, incoming: Incoming, name: str, nonce: str, reason: str) -> None:
        log.warning("command %s refused: %s", name[:64], reason)
        self._refusals.record({"action": "command_refused", "command": name[:64], "reason": reason[:200]})
        self.reply(incoming, {"ok": False, "cmd": name[:64], "nonce": nonce, "error": reason},
                   fallback_topic=self.topics.reply(nonce or "refused"))

    def _status(self, args: dict, admin: str) -> dict:
        return self.gate.status().as_dict()

    def _open(self, args: dict, admin: str) -> dict:
        reason = args.get("reason")
        if not isinstance(reason, str) or not reason.strip():
            raise Refused("malformed: args.reason is required (why the gate is opened)")
        failure = self.gate.open(DecisionSource.remote, admin, reason.strip()[:200])
        if failure is not None:
            raise Refused(f"{failure}: the gate stayed closed")
        return {"opened": True}

    def _residents_list(self, args: dict, admin: str) -> list[dict]:
        return [{"id": r.id, "uid": r.uid, "name": r.name, "unit": r.unit, "templates": r.templates}
                for r in self.gate.residents()]

    def _residents_add(self, args: dict, admin: str) -> dict:
        name, unit = args.get("name"), args.get("unit", "")
        if not isinstance(name, str) or not name.strip():
            raise Refused("malformed: args.name is required")
        if not isinstance(unit, str):
            raise Refused("malformed: args.unit must be a string")
        if self.gate.template_dimension is None:
            raise Refused("unavailable: face recognition is off on this gate")
        templates = decode_templates(args.get("templates"), self.gate.template_dimension)
        lookalike_of = args.get("lookalike_of", [])
        if not isinstance(lookalike_of, list) or len(lookalike_of) > 10 or \
                not all(isinstance(i, int) and not isinstance(i, bool) for i in lookalike_of):
            raise Refused("malformed: args.lookalike_of must be a list of up to 10 resident ids")
        try:
            enrolled = self.gate.enrol(name.strip(), unit, templates, [0.0] * len(templates),
                                       ["console"] * len(templates), lookalike_of=tuple(lookalike_of))
        except DuplicateEnrolment as duplicate:
            raise Refused(f"duplicate: {duplicate}") from None
        except EnrolmentError as error:
            raise Refused(f"refused: {error}") from None
        review = enrolled.review
        return {"id": enrolled.resident_id, "uid": enrolled.uid, "warnings": review.warnings, **review.as_dict()}

    def _residents_remove(self, args: dict, admin: str) -> dict:
        if isinstance(args.get("uid"), str):
            resident = self.gate.resident(uid=args["uid"])
        elif isinstance(args.get("id"), int) and not isinstance(args["id"], bool):
            resident = self.gate.resident(resident_id=args["id"])
        else:
            raise Refused("malformed: args.uid (string) or args.id (integer) is required")
        if resident is None:
            raise Refused("not found: no such resident")
        self.gate.remove_resident(resident)
        return {"removed": resident.uid}

    def _events_query(self, args: dict, admin: str) -> list[dict]:
        since, kind, limit = args.get("since", 0), args.get("kind"), args.get("limit", 100)
        if not isinstance(since, (int, float)) or not isinstance(limit, int) or not 1 <= limit <= 1000:
            raise Refused("malformed: args.since must be a number and args.limit 1 to 1000")
        if kind is not None and kind not in {k.value for k in EventKind}:
            raise Refused(f"malformed: args.kind {kind!r} is not an event kind")
        return self.gate.events(since=float(since), kind=kind, limit=limit)

    def _config_get(self, args: dict, admin: str) -> dict:
        return self.gate.config.model_dump(mode="json")

    def _config_set(self, args: dict, admin: str) -> dict:
        path, value = args.get("path"), args.get("value")
        if not isinstance(path, str) or not path or "value" not in args:
            raise Refused("malformed: args.path (dotted key) and args.value are required")
        try:
            change = self.gate.change_config(path, value, admin)
        except (KeyError, TypeError):
            raise Refused(f"invalid: {path[:100]}: unknown key") from None
        except ConfigError as error:
            raise Refused(f"invalid: {str(error).splitlines()[0].removeprefix('config.set: ')}") from None
        return {"path": path, "applied": change.applied, "saved": True}

    def _passes_revoke(self, args: dict, admin: str) -> dict:
        pass_id = args.get("pass_id")
        if not isinstance(pass_id, str) or not pass_id:
            raise Refused("malformed: args.pass_id is required")
        self.gate.revoke_pass(pass_id[:64])
        return {"revoked": pass_id}

    def _passes_list(self, args: dict, admin: str) -> list[dict]:
        return self.gate.passes()

    def _trustlist_update(self, args: dict, admin: str) -> dict:
        certificates = args.get("certificates")
        if not isinstance(certificates, list) or not all(isinstance(c, str) for c in certificates):
            raise Refused("malformed: args.certificates must be a list of base64 DER certificates")
        try:
            return {"signers": self.gate.replace_trust_list(certificates)}
        except ValueError as error:
            raise Refused(f"invalid: args.{error}") from None

    def _tokens_add(self, args: dict, admin: str) -> dict:
        name, scopes = args.get("name"), args.get("scopes")
        if not isinstance(name, str) or not isinstance(scopes, list) or not all(isinstance(x, str) for x in scopes):
            raise Refused("malformed: args.name (string) and args.scopes (list of strings) are required")
        try:
            token = self.gate.issue_api_token(name, scopes[:10])
        except ValueError as error:
            raise Refused(f"invalid: args.{error}") from None
        return {"token": token, "shown_once": True}

    def _tokens_list(self, args: dict, admin: str) -> list[dict]:
        return self.gate.api_tokens()

    def _tokens_revoke(self, args: dict, admin: str) -> dict:
        token_id = args.get("id")
        if not isinstance(token_id, str) or not token_id:
            raise Refused("malformed: args.id is required (api.tokens.list shows it)")
        if not self.gate.revoke_api_token(token_id[:64]):
            raise Refused(f"not found: no live token {token_id[:64]}")
        return {"revoked": token_id[:64]}

    def _cards_add(self, args: dict, admin: str) -> dict:
        resident_id, number = args.get("resident_id"), args.get("number")
        if isinstance(resident_id, bool) or not isinstance(resident_id, int) or not isinstance(number, str):
            raise Refused("malformed: args.resident_id (integer) and args.number (digits) are required")
        try:
            return {"card": self.gate.enrol_card(resident_id, number[:32])}
        except ConfigError as error:
            raise Refused(f"invalid: args.{error}") from None

    def _cards_list(self, args: dict, admin: str) -> list[dict]:
        return self.gate.cards()

    def _cards_remove(self, args: dict, admin: str) -> dict:
        number = args.get("number")
        if not isinstance(number, str):
            raise Refused("malformed: args.number (digits) is required")
        if not self.gate.remove_card(number[:32]):
            raise Refused("not found: no enrolled card has this number")
        return {"removed": True}

    def _passback_reset(self, args: dict, admin: str) -> dict:
        uid, pass_id = args.get("resident_uid"), args.get("pass_id")
        if not (isinstance(uid, str) and 0 < len(uid) <= 64 or isinstance(pass_id, str) and 0 < len(pass_id) <= 128):
            raise Refused("malformed: args.resident_uid or args.pass_id is required")
        resident = self.gate.resident(uid=uid) if isinstance(uid, str) else None
        who = ("resident", resident.id if resident is not None else -1) if isinstance(uid, str) else ("pass", pass_id)
        try:
            return {"reset": self.gate.reset_passback(who, admin)}
        except ConfigError as error:
            raise Refused(f"not found: {error}") from None

    def _residents_group(self, args: dict, admin: str) -> dict:
        resident_id, group = args.get("id"), args.get("group")
        if isinstance(resident_id, bool) or not isinstance(resident_id, int) or \
                not (group is None or isinstance(group, str) and 1 <= len(group) <= 64):
            raise Refused("malformed: args.id (integer) and args.group (1 to 64 characters, or null) are required")
        if not self.gate.set_access_group(resident_id, group):
            raise Refused(f"not found: no resident {resident_id}")
        return {"id": resident_id, "group": group}

    # site-wide resident records

    def _check_record(self, incoming: Incoming) -> SignedMessage | None:
        if not incoming.payload:
            return None  # a cleared retained topic
        message = self.verifier.verify(incoming.payload, target=self.topics.site, expected_cmd=RECORD_COMMAND)
        uid, version = incoming.topic.rsplit("/", 1)[-1], message.args.get("version")
        if message.args.get("uid") != uid or isinstance(version, bool) or not isinstance(version, int) \
                or not 1 <= version < 2**62:
            raise Refused("malformed: args.uid must match the topic and args.version be a positive integer")
        if version > (time.time() + RECORD_AHEAD_S) * 1000:
            # a version is its administrator's clock: one ten years ahead could never be removed again
            raise Refused(f"stale: args.version is dated {version / 1000 - time.time():.0f} s ahead of this gate's "
                          "clock (the administrator's clock is wrong)")
        return message

    def _resident_record(self, incoming: Incoming, message: SignedMessage | None) -> None:
        if message is None:
            return
        uid, args = incoming.topic.rsplit("/", 1)[-1], message.args
        version = args["version"]
        try:
            if args.get("removed") is True:
                applied = self.gate.apply_resident_record(uid, version, removed=True)
            else:
                name, unit = args.get("name"), args.get("unit", "")
                if not isinstance(name, str) or not name or not isinstance(unit, str):
                    raise Refused("malformed: args.name and args.unit must be strings")
                pack = self.gate.config.face.pack
                if args.get("pack", "default") != pack:
                    raise Refused(f"incompatible: templates made by pack {str(args.get('pack'))[:32]!r}, "
                                  f"this gate uses {pack!r}")
                templates = decode_templates(args.get("templates"), self.gate.template_dimension)
                applied = self.gate.apply_resident_record(uid, version, name=name[:200], unit=unit[:64],
                                                          templates=templates)
        except Refused as refusal:
            self._record_refused(uid, str(refusal))
            return
        self.gate.saw_signed_time(version / 1000.0, f"administrator {message.key}")
        if applied:
            log.info("resident record %s version %d applied", uid, version)

    def _record_refused(self, uid: str, reason: str) -> None:
        log.warning("resident record %s refused: %s", uid[:64], reason)
        self._refusals.record({"action": "record_refused", "uid": uid[:64], "reason": reason[:200]})


@dataclass
class Work:
    """A message checked on paho's thread, waiting for the frame loop."""

    incoming: Incoming
    kind: str  # command | record | refused
    message: SignedMessage | None
    refusal: str | None = None
    nonce: str = ""


class RefusalLog:
    """Refusals become events, but a flood of them must not become a flood of fsync'd writes.

    Up to `per_minute` refusals a minute are recorded one by one; the rest are counted and
    recorded as one summary event when the minute is over.
    """

    def __init__(self, record, *, per_minute: int = 10, clock=time.monotonic) -> None:
        self._record = record
        self.per_minute = per_minute
        self._clock = clock
        self._window_start = clock()
        self._in_window = 0
        self._suppressed = 0

    def record(self, body: dict) -> None:
        now = self._clock()
        if now - self._window_start >= 60.0:
            if self._suppressed:
                self._record({"action": "refusals_suppressed", "count": self._suppressed,
                              "seconds": round(now - self._window_start, 1)})
            self._window_start, self._in_window, self._suppressed = now, 0, 0
        if self._in_window < self.per_minute:
            self._in_window += 1
            self._record(body)
        else:
            self._suppressed += 1
