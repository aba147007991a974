"""Wiring: from a validated config to a running Gate (store, models, stages, drivers)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

from drivers.sim.scenario import Scenario, load_scenario
from drivers.sim.world import FaceLocation
from edge.clock import GateClock
from edge.config import GateConfig, parse_config, read_yaml
from edge.control import ControlServer
from edge.doctor import liveness_warning
from edge.errors import EnrolmentError, StorageError
from edge.events import DecisionSource, EventKind
from edge.face.engine import FaceEngine
from edge.face.enrolment import EnrolmentReview, enrol_templates
from edge.face.gallery import FaceGallery
from edge.face.setup import build_engine
from edge.gate import Gate
from edge.hardware import Hardware, open_hardware
from edge.images import read_image
from edge.instance import InstanceLock
from edge.overrides import with_overrides
from edge.qr.online import OnlineChecker
from edge.qr.verify import VerifierRegistry, build_registry
from edge.sdnotify import Notifier
from edge.service import GateService
from edge.stages.base import Stage
from edge.stages.face import FaceStage
from edge.stages.qr import QrStage
from edge.stages.thermal import ThermalStage
from edge.store import Store
from edge.thermal_calibration import SiteCalibration
from edge.thermal_profiles import ResidentProfiles

if TYPE_CHECKING:
    from edge.mqtt.console import Console
    from edge.mqtt.link import MqttLink
    from edge.mqtt.site_passes import SitePasses
    from edge.mqtt.telemetry import Telemetry

log = logging.getLogger(__name__)

LINK_FAULT_AFTER_S = 2.0
STOP_FLUSH_S = 4.0  # a clean stop waits this long for the collector to confirm what is queued (2 s was short on a
# busy box; within systemd's TimeoutStopSec=10s with the link's own goodbye)
LIVE_SECTIONS = ("checks", "turnstile", "pipeline", "face")  # config.set applies these at once; others at restart


def face_locator(engine: FaceEngine) -> Callable[[np.ndarray], FaceLocation | None]:
    """The simulator places thermal faces where our own detector finds them in the photo."""

    def locate(image: np.ndarray) -> FaceLocation | None:
        scale = min(1.0, 1280 / max(image.shape[:2]))
        small = cv2.resize(image, None, fx=scale, fy=scale) if scale < 1 else image
        detections = engine.detector.detect(small)
        if not detections:
            return None
        best = max(detections, key=lambda d: d.eye_distance)
        x1, y1, x2, y2 = (best.box / scale).tolist()
        return (x1, y1, x2 - x1, y2 - y1), best.landmarks / scale

    return locate


def enrol_photos(engine: FaceEngine, gallery: FaceGallery, name: str, unit: str, photos: list[Path], *,
                 lookalike_of: tuple[int, ...] = ()) -> tuple[int, EnrolmentReview]:
    """Enrol one resident from photos: every photo must hold a good face; ambiguous ones are refused. A photo
    with several faces gives the one that matches the person's other photos, or is refused alone."""
    found = [(Path(photo).name, engine.faces_in_photo(read_image(photo), source=str(photo))) for photo in photos]
    singles = [faces[0][0] for _, faces in found if len(faces) == 1]
    embeddings, qualities, sources, refused = [], [], [], []
    for source, faces in found:
        if len(faces) > 1:
            chosen = pick_the_person(faces, singles, gallery.matcher.threshold)
            if chosen is None:
                refused.append(f"{source}: {len(faces)} faces, none of them clearly the person of the other photos")
                continue
            faces = [chosen]
        embeddings.append(faces[0][0])
        qualities.append(faces[0][1].value)
        sources.append(source)
    if not embeddings:
        raise EnrolmentError("; ".join(refused) + ("" if singles else "; use a photo of one person, or add one"))
    resident_id, review = enrol_templates(gallery, name, unit, embeddings, qualities, sources,
                                          lookalike_of=lookalike_of)
    return resident_id, EnrolmentReview(review.kept, review.refused + refused, review.lookalikes)


