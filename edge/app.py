"""The running gate, assembled: state, face, hardware, stages, the frame loop and what talks to the outside."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from drivers.io import SimIO
from drivers.sim.scenario import Scenario, load_scenario
from edge.clock import GateClock
from edge.controller_feed import ControllerFeed
from edge.config import GateConfig, read_yaml
from edge.control import ControlServer
from edge.liveness import liveness_warning
from edge.errors import StorageError
from edge.events import DecisionSource
from edge.face.engine import FaceEngine
from edge.face.gallery import FaceGallery
from edge.face.setup import build_engine, configure
from edge.gate import Gate
from edge.hardware import open_hardware, open_io
from edge.instance import InstanceLock
from edge.overrides import with_overrides
from edge.qr.verify import VerifierRegistry
from edge.scenario_setup import face_locator, prepare_scenario, scenario_config, scenario_wall
from edge.sdnotify import Notifier
from edge.service import GateService
from edge.site_io import SiteIO
from edge.snapshots import Snapshots
from edge.spot_checks import SpotChecks
from edge.stages.build import build_stages
from edge.stages.qr import QrStage
from edge.stages.thermal import ThermalStage
from edge.store import Store
from edge.thermal_profiles import ResidentProfiles
from edge.visit_lessons import gallery_teacher, temperature_teacher
from edge.webhooks import WebhookSender

if TYPE_CHECKING:
    from edge.mqtt.console import Console
    from edge.mqtt.link import MqttLink
    from edge.mqtt.site_passes import SitePasses
    from edge.mqtt.uplink import Uplink

log = logging.getLogger(__name__)

STOP_FLUSH_S = 4.0  # a clean stop waits this long for the collector to confirm what is queued (2 s was short on a
# busy box; within systemd's TimeoutStopSec=10s with the link's own goodbye)
LIVE_SECTIONS = ("checks", "turnstile", "pipeline", "face")  # config.set applies these at once; others at restart


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
        self._start_face()
        locator = face_locator(self.engine) if self.engine is not None else None
        self.hardware = open_hardware(config, scenario=scenario, locator=locator, realtime=realtime, loop=loop)
        warning = liveness_warning(config)
        if warning:
            log.warning("%s", warning)
        self.gate = self._build_gate(notifier, on_decision)
        self.site_io = self._start_site_io()
        self.controller_feed = self._start_controller_feed()
        self.webhooks = self._start_webhooks()
        self.snapshots = self._start_snapshots()
        self.spot_checks = self._start_spot_checks()
        self.profiles = self._start_learning()
        self.service = GateService(self)
        self.control = ControlServer(self.state_dir, self._handle_control) if control else None
        self.uplink: Uplink | None = None
        if config.mqtt.enabled and mqtt:
            from edge.mqtt.uplink import Uplink

            self.uplink = Uplink(config, self.gate, self.store, self.service, face_status=self.face_status,
                                 thermal_status=self.thermal_status, clock_status=self.clock_status)
            self.uplink.start()
            if self.snapshots is not None and config.storage.snapshots_to_collector:
                self.snapshots.send = self.uplink.send_snapshot
        self.voice = self._start_voice()
        self.touchscreen = self._start_touchscreen() if config.ui.enabled and ui else None
        self.api = self._start_api() if config.api.enabled and ui else None

    def _start_face(self) -> None:
        self.gallery: FaceGallery | None = None
        self.engine: FaceEngine | None = None
        config = self.config
        if "face" in config.pipeline.stages:
            self.gallery = FaceGallery(self.store, config.face)
            self.engine = build_engine(config.face, self.gallery, focal_px=config.hardware.camera.focal_px,
                                       search_window_s=config.pipeline.decision_window_s)
        if self.scenario is not None:
            prepare_scenario(self.engine, self.gallery, self.store, self.scenario, state_dir=self.state_dir,
                             config=self.config)
        if self.gallery is not None:
            self.gallery.refresh()
            self.gallery.start()

    def _build_gate(self, notifier: Notifier | None, on_decision) -> Gate:
        config, world = self.config, self.hardware.world
        simulated = world is not None and config.hardware.camera.driver == "sim"
        gate = Gate(config, hardware=self.hardware, store=self.store,
                    stages=build_stages(config, self.engine, self.hardware, self.store, self.state_dir,
                                        clock=self.clock),
                    clock=(lambda: world.now) if simulated and world is not None else time.monotonic,
                    notifier=notifier, on_decision=on_decision)
        if simulated and world is not None:
            gate.prompt_listeners.append(lambda prompt: world.show(prompt.code))  # the person in front reads it
            wall = scenario_wall(world.scenario, config.checks.schedule.timezone, lambda: world.now)
            if wall is not None:  # a morning played at its own hour: the hours are judged by it
                gate.policy.wall = wall
        return gate

    def _start_controller_feed(self) -> ControllerFeed | None:
        """Wiegand output (hardware.wiegand_output): who was let in, to the site's access controller."""
        if self.hardware.wiegand_output is None:
            return None
        feed = ControllerFeed(self.hardware.wiegand_output, self.store, self.config.hardware.wiegand_output)
        self.gate.decided_listeners.append(feed.decided)
        return feed

    def _start_site_io(self) -> SiteIO | None:
        """The wired inputs on their own thread: a fire alarm holds the lanes free even with the frame loop stalled."""
        io = open_io(self.config.hardware.io)
        if io is None:
            return None
        gate = self.gate

        def exit_button() -> None:
            gate.call_soon(lambda: gate.open_now(DecisionSource.exit_button, "exit_button", "exit button"))

        site_io = SiteIO(io, self.config.hardware.io, hold_free=gate.turnstile.hold_free,
                         release_free=gate.turnstile.release_free, open_gate=exit_button, record=gate.record)
        gate.listeners.append(site_io.alarm_raised)
        site_io.start()
        return site_io

    def _start_webhooks(self) -> list[WebhookSender]:
        senders = [WebhookSender(hook, self.store, gate_name=self.config.site.name) for hook in self.config.webhooks]
        if senders:
            self.gate.webhooks_for = lambda event: tuple(s.config.name for s in senders if s.wants(event))
            for sender in senders:
                self.gate.after_record.append(sender.wake)
                sender.start()
        return senders

    def _start_snapshots(self) -> Snapshots | None:
        """Face snapshots with decisions, only where the operator opted in (edge/snapshots.py)."""
        storage = self.config.storage
        if storage.snapshots == "off":
            return None
        snapshots = Snapshots(self.state_dir / "snapshots", retention_days=storage.snapshot_retention_days)
        self.gate.frame_listeners.append(snapshots.on_frame)
        self.gate.listeners.append(snapshots.on_event)
        return snapshots

    def _start_learning(self) -> ResidentProfiles | None:
        """What ended visits teach: the gallery new templates, each resident's temperature offset."""
        config, stage = self.config, self.thermal_stage()
        if self.gallery is not None:
            self.gate.ended_listeners.append(gallery_teacher(self.gate, self.gallery))
        if stage is None or self.engine is None or not config.hardware.thermal.personal_baselines:
            return None
        profiles = ResidentProfiles(self.store, reference_c=config.hardware.thermal.baseline.reference_c,
                                    threshold_c=lambda: self.config.checks.temperature.threshold_c)
        self.gate.policy.personal = profiles.offset
        self.gate.ended_listeners.append(temperature_teacher(stage, profiles))
        return profiles

    def _start_spot_checks(self) -> SpotChecks | None:
        """Passes drawn for a guard's recheck, where the site's offset is learned from rechecks."""
        stage = self.thermal_stage()
        if stage is None or stage.calibration is None:
            return None
        spot_checks = SpotChecks(self._spot_check_every)
        self.gate.deciding_listeners.append(spot_checks.deciding)
        return spot_checks

    def _spot_check_every(self) -> int:
        recheck = self.config.hardware.thermal.recheck  # read at each decision: a new configuration applies at once
        return recheck.spot_check_every if recheck.enabled else 0

    def _start_voice(self):
        if not self.config.ui.voice_dir:
            return None
        from edge.voice import VoicePrompts

        ui = self.config.ui
        voice = VoicePrompts(ui.voice_dir, ui.language, ui.voice_command)
        self.gate.prompt_listeners.append(lambda prompt: voice.say(prompt.code))
        return voice

    def _start_touchscreen(self):
        from edge.ui.server import TouchscreenServer

        touchscreen = TouchscreenServer(self.service, self.config.ui)
        touchscreen.start()
        if touchscreen.error:
            self.gate.faults.set("ui", touchscreen.error)
        return touchscreen

    def _start_api(self):
        from edge.api.server import ApiServer

        api = ApiServer(self.service, self.store, self.config.api)
        api.start()
        if api.error:
            self.gate.faults.set("api", api.error)
        return api

    @property
    def link(self) -> MqttLink | None:
        return self.uplink.link if self.uplink is not None else None

    @property
    def console(self) -> Console | None:
        return self.uplink.console if self.uplink is not None else None

    @property
    def site_passes(self) -> SitePasses | None:
        return self.uplink.site_passes if self.uplink is not None else None

    def inputs_status(self) -> dict | None:
        site_io = self.site_io
        if site_io is None:
            return None
        return {"active": dict(site_io.active), "fire_held_free": site_io.fire, "fault": site_io.fault}

    def mqtt_connected(self) -> bool | None:
        return self.uplink.link.connected.is_set() if self.uplink is not None else None

    def _between_frames(self) -> None:
        """The loop's other work. A state database that cannot write (a full disk) holds the gate shut and says so on
        the guard's screen; it once ended the daemon instead, and systemd restarted it into the same wall."""
        try:
            if self.control is not None:
                self.control.poll()
            if self.uplink is not None:
                self.uplink.poll()
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
        if command == "where":
            return {"ok": True, "pid": os.getpid(), "state_dir": str(self.state_dir.resolve())}
        if command == "sim":
            return self._simulated(request)
        return {"ok": False, "error": f"command: unknown command {command!r}"}

    def _simulated(self, request: dict) -> dict:
        """The simulated devices told to fail, or a wired contact closed or opened, as at a real gate (soak tests,
        demos): {"camera_dropped": true}, {"contacts": {"fire_alarm": false}}, {"card": "4242001"}."""
        world = self.hardware.world
        if world is None:
            return {"ok": False, "error": "command: no simulated hardware on this gate"}
        for name in ("camera_dropped", "thermal_frozen"):
            if isinstance(request.get(name), bool):
                setattr(world, name, request[name])
        card = request.get("card")
        if isinstance(card, str) and card.isdigit() and len(card) <= 20 and world.card_reader is not None:
            world.card_reader.present(card)  # someone taps a card on the simulated reader
        contacts = request.get("contacts")
        io = self.site_io.io if self.site_io is not None else None
        if isinstance(contacts, dict) and isinstance(io, SimIO):
            for name, closed in contacts.items():
                if name not in io.closed_contacts or not isinstance(closed, bool):
                    return {"ok": False, "error": f"contacts: no simulated input {str(name)[:32]!r}"}
                io.close_contact(name, closed)
        return {"ok": True, "camera_dropped": world.camera_dropped, "thermal_frozen": world.thermal_frozen,
                "contacts": dict(io.closed_contacts) if isinstance(io, SimIO) else {}}

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
            configure(self.engine, new.face)
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
                "gallery_version": matcher.version, "detection": self.engine.regions.status(),
                "lessons_dropped": self.gallery.lessons.dropped if self.gallery is not None else 0}

    def thermal_stage(self) -> ThermalStage | None:
        return next((stage for stage in self.gate.stages if isinstance(stage, ThermalStage)), None)

    def thermal_status(self) -> dict | None:
        """Screening mode's baseline (size, age, shift) and the site's offset learned from rechecks."""
        stage = self.thermal_stage()
        if stage is None:
            return None
        site = stage.calibration
        known = site.uncertainty_c if site is not None else None
        return {"baseline": stage.baseline.status().as_dict(), "systematic_c": round(stage.systematic_c, 3),
                "site_offset_c": round(site.offset_c, 3) if site is not None else 0.0,
                "site_offset_uncertainty_c": round(known, 3) if known is not None else None,
                "spot_checks_asked": self.spot_checks.marked if self.spot_checks is not None else 0}

    def flush(self, timeout: float) -> bool:
        """Wait (bounded) for the outbox to drain while the broker is reachable; True if empty."""
        if self.uplink is None:
            return self.store.outbox_size() == 0
        return self.uplink.flush(timeout)

    def run(self, should_stop: Callable[[], bool]) -> None:
        self.gate.run(should_stop, between_frames=self._between_frames)
        if self.gallery is not None:
            self.gallery.lessons.finish(STOP_FLUSH_S)
            self.gate.calls.run()  # what the last visits taught is recorded
        if self.snapshots is not None:
            self.snapshots.flush(STOP_FLUSH_S)  # what the loop handed over is on disk once it has stopped

    def close(self) -> None:
        if self.touchscreen is not None:
            self.touchscreen.stop()
        if self.api is not None:
            self.api.stop()
        if self.voice is not None:
            self.voice.close()
        if self.snapshots is not None:
            self.snapshots.close()  # before the uplink: a snapshot still waiting is sent as it is written
        if self.uplink is not None:
            self.uplink.stop(STOP_FLUSH_S)
        if self.control is not None:
            self.control.close()
        for sender in self.webhooks:
            sender.stop()
        if self.site_io is not None:
            self.site_io.stop()
            self.site_io.io.close()
        if self.gallery is not None:
            self.gallery.close()
        for stage in self.gate.stages:
            close = getattr(stage, "close", None)
            if close is not None:
                close()
        self.hardware.close()
        self.store.close()
        self.instance.close()
