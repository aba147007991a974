"""The gate as its operators' tools see it: one narrow, typed interface.

The MQTT console and the touchscreen open the gate, enrol and remove residents, read status,
change configuration and read events through `GateService` and nothing else; they never reach
into the gate, the store or the face engine. Calls that change the gate are made on the frame
loop (the console's poll runs there; the touchscreen goes through `call_soon`).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from edge.api_tokens import issue as issue_token
from edge.cards import CardBook
from edge.visitors import VisitorBook, VisitorPass
from edge.config import GateConfig
from edge.errors import ConfigError, EnrolmentError
from edge.events import Decision, DecisionSource, Event, EventKind
from edge.face.enrolment import EnrolmentReview, enrol_templates
from edge.face.quality import Quality
from edge.guards import GuardBook
from edge.liveness import liveness_warning
from edge.overrides import set_value, value_at
from edge.prompt import Prompt
from edge.stages.base import FrameContext
from edge.store import Resident
from edge.thermal_calibration import RecheckRefused, RecheckResult

if TYPE_CHECKING:
    from pathlib import Path

    from edge.clock import GateClock
    from edge.face.engine import FaceEngine
    from edge.face.gallery import FaceGallery
    from edge.gate import Gate
    from edge.qr.verify import VerifierRegistry
    from edge.snapshots import Snapshots
    from edge.stages.thermal import ThermalStage
    from edge.store import Store
    from edge.thermal_profiles import ResidentProfiles
    from edge.decision import Visit


class GateParts(Protocol):
    """What the service acts through: the running gate's parts (edge.app.Runtime), named here so that the service,
    and the console and touchscreen above it, never import the assembly that holds them."""

    config: GateConfig
    operator_config: dict
    state_dir: Path
    gate: Gate
    store: Store
    clock: GateClock
    engine: FaceEngine | None
    gallery: FaceGallery | None
    profiles: ResidentProfiles | None
    snapshots: Snapshots | None

    def apply_config(self, new: GateConfig, path: str) -> bool: ...
    def code_registries(self) -> list[VerifierRegistry]: ...
    def face_status(self) -> dict | None: ...
    def thermal_stage(self) -> ThermalStage | None: ...
    def thermal_status(self) -> dict | None: ...
    def mqtt_connected(self) -> bool | None: ...
    def inputs_status(self) -> dict | None: ...


class FaceOff(EnrolmentError):
    """Face recognition is not part of this gate's pipeline."""


@dataclass(frozen=True)
class GateStatus:
    site: str
    gate: str
    faults: dict[str, str]
    frames: int
    decisions: int
    outbox: int
    residents: int
    gallery_version: int
    face: dict | None  # the face check's operating point; None when face recognition is off
    thermal: dict | None  # screening mode's baseline and the site's offset; None without a thermal stage
    warnings: list[str]  # codes of what the gate cannot do (no_liveness) or doubts (clock_unsynchronised, clock_behind)
    clock: dict  # how far the system clock is behind what the gate has seen, and by whom
    mqtt_connected: bool | None  # None when MQTT is off
    relay_open: bool
    inputs: dict | None = None  # the wired inputs: each active or not, lanes held free for a fire; None: none wired

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Enrolled:
    resident_id: int
    uid: str
    review: EnrolmentReview


@dataclass(frozen=True)
class ConfigChange:
    path: str
    old: Any
    new: Any
    applied_now: bool  # False: saved, takes effect after a restart

    @property
    def applied(self) -> str:
        return "now" if self.applied_now else "after a restart"


