"""The gate: one frame loop that runs the stages, follows visits, decides and drives the turnstile.

Everything that changes the gate happens on this loop's thread: guard, administrator and CLI
opens are decided between frames (`open_now`; other threads reach it through `call_soon`), so
whoever asked hears whether the gate opened.
Every decision and passage is committed to the store (and its outbox) before the relay moves.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

import numpy as np

from edge.access_groups import SiteGroups
from edge.alarm_memory import VisitAlarms
from edge.config import GateConfig
from edge.decision import Policy, Visit
from edge.errors import StorageError
from edge.events import AlarmKind, Decision, DecisionSource, Event, EventKind, decision_body
from edge.faults import Faults
from edge.gate_stats import GateStats
from edge.hardware import Hardware
from edge.loop_calls import LoopCalls
from edge.passback import Passback
from edge.presence import Presence
from edge.prompt import Prompt, prompt_for
from edge.sdnotify import Notifier
from edge.stages.base import FrameContext, Stage
from edge.store import Store
from edge.turnstile import Turnstile
from edge.upkeep import Upkeep

log = logging.getLogger(__name__)

CAMERA_FAULT_AFTER_S = 2.0
LEARNED_FROM = ("temperature_normal", "fever", "temperature_uncertain")  # visits with an estimate of a live face


class Gate:
    def __init__(self, config: GateConfig, *, hardware: Hardware, store: Store, stages: list[Stage],
                 clock: Callable[[], float], notifier: Notifier | None = None,
                 on_decision: Callable[[Decision, bool], None] | None = None) -> None:
        self.config, self.hardware, self.store, self.stages, self.clock = config, hardware, store, stages, clock
        self.notifier = notifier or Notifier("")
        self.on_decision = on_decision
        self.after_record: list[Callable[[], None]] = []  # e.g. wake the MQTT drain, the webhooks
        self.webhooks_for: Callable[[Event], tuple[str, ...]] | None = None  # the receivers that want an event
        self.on_pass_used: Callable[[str], None] | None = None  # e.g. tell the site's other gates
        # what the touchscreen, the voice and the like follow; all called on the loop thread
        self.listeners: list[Callable[[Event], None]] = []
        self.frame_listeners: list[Callable[[np.ndarray, FrameContext, Visit | None], None]] = []
        self.deciding_listeners: list[Callable[[Visit, Decision], None]] = []  # before it is recorded: may mark it
        self.decided_listeners: list[Callable[[Visit, Decision], None]] = []
        self.ended_listeners: list[Callable[[Visit], None]] = []  # a person has gone (their visit is over)
        self.calls = LoopCalls()  # run between frames, and once more after the loop by its owner
        self.passback = Passback(store, lambda: self.config, alarm=lambda body: self.record(EventKind.alarm, body))
        self.groups = SiteGroups(store, lambda: self.config)  # access groups: the site's over this file's
        self.policy = Policy(config.checks, window_s=config.pipeline.decision_window_s, passback=self.passback.conflict,
                             groups=self.groups.get)
        self.turnstile = Turnstile(hardware.relay, config.turnstile, clock=clock, emit=self.record,
                                   relay_factory=hardware.relay_factory)
        # a gate of both ways: the sensor tells the way (a store that cannot write holds the gate shut, never breaks it)
        self.turnstile.on_passed = lambda admits, way: self._safely(lambda: self.passback.went(admits, way))
        self.visit: Visit | None = None
        self.prompt = Prompt("idle", clock())
        self.prompt_listeners: list[Callable[[Prompt], None]] = []  # the resident's screen, the voice; loop thread
        self._held_prompt: tuple[str, float] | None = None  # (code, until): an instruction a guard's tool gives
        self._decided: tuple[Visit, float] | None = None  # the latest decided visit, and when
        self.stats = GateStats()
        self.faults = Faults(on_change=self._fault_changed)
        self.alarms = VisitAlarms(self.record, leave_after_s=config.pipeline.leave_after_s)
        face = next((stage for stage in stages if stage.name == "face"), None)  # its cheap search: the still check
        self.presence = Presence(config.pipeline.presence, look=getattr(face, "anyone_there", None))
        self._last_frame_at = clock()
        self.upkeep = Upkeep(store, self.notifier, retention_days=lambda: self.config.storage.event_retention_days,
                             safely=self._safely, on_expired=lambda resident_id, name: self.record(
                                 EventKind.action, {"action": "visitor_expired", "resident_id": resident_id,
                                                    "name": name}))
        self._topic = f"gatepost/{config.site.site_id}/{config.site.gate_id}"
        for device, message in (hardware.faults or {}).items():
            self.faults.set(device, message)

    # events

    def record(self, kind: EventKind, body: dict[str, Any]) -> Event | None:
        """Commit an event (and its outbox entry); None when the state database cannot take it."""
        event = Event(kind, body, site_id=self.config.site.site_id, gate_id=self.config.site.gate_id)
        topic = f"{self._topic}/alarm" if kind is EventKind.alarm else f"{self._topic}/event"
        try:
            self.store.record_event(event, topic, self.webhooks_for(event) if self.webhooks_for is not None else ())
        except StorageError as error:
            self.storage_failed(error)
            return None
        self.faults.clear("storage")
        for wake in self.after_record:
            wake()
        for listener in self.listeners:
            try:
                listener(event)
            except Exception:  # a listener must never break the gate
                log.exception("event listener failed")
        return event

    def storage_failed(self, error: StorageError) -> None:
        """Nothing can be recorded, so nothing is decided: the gate stays shut and says why, once."""
        if self.faults.get("storage") != str(error):
            log.error("state database unusable, gate held closed: %s", error)
            self.faults.quietly("storage", str(error))  # it cannot be recorded: the screen and telemetry show it

    def _safely(self, write: Callable[[], object]) -> None:
        """A store write that is not a record of its own (scores, counts, pruning)."""
        try:
            write()
        except StorageError as error:
            self.storage_failed(error)

    def _fault_changed(self, device: str, message: str | None) -> None:
        if message is None:
            self.record(EventKind.status, {"device": device, "state": "recovered"})
        else:
            self.record(EventKind.alarm, {"alarm": AlarmKind.device_fault.value, "device": device, "detail": message})

    # life cycle

    def start(self) -> None:
        self.turnstile.start()
        self.record(EventKind.status, {"state": "started", "stages": [s.name for s in self.stages]})
        self.notifier.ready(f"gate {self.config.site.gate_id} running")

    def stop(self) -> None:
        self.notifier.stopping()
        self.turnstile.stop()
        self.record(EventKind.status, {"state": "stopped"})

    def apply_config(self, config: GateConfig) -> None:
        """A changed configuration: the policy and the turnstile take theirs from it."""
        self.config = config
        self.policy = self.policy.reconfigured(config.checks, window_s=config.pipeline.decision_window_s)
        self.presence.config = config.pipeline.presence
        self.turnstile.config = config.turnstile

    def call_soon(self, function: Callable[[], Any]) -> Future:
        """Thread-safe: run `function` on the frame loop between frames; its result in the future."""
        return self.calls.submit(function)

    # the loop

    def step(self) -> bool:
        """One frame: False when the camera has no more frames (a finished scenario)."""
        frame = self.hardware.camera.read(timeout=0.5)
        now = self.clock()
        if frame is None:
            if self.hardware.camera.finished:
                return False
            if now - self._last_frame_at > CAMERA_FAULT_AFTER_S:
                self.faults.set("camera", "camera: no frames (stream down or unplugged)")
            self._update_prompt(now, None)
            self._tick(now)
            return True
        self._last_frame_at = now
        self.faults.clear("camera")
        context = FrameContext(frame=frame, now=now)
        started = time.perf_counter()
        context.quiet = self.presence.wake_for(frame.image, now, busy=self.visit is not None) is None
        context.stage_ms["presence"] = _ms_since(started)
        if self.hardware.thermal is not None:
            context.thermal_frame = self.hardware.thermal.read()
        worked: set[str] = set()
        for stage in self.stages:
            if context.quiet and getattr(stage, "rests_when_quiet", False):  # pragma: no mutate (None is as false)
                continue
            started = time.perf_counter()
            try:
                stage.process(context)
                worked.add(stage.name)
            except Exception as error:  # a failing stage must not stop the gate: it simply has no result
                log.exception("stage %s failed", stage.name)
                self.faults.set(stage.name, f"{stage.name}: {type(error).__name__}: {error}")
            context.stage_ms[stage.name] = _ms_since(started)
        self._watch_stage_faults(worked)
        self._tell(self.frame_listeners, frame.image, context, self.visit)
        self.stats.frames += 1
        self.stats.add({k: v for k, v in context.stage_ms.items() if "." not in k})
        if context.face is not None and context.face.faces:
            self.presence.face_seen(now)
        self._follow_visit(context)
        self._update_prompt(now, context.face.primary if context.face else None)
        self._tick(now)
        return True

    def hold_prompt(self, code: str, seconds: float) -> None:
        """Show `code` to the person at the gate for `seconds` whatever the visit says (enrolment: turn slightly)."""
        self._held_prompt = (code, self.clock() + seconds)

    def _update_prompt(self, now: float, face) -> None:
        """The person's instruction for this frame; listeners hear of a change on the same frame."""
        code = prompt_for(now=now, face=face, visit=self.visit, decided=self._decided, policy=self.policy,
                          out_of_service=not self.turnstile.healthy or "camera" in self.faults)
        if self._held_prompt is not None:
            if now < self._held_prompt[1]:
                code = self._held_prompt[0]
            else:
                self._held_prompt = None
        if code == self.prompt.code:
            return
        self.prompt = Prompt(code, now, guide=code == "show_code")
        self._tell(self.prompt_listeners, self.prompt)

    @staticmethod
    def _tell(listeners: list, *args: Any) -> None:
        for listener in listeners:
            try:
                listener(*args)
            except Exception:  # a screen or a speaker must never stop the gate
                log.exception("listener %r failed", listener)

    def _watch_stage_faults(self, worked: set[str]) -> None:
        """A stage's fault: what it reports, or what it raised, until it runs through again (not on the same frame)."""
        for stage in self.stages:
            fault = getattr(stage, "fault", None)
            if fault:
                self.faults.set(stage.name, fault)
            elif stage.name in worked and stage.name in self.faults:
                self.faults.clear(stage.name)

    def _tick(self, now: float) -> None:
        self.calls.run()
        passages = 0
        if self.hardware.passage is not None:
            try:
                passages = self.hardware.passage.poll()
                self.faults.clear("passage")
            except OSError as error:
                self.faults.set("passage", str(error))
        ways = getattr(self.hardware.passage, "ways", ())  # pragma: no mutate (no sensor: no passages, no ways read)
        self.turnstile.tick(passages, ways)
        if self.turnstile.relay_fault is None:
            self.faults.clear("relay")
        else:
            self.faults.set("relay", self.turnstile.relay_fault)
        self.upkeep.tick(now)

    def run(self, should_stop: Callable[[], bool], *, between_frames: Callable[[], None] | None = None) -> None:
        self.start()
        try:
            while not should_stop():
                if between_frames is not None:
                    between_frames()
                if not self.step():
                    break  # pragma: no mutate (a return runs the finally as well)
        finally:
            self.stop()

    # visits and decisions

    def _follow_visit(self, context: FrameContext) -> None:
        now = context.now
        primary = context.face.primary if context.face else None
        visit = self.visit
        if visit is not None and now - visit.last_seen > self.config.pipeline.leave_after_s:
            if visit.decision is None:
                self._decide(visit, self.policy.evaluate(visit, visit.started + self.policy.window_s))
            self._ended(visit)
            self.visit = visit = None
        if primary is not None:
            self.alarms.face_seen()
        else:
            self.alarms.tick(now)
        if primary is not None and primary.quality.ok:
            if visit is None or (visit.decision is not None and visit.track_id != primary.track_id):
                if visit is not None:
                    self._ended(visit)
                visit = self.visit = Visit(None, now, time.perf_counter())  # its track and last sighting: below
            if visit.decision is None:
                visit.track_id = primary.track_id
                if primary.match is not None:
                    visit.match = primary.match
                    visit.embedding = primary.embedding
                if context.thermal is not None:
                    visit.add_reading(context.thermal)
            if context.thermal is not None:  # after the decision they stand at the gate: nearest, sharpest
                visit.keep_if_sharper(context.thermal)
            visit.last_seen = now
        elif visit is not None and primary is not None:
            visit.last_seen = now
        if context.codes:
            if visit is None:
                visit = self.visit = Visit(None, now, time.perf_counter(), last_seen=now)
            if visit.decision is None:
                visit.codes.extend(context.codes)
        if visit is not None and visit.decision is None:
            visit.add_timings({k: v for k, v in context.stage_ms.items() if "." not in k})
            self._decide(visit, self.policy.evaluate(visit, now))

    def _ended(self, visit: Visit) -> None:
        """A person read live has gone: their sharpest reading teaches the thermal stage the people it meets. Not the
        reading the decision went by, which is often a far one, or none. Those called fever are not left out by the
        gate's own call (in a warm hour the healthy read high and are called fever: left out, the baseline would
        learn the cold hours only and drift up); the baseline leaves out whoever reads elevated by its own rule."""
        self._tell(self.ended_listeners, visit)
        decision = visit.decision  # never None: a visit that leaves is decided first; the check is for the type
        temperature = (decision.checks.get("temperature") or {}) if decision is not None else {}  # pragma: no mutate
        if temperature.get("code") not in LEARNED_FROM:
            return
        for stage in self.stages:
            learn = getattr(stage, "learn", None)
            if learn is not None:
                learn(visit.sharpest)

    def _decide(self, visit: Visit, decision: Decision | None) -> None:
        if decision is None:
            return
        visit.decision = decision
        earlier = self._opening_already_for(decision)
        if earlier is not None:
            # recorded like every decision, but a second pulse would let whoever stands behind them through
            decision.same_opening_as = earlier
            self.record(EventKind.decision, decision_body(decision))
            self.stats.decisions += 1
            self._decided = (visit, self.clock())
            return
        match = visit.match
        if decision.granted and match is not None and match.resident_id is not None and match.runner_up > -1.0:
            # the best score among the *other* residents: a stranger's best score through this camera
            self._safely(lambda: self.store.add_visit_score(match.runner_up, match.residents))
        self._tell(self.deciding_listeners, visit, decision)
        self._apply(decision)
        self._tell(self.decided_listeners, visit, decision)
        self._decided = (visit, self.clock())
        self.alarms.decided(visit, decision)

    def _opening_already_for(self, decision: Decision) -> str | None:
        """The opening still waiting for the person this grant names (seen again on a new face track)."""
        if not decision.granted:
            return None
        return self.turnstile.opening_for(_admits(decision))

    def _apply(self, decision: Decision) -> tuple[Event | None, bool]:
        """Commit the decision, then (if granted) pulse the relay: the event (None if it could not be recorded) and
        whether the relay was pulsed."""
        event = self.record(EventKind.decision, decision_body(decision))
        pulsed = False
        if event is None:
            log.error("decision could not be recorded: the gate stays closed (%s)", "; ".join(decision.reasons))
        elif decision.granted:
            if decision.pass_id:
                pass_id = decision.pass_id
                self._safely(lambda: self.store.count_pass_use(pass_id))
                if self.on_pass_used is not None:
                    self.on_pass_used(pass_id)
            pulsed = self.turnstile.open(event.event_id, _admits(decision))
            if pulsed:
                self._safely(lambda: self.passback.passed(_admits(decision)))
            else:
                log.error("decision %s granted but the relay could not be driven", event.event_id)
        self.stats.decided(decision.latency_ms)
        log.info("%s %s: %s", "GRANTED" if decision.granted else "DENIED", event.event_id if event else "(unrecorded)",
                 "; ".join(decision.reasons))
        if self.on_decision is not None:
            self.on_decision(decision, pulsed)
        return event, pulsed

    def open_now(self, source: DecisionSource, actor: str, reason: str) -> str | None:
        """On the loop thread only: a manual opening decided now. None if the gate opened, else the machine code of
        why not (the opening could not be recorded, or the relay could not be driven)."""
        decision = Decision(granted=True, source=source, reasons=[f"manual open: {reason}"], actor=actor)
        event, pulsed = self._apply(decision)
        if event is None:
            return "not_recorded"
        return None if pulsed else "relay_failed"


def _ms_since(started: float) -> float:
    return (time.perf_counter() - started) * 1000.0


def _admits(decision: Decision) -> tuple[str, object] | None:
    """Who a grant lets through: a resident, a pass, or (manual opens) nobody known."""
    if decision.resident_id is not None:
        return ("resident", decision.resident_id)
    if decision.pass_id:
        return ("pass", decision.pass_id)
    return None