def pick_the_person(faces: list, others: list[np.ndarray], threshold: float):
    """Of a photo's faces, the one its person's other photos agree with (above the threshold, and beating the
    rest by a margin); None if none clearly does."""
    if not others:
        return None
    references = np.stack(others)
    scored = sorted(((float((references @ embedding).max()), (embedding, quality)) for embedding, quality in faces),
                    key=lambda item: -item[0])
    best, runner_up = scored[0][0], scored[1][0]
    return scored[0][1] if best >= threshold and best - runner_up >= 0.1 else None


def _merge(base: dict, override: dict) -> dict:
    merged = dict(base)
    for key, value in override.items():
        merged[key] = _merge(base[key], value) if isinstance(value, dict) and isinstance(base.get(key), dict) else value
    return merged


def scenario_config(config: GateConfig, scenario: Scenario) -> GateConfig:
    """The config with the scenario's own settings over it (its trust list path taken from its folder)."""
    if not scenario.spec.config:
        return config
    merged = parse_config(_merge(config.model_dump(mode="json"), scenario.spec.config),
                          source=f"scenario {scenario.spec.name!r} config")
    trust_list = merged.qr.dcc.trust_list
    if trust_list and not Path(trust_list).is_absolute():
        merged.qr.dcc.trust_list = str(scenario.base_dir / trust_list)
    return merged


def prepare_scenario(engine: FaceEngine | None, gallery: FaceGallery | None, store: Store, scenario: Scenario) -> None:
    """The scenario's residents enrolled and its revoked passes revoked, as a site would have them."""
    for pass_id in scenario.spec.revoked_passes:
        store.revoke_pass(pass_id)
    if engine is None or gallery is None:
        return
    for resident in scenario.spec.residents:
        if store.find_residents(resident.name):
            continue
        photos = [scenario.photo_path(p) for p in resident.photos]
        enrol_photos(engine, gallery, resident.name, resident.unit, photos)
        log.info("enrolled scenario resident %s", resident.name)


def build_stages(config: GateConfig, engine: FaceEngine | None, hardware: Hardware, store: Store,
                 state_dir: Path, *, clock: GateClock | None = None) -> list[Stage]:
    stages: list[Stage] = []
    for name in config.pipeline.stages:
        if name == "face" and engine is not None:
            stages.append(FaceStage(engine))
        elif name == "thermal":
            calibration = SiteCalibration(store, config.hardware.thermal.recheck)
            stages.append(ThermalStage(config.hardware.thermal, state_dir=state_dir, calibration=calibration))
        elif name == "qr":
            online = None
            if config.qr.online.enabled:
                online = OnlineChecker(config.qr.online, site=config.site.site_id, gate=config.site.gate_id)
            registry = build_registry(config, store, state_dir, clock=(clock or GateClock()).now)
            stages.append(QrStage(registry, scanner=hardware.scanner, online=online,
                                  online_prefix=config.qr.online.prefix))
    return stages