class GateService:
    def __init__(self, runtime: GateParts) -> None:
        self._runtime = runtime
        self._gate = runtime.gate
        self._store = runtime.store
        ui = runtime.config.ui
        self.guards = GuardBook(runtime.store, max_failures=ui.max_pin_failures, lockout_s=ui.lockout_s)

    # what the gate is

    @property
    def config(self) -> GateConfig:
        return self._runtime.config

    @property
    def template_dimension(self) -> int | None:
        engine = self._runtime.engine
        return engine.embedder.dimension if engine is not None else None

    def status(self) -> GateStatus:
        gate, store, config = self._gate, self._store, self.config
        return GateStatus(site=config.site.site_id, gate=config.site.gate_id, faults=dict(gate.faults),
                          frames=gate.stats.frames, decisions=gate.stats.decisions, outbox=store.outbox_size(),
                          residents=len(store.residents()), gallery_version=store.gallery_version,
                          face=self._runtime.face_status(), thermal=self._runtime.thermal_status(),
                          warnings=(["no_liveness"] if liveness_warning(config) else []) + self._runtime.clock.warnings(),
                          clock=self._runtime.clock.as_dict(), mqtt_connected=self._runtime.mqtt_connected(),
                          relay_open=gate.turnstile.is_open, inputs=self._runtime.inputs_status())

    # acting on the gate

    def open(self, source: DecisionSource, actor: str, reason: str) -> str | None:
        """On the frame loop's thread: a manual opening decided and recorded now. None when the gate opened, else the
        machine code of why it stayed closed (`not_recorded`, `relay_failed`)."""
        return self._gate.open_now(source, actor, reason)

    def saw_signed_time(self, at: float, by: str) -> None:
        """Someone signed a time (an administrator's record): the gate's date is never earlier than that."""
        self._runtime.clock.signed(at, by)

    def record(self, kind: EventKind, body: dict[str, Any]) -> Event | None:
        return self._gate.record(kind, body)

    def call_soon(self, function: Callable[[], Any]) -> Future:
        """Run `function` on the frame loop (from another thread); its result comes back in the future."""
        return self._gate.call_soon(function)

    # residents

    def residents(self) -> list[Resident]:
        return self._store.residents()

    def resident(self, *, uid: str | None = None, resident_id: int | None = None) -> Resident | None:
        if uid is not None:
            return self._store.resident_by_uid(uid)
        return next((r for r in self._store.residents() if r.id == resident_id), None)

    def enrolment_face(self, image: np.ndarray) -> tuple[np.ndarray, Quality, np.ndarray]:
        return self._engine().enrolment_face(image, source="live camera")

    def face_threshold(self) -> float:
        """The face check's threshold in force (frames of one person score above it against each other)."""
        return self._gallery().matcher.threshold

    def announce(self, prompt_code: str, seconds: float) -> None:
        """Tell the person at the gate something for a while (thread-safe: it is shown from the next frame)."""
        self._gate.call_soon(lambda: self._gate.hold_prompt(prompt_code, seconds))

    def template_from_photo(self, image: np.ndarray, source: str) -> tuple[np.ndarray, Quality]:
        return self._engine().template_from_photo(image, source=source)

    def enrol(self, name: str, unit: str, templates: list[np.ndarray], qualities: list[float],
              sources: list[str], *, lookalike_of: tuple[int, ...] = (), valid_until: float | None = None) -> Enrolled:
        """Review the templates against everyone enrolled, store those kept; EnrolmentError says why not
        (DuplicateEnrolment, naming them, for someone already enrolled and not declared a lookalike)."""
        resident_id, review = enrol_templates(self._gallery(), name, unit, templates, qualities, sources,
                                              lookalike_of=lookalike_of, valid_until=valid_until)
        return Enrolled(resident_id, next(r.uid for r in self._store.residents() if r.id == resident_id), review)

    def remove_resident(self, resident: Resident) -> None:
        self._store.remove_resident(resident.id)
        self._gallery_changed()  # searched no more from the next frame, nor taken for a duplicate at enrolment

    def not_this_person(self, resident_id: int, embedding: np.ndarray, note: str, *, visit_id: str = "") -> None:
        """A face the gate took for this resident is someone else: it is kept as a negative template, and what
        that visit taught the gallery is removed."""
        self._store.add_templates(resident_id, [embedding], [0.0], [note], negative=True)
        self._gallery_changed(forget_visit=visit_id)

    def _engine(self) -> FaceEngine:
        if (engine := self._runtime.engine) is None:
            raise FaceOff("face recognition is off on this gate")
        return engine

    def _gallery(self) -> FaceGallery:
        if (gallery := self._runtime.gallery) is None:
            raise FaceOff("face recognition is off on this gate")
        return gallery

    def _gallery_changed(self, *, forget_visit: str = "") -> None:
        if (gallery := self._runtime.gallery) is not None:
            if forget_visit and gallery.forget_visit(forget_visit) is not None:
                return  # it removed the visit's template and re-read the store: the new templates too
            gallery.changed()

    def apply_resident_record(self, uid: str, version: int, *, removed: bool = False, name: str = "",
                              unit: str = "", templates: list[np.ndarray] | None = None) -> bool:
        """A site-wide record (newest version wins), searched from the next frame; False if this gate already has
        it or a newer one."""
        if applied := self._store.apply_resident_record(uid, version, name=name, unit=unit,
                                                         embeddings=None if removed else templates):
            self._gallery_changed()
        return applied

    # temperature

    def recheck(self, visit_id: str, clinical_c: float, actor: str) -> RecheckResult:
        """A guard's clinical reading of a visit's person: recorded, and (within bounds) taught to the site's offset.
        RecheckRefused names the field when it cannot be used (no such visit, out of range, a likely typo)."""
        stage = self._runtime.thermal_stage()
        if stage is None or stage.calibration is None:
            raise RecheckRefused("visit_id: this gate has no thermal camera")
        result = stage.calibration.recheck(visit_id, clinical_c, actor,
                                           threshold_c=self.config.checks.temperature.threshold_c)
        self.record(EventKind.action, {"action": "fever_recheck", "guard": actor, "visit_id": visit_id,
                                       "clinical_temperature_c": round(result.clinical_c, 2),
                                       "gate_temperature_c": None if result.gate_c is None else round(result.gate_c, 2),
                                       "fever_confirmed": result.fever_confirmed})
        if result.fever_confirmed and self._runtime.profiles is not None:
            self._runtime.profiles.forget_visit(visit_id)
        if (change := result.change) is not None:
            self.record(EventKind.action, {"action": "thermal_offset_changed", "change": change.id,
                                           "offset_c": change.offset_c, "previous_c": change.previous_c,
                                           "pairs": change.pairs, "why": change.reason, "actor": actor})
        return result

    # configuration

    def change_config(self, path: str, value: Any, admin: str) -> ConfigChange:
        """Validate, save to the overrides file, apply what can be applied live, record who did it.
        KeyError for an unknown key, ConfigError for a value a start would refuse."""
        runtime = self._runtime
        old = value_at(runtime.config, path)
        new = set_value(runtime.operator_config, runtime.config, path, value, state_dir=runtime.state_dir)
        change = ConfigChange(path, old, value_at(new, path), runtime.apply_config(new, path))
        self.record(EventKind.action, {"action": "config_changed", "path": path, "old": change.old,
                                       "new": change.new, "admin": admin, "applied": change.applied})
        return change

    # events, passes, certificates

    def events(self, *, since: float = 0.0, kind: str | None = None, limit: int = 100) -> list[dict]:
        return self._store.events(since=since, kind=kind, limit=limit)

    def latest_events(self, count: int) -> list[dict]:
        return self._store.latest_events(count)

    @property
    def keeps_snapshots(self) -> bool:
        return self._runtime.snapshots is not None

    def snapshot(self, event_id: str) -> bytes | None:
        """The face snapshot kept with a decision (storage.snapshots), or None."""
        snapshots = self._runtime.snapshots
        return snapshots.read(event_id) if snapshots is not None else None

    def passes(self) -> list[dict]:
        return [asdict(record) for record in self._store.passes()]

    def revoke_pass(self, pass_id: str) -> None:
        self._store.revoke_pass(pass_id)

    def cards(self) -> list[dict]:
        return [{"card": c.label, "resident_id": c.resident_id, "name": c.resident_name, "created": c.created}
                for c in CardBook(self._store, self._runtime.state_dir).cards()]

    def enrol_card(self, resident_id: int, number: str) -> str:
        """The card's label; ConfigError naming the field (not a number, taken, no such resident)."""
        if self.resident(resident_id=resident_id) is None:
            raise ConfigError(f"resident_id: no resident {resident_id}")
        return CardBook(self._store, self._runtime.state_dir).enrol(number, resident_id)

    def next_card(self, seconds: float) -> Future:
        """On the frame loop: the next card tapped within `seconds`, for enrolment (its number in the future)."""
        from edge.stages.card import CardStage

        stage = next((s for s in self._gate.stages if isinstance(s, CardStage)), None)
        if stage is None:
            raise ConfigError("hardware.card_reader: this gate has no card reader")
        return stage.claim_next(seconds)

    def remove_card(self, number: str) -> bool:
        return CardBook(self._store, self._runtime.state_dir).remove(number)

    def register_visitor(self, *, name: str, host_unit: str, hours: float, phone: str, guard: str) -> VisitorPass:
        """A visitor's pass, issued at the booth and recorded (the host unit hears of it through the event, over MQTT
        and the webhooks); ConfigError naming the field."""
        visitor = VisitorBook(lambda: self.config, self._store).register(name=name, host_unit=host_unit, hours=hours,
                                                                          phone=phone)
        self.record(EventKind.action, {"action": "visitor_registered", "guard": guard[:64], "name": visitor.name,
                                       "host_unit": visitor.host_unit, "pass_id": visitor.pass_id,
                                       "valid_until": visitor.valid_until, "uses": visitor.uses,
                                       **({"phone": phone.strip()} if phone.strip() else {})})
        return visitor

    def access_groups(self) -> list[dict]:
        """The access groups in force at this gate, each open or not now, with its verification mode (for the guard's
        screen)."""
        from edge.schedule import judge

        settings, now = self.config.checks.schedule, self._gate.policy.wall()  # a simulated morning: its hour
        return [{"name": name, "open": judge({str(d): s for d, s in rules.weekly.items()}, rules.holidays,
                                              settings.timezone, now).allowed,
                 "verification": rules.verification} for name, rules in self._gate.groups.in_force().items()]

    def reset_passback(self, who: tuple[str, object], actor: str) -> str:
        """On the frame loop: a guard's or administrator's word that the person may pass either way once more, at
        every gate of the site; the person's key. ConfigError naming the field when nobody is known by `who`."""
        passback = self._gate.passback
        person = passback.person(who)
        if person is None:
            raise ConfigError(f"{who[0]}: no such person at this gate")
        passback.reset(person)
        self.record(EventKind.action, {"action": "passback_reset", "actor": actor[:64], "person": person})
        return person

    def set_access_group(self, resident_id: int, group: str | None) -> bool:
        return self._store.set_access_group(resident_id, group)

    def issue_api_token(self, name: str, scopes: list[str]) -> str:
        """A new integrators' token (shown once; only its hash is kept); ValueError naming the field at fault."""
        return issue_token(self._store, name, scopes)

    def api_tokens(self) -> list[dict]:
        return [{"id": t.token_id, "name": t.name, "scopes": list(t.scopes), "created": t.created,
                 "revoked": t.revoked} for t in self._store.tokens()]

    def revoke_api_token(self, token_id: str) -> bool:
        return self._store.revoke_token(token_id)

    def first_use_of_nonce(self, nonce: str, now: float, *, keep_s: float) -> bool:
        """False when a signed command with this nonce was already run (a replay)."""
        return self._store.remember_nonce(nonce, now, keep_s=keep_s)

    def replace_trust_list(self, certificates: list[str]) -> int:
        """Base64 DER signer certificates become the trust list (saved, and used from the next code).
        ValueError names the first certificate that is not one."""
        from edge.qr.dcc import TrustList, signer_from_der

        signers = []
        for index, text in enumerate(certificates):
            try:
                signers.append(signer_from_der(base64.b64decode(text, validate=True)))
            except Exception:  # any parse failure of untrusted input is a refusal, not a crash
                raise ValueError(f"certificates[{index}] is not a signer certificate") from None
        path = self._runtime.state_dir / "trustlist.json"
        temporary = path.with_suffix(".tmp")
        temporary.write_text(json.dumps(certificates))
        temporary.replace(path)
        trust = TrustList(signers)
        for registry in self._runtime.code_registries():
            registry.replace_trust(trust)
        return len(trust)

    # following the gate (listeners are called on the frame loop)

    @property
    def prompt(self) -> Prompt:
        return self._gate.prompt

    def on_event(self, listener: Callable[[Event], None]) -> None:
        self._gate.listeners.append(listener)

    def on_prompt(self, listener: Callable[[Prompt], None]) -> None:
        self._gate.prompt_listeners.append(listener)

    def on_frame(self, listener: Callable[[np.ndarray, FrameContext, Visit | None], None]) -> None:
        self._gate.frame_listeners.append(listener)

    def on_decided(self, listener: Callable[[Visit, Decision], None]) -> None:
        self._gate.decided_listeners.append(listener)