class Runtime:
    """Everything a running gate holds; `close()` releases it in the right order."""

    def __init__(self, config: GateConfig, *, state_dir: Path | None = None, scenario: Scenario | None = None,
                 realtime: bool | None = None, loop: bool | None = None, notifier: Notifier | None = None,
                 control: bool = True, on_decision=None, mqtt: bool = True, ui: bool = True,
                 config_path: Path | None = None, gate_clock: GateClock | None = None) -> None:
        # the operator's own settings (file or caller), over which run-time changes are layered
        self.operator_config = (read_yaml(config_path) or {}) if config_path else config.model_dump(mode="json")
        config = with_overrides(self.operator_config, source=str(config_path or "config"),
                                state_dir=state_dir or config.state_dir)
        uses_sim = "sim" in (config.hardware.camera.driver, config.hardware.thermal.driver)
        if uses_sim and scenario is None:
            scenario = load_scenario(config.simulation.scenario)
        if scenario is not None:
            config = scenario_config(config, scenario)
        self.config = config
        self.scenario = scenario
        self.state_dir = Path(state_dir or config.state_dir)
        self.instance = InstanceLock(self.state_dir)
        self.store = Store(self.state_dir)
        self.clock = gate_clock or GateClock()
        self.clock.recorded(self.store.newest_event_time() or 0.0)  # the clock cannot be earlier than that
        self.gallery: FaceGallery | None = None
        self.engine: FaceEngine | None = None
        if "face" in config.pipeline.stages:
            self.gallery = FaceGallery(self.store, config.face)
            self.engine = build_engine(config.face, self.gallery, focal_px=config.hardware.camera.focal_px,
                                       search_window_s=config.pipeline.decision_window_s)
        if scenario is not None:
            prepare_scenario(self.engine, self.gallery, self.store, scenario)
        if self.gallery is not None:
            self.gallery.refresh()
            self.gallery.start()
        locator = face_locator(self.engine) if self.engine is not None else None
        self.hardware = open_hardware(config, scenario=scenario, locator=locator, realtime=realtime, loop=loop)
        warning = liveness_warning(config)
        if warning:
            log.warning("%s", warning)
        world = self.hardware.world
        clock = (lambda: world.now) if world is not None and config.hardware.camera.driver == "sim" else time.monotonic
        self.gate = Gate(config, hardware=self.hardware, store=self.store,
                         stages=build_stages(config, self.engine, self.hardware, self.store, self.state_dir,
                                             clock=self.clock),
                         clock=clock,
                         notifier=notifier, on_decision=on_decision)
        if world is not None and config.hardware.camera.driver == "sim":
            self.gate.prompt_listeners.append(lambda prompt: world.show(prompt.code))  # the person in front reads it
        if self.gallery is not None:
            self.gate.ended_listeners.append(self._teach_gallery)
        self.profiles: ResidentProfiles | None = None
        thermal = self.thermal_stage()
        if thermal is not None and self.engine is not None and config.hardware.thermal.personal_baselines:
            self.profiles = ResidentProfiles(self.store, reference_c=config.hardware.thermal.baseline.reference_c,
                                             threshold_c=lambda: self.config.checks.temperature.threshold_c)
            self.gate.policy.personal = self.profiles.offset
            self.gate.ended_listeners.append(self._teach_temperature)
        self.service = GateService(self)
        self.control = ControlServer(self.state_dir, self._handle_control) if control else None
        self.link: MqttLink | None = None
        self.console: Console | None = None
        self.site_passes: SitePasses | None = None
        self.telemetry: Telemetry | None = None
        self._link_down_since: float | None = None
        if config.mqtt.enabled and mqtt:
            self._start_mqtt(config_path)
        self.voice = None
        if config.ui.voice_dir:
            from edge.voice import VoicePrompts

            self.voice = VoicePrompts(config.ui.voice_dir, config.ui.language, config.ui.voice_command)
            self.gate.prompt_listeners.append(lambda prompt: self.voice.say(prompt.code) if self.voice else None)
        self.touchscreen = None
        if config.ui.enabled and ui:
            from edge.ui.server import TouchscreenServer

            self.touchscreen = TouchscreenServer(self.service, config.ui)
            self.touchscreen.start()
            if self.touchscreen.error:
                self.gate.faults.set("ui", self.touchscreen.error)

    def _start_mqtt(self, config_path: Path | None) -> None:
        from edge.events import AlarmKind, EventKind
        from edge.mqtt.console import Console
        from edge.mqtt.homeassistant import discovery_records
        from edge.mqtt.link import MqttLink
        from edge.mqtt.site_passes import SitePasses
        from edge.mqtt.telemetry import Telemetry
        from edge.mqtt.topics import Topics

        config = self.config
        topics = Topics(config.site.site_id, config.site.gate_id)

        def overflow(dropped: dict[str, int]) -> None:
            # called on the drain thread; the record goes through the store's own lock
            self.gate.record(EventKind.alarm, {"alarm": AlarmKind.device_fault.value, "device": "outbox",
                                               "detail": f"outbox full: dropped {dropped}"})

        home_assistant = config.mqtt.home_assistant

        def announcements() -> list[tuple[str, str]]:
            # at every connect (paho's thread): Home Assistant's discovery, this gate's pass counts
            records = discovery_records(config, topics) if home_assistant.enabled else []
            return records + (self.site_passes.announcements() if self.site_passes is not None else [])

        link = MqttLink(config.mqtt, self.store, topics, on_message=self._on_mqtt_message,
                        on_outbox_overflow=overflow, announce=announcements,
                        announce_on_birth=f"{home_assistant.discovery_prefix}/status" if home_assistant.enabled else None)
        self.link = link
        self.console = Console(self.service, link.reply, topics)
        self.site_passes = SitePasses(self.store, topics, config.mqtt.admin_keys, link.publish_retained)
        self.gate.on_pass_used = self.site_passes.used
        self.telemetry = Telemetry(self.gate, self.store, topics.telemetry, interval_s=config.mqtt.telemetry_interval_s,
                                   face_status=self.face_status, thermal_status=self.thermal_status,
                                   clock_status=self.clock_status)
        self.gate.after_record = link.wake
        link.start()

    def _on_mqtt_message(self, incoming) -> None:
        if self.site_passes is not None and self.site_passes.submit(incoming):
            return
        if self.console is not None:
            self.console.submit(incoming)

    def _between_frames(self) -> None:
        """The loop's other work. A state database that cannot write (a full disk) holds the gate shut and says so on
        the guard's screen; it once ended the daemon instead, and systemd restarted it into the same wall."""
        try:
            if self.control is not None:
                self.control.poll()
            if self.link is not None:
                self._watch_link(self.link)
            if self.console is not None:
                self.console.poll()
            if self.site_passes is not None:
                self.site_passes.poll()
            if self.telemetry is not None and self.telemetry.poll() and self.link is not None:
                self.link.wake()
        except StorageError as error:
            self.gate.storage_failed(error)

    def _handle_control(self, request: dict) -> dict:
        command = request.get("command")
        if command == "open":
            reason = str(request.get("reason") or "").strip()
            if not reason:
                return {"ok": False, "error": "reason: a manual open needs a reason"}
            # the control socket is polled on the loop thread, so the opening is decided before the reply: a gate that
            # could not record it (a locked or full database) or drive the relay says so to the caller
            failure = self.service.open(DecisionSource.cli, str(request.get("actor") or "local"), reason)
            if failure is not None:
                return {"ok": False, "code": failure, "error": f"open: the gate stayed closed ({failure})"}
            return {"ok": True}
        if command == "status":
            return {"ok": True, **self.service.status().as_dict()}
        if command == "sim":
            # the simulated devices can be told to fail, as a real one would (soak tests, demos)
            world = self.hardware.world
            if world is None:
                return {"ok": False, "error": "command: no simulated hardware on this gate"}
            for name in ("camera_dropped", "thermal_frozen"):
                if isinstance(request.get(name), bool):
                    setattr(world, name, request[name])
            return {"ok": True, "camera_dropped": world.camera_dropped, "thermal_frozen": world.thermal_frozen}
        return {"ok": False, "error": f"command: unknown command {command!r}"}

    def apply_config(self, new: GateConfig, path: str) -> bool:
        """A configuration changed at run time: what depends on `path` is rebuilt now; False if it needs a restart."""
        if self.scenario is not None:
            new = scenario_config(new, self.scenario)
        section = path.split(".")[0]
        if section not in LIVE_SECTIONS:
            return False
        self.config = new
        self.gate.apply_config(new)
        if section == "face" and self.engine is not None and self.gallery is not None:
            self.engine.evidence_frames = new.face.evidence_frames
            self.engine.single_frame_margin = new.face.single_frame_margin
            self.gallery.reconfigure(new.face)
        return True

    def code_registries(self) -> list[VerifierRegistry]:
        """The verifiers of the QR stage (one per stage that reads codes)."""
        return [stage.registry for stage in self.gate.stages if isinstance(stage, QrStage)]

    def clock_status(self) -> dict:
        """How far the system clock is behind what the gate has seen, and what is doubtful about it."""
        return {**self.clock.as_dict(), "warnings": self.clock.warnings()}

    def face_status(self) -> dict | None:
        """The face check's operating point: threshold in use, why, and the estimated share of strangers let in."""
        if self.engine is None:
            return None
        matcher = self.engine.matcher
        return {**matcher.point.as_dict(), "margin": matcher.margin, "lookalike_pairs": len(matcher.lookalikes.pairs),
                "gallery_version": matcher.version}

    def _teach_gallery(self, visit) -> None:
        """A resident let in with a wide margin has gone: their visit may teach the gallery a template."""
        match, decision = visit.match, visit.decision
        if self.gallery is None or decision is None or not decision.granted or match is None or not match.known:
            return
        if not isinstance(visit.embedding, np.ndarray) or match.resident_id is None:
            return
        taught = self.gallery.adapt(visit.visit_id, match.resident_id, visit.embedding, frames=match.frames,
                                    match_similarity=match.similarity, runner_up=match.runner_up)
        if taught is not None:
            self.gate.record(EventKind.action, {"action": "template_learned", "resident_id": taught.resident_id,
                                                "template_id": taught.template_id, "visit_id": visit.visit_id,
                                                "score": round(taught.score, 3), "replaced": taught.replaced})

    def _teach_temperature(self, visit) -> None:
        """A resident read live has gone: their visit may teach their own offset (never a fever)."""
        match, stage, profiles = visit.match, self.thermal_stage(), self.profiles
        if profiles is None or stage is None or match is None or match.resident_id is None:
            return
        estimate = visit.temperature.estimate()
        if estimate is None:
            return
        calibrated = not stage.baseline.config.enabled or stage.baseline.ready
        profiles.learn(match.resident_id, visit.visit_id, estimate, live=visit.temperature.liveness(),
                       calibrated=calibrated)

    def thermal_stage(self) -> ThermalStage | None:
        return next((stage for stage in self.gate.stages if isinstance(stage, ThermalStage)), None)

    def thermal_status(self) -> dict | None:
        """Screening mode's baseline (size, age, shift) and the site's offset learned from rechecks."""
        stage = self.thermal_stage()
        if stage is None:
            return None
        return {"baseline": stage.baseline.status().as_dict(), "systematic_c": round(stage.systematic_c, 3),
                "site_offset_c": round(stage.calibration.offset_c, 3) if stage.calibration is not None else 0.0}

    def run(self, should_stop: Callable[[], bool]) -> None:
        self.gate.run(should_stop, between_frames=self._between_frames)

    def _watch_link(self, link: MqttLink) -> None:
        """The broker being away is a device fault once it lasts (events wait in the outbox meanwhile)."""
        now = time.monotonic()
        if link.connected.is_set():
            self._link_down_since = None
            self.gate.faults.clear("mqtt")
        else:
            self._link_down_since = self._link_down_since or now
            if now - self._link_down_since >= LINK_FAULT_AFTER_S and "mqtt" not in self.gate.faults:
                self.gate.faults.set("mqtt", f"mqtt: broker {self.config.mqtt.host}:{self.config.mqtt.port} "
                                             f"unreachable ({link.last_error or 'connecting'})")

    def flush(self, timeout: float) -> bool:
        """Wait (bounded) for the outbox to drain while the broker is reachable; True if empty."""
        if self.link is None:
            return self.store.outbox_size() == 0
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.store.outbox_size() and self.link.connected.is_set():
            self.link.wake()
            time.sleep(0.05)
        return self.store.outbox_size() == 0

    def close(self) -> None:
        if self.touchscreen is not None:
            self.touchscreen.stop()
        if self.voice is not None:
            self.voice.close()
        if self.link is not None:
            self.flush(STOP_FLUSH_S)
            self.link.stop()
        if self.control is not None:
            self.control.close()
        if self.gallery is not None:
            self.gallery.close()
        for stage in self.gate.stages:
            close = getattr(stage, "close", None)
            if close is not None:
                close()
        self.hardware.close()
        self.store.close()
        self.instance.close()


