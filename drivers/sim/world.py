"""The simulated gate: visitors walk up, show codes, wait, walk through; frames are rendered.

One `SimWorld` plays a scenario on a clock advanced frame by frame. It renders what the colour
camera and the thermal camera would see, feeds the simulated passage sensor and QR scanner, and
watches the simulated relay to let visitors through. It keeps the ground truth for reports.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from enum import Enum

import cv2
import numpy as np
import segno

from drivers.cards import SimCardReader
from drivers.passage import SimPassageSensor
from drivers.qrscanner import SimQrScanner
from drivers.relay import SimRelay
from drivers.sim.mask import MaskStyle, put_on
from drivers.sim.portrait import Locator, Portrait, guess_location
from drivers.sim.scenario import Scenario, VisitorSpec
from drivers.sim.scene import Scene
from drivers.sim.thermal_model import IDEAL, OWN_SHARE, ThermalFace, draw_physics, healthy_core, render
from edge.errors import ConfigError

log = logging.getLogger(__name__)

FACE_WIDTH_M = 0.15  # adult face width, temple to temple
QUEUE_DISTANCE_M = 2.6
WALK_THROUGH_S = 0.6  # from the gate opening to the passage sensor
READABLE_DISTANCE_M = 1.2  # from here a face is fully in view and close enough for every check
TAILGATE_GAP_S = 0.7
# asked by the screen to step closer, a person reads it, decides and moves: a choice reaction of about a
# second (Hick, Q. J. Exp. Psychol. 4, 1952; Welford, Reaction Times, 1980), then a small step
STEP_CLOSER_REACTION_S = 1.0
STEP_CLOSER_TO_M = 0.7  # where someone asked to come closer stops
STEP_SPEED_M_S = 0.5
LOWER_MASK_REACTION_S = 1.0  # asked to lower a mask: read, decide, reach up

class Phase(str, Enum):
    waiting_to_start = "not yet arrived"
    queued = "queued"
    approaching = "approaching"
    in_view = "in view"
    walking_through = "walking through"
    gone = "gone"


@dataclass
class VisitorTruth:
    """What happened to one visitor, as the simulation knows it."""

    index: int
    spec: VisitorSpec
    core_c: float  # body temperature: the scenario's, or drawn for a healthy person
    phase: Phase = Phase.waiting_to_start
    started_at: float | None = None  # left the queue
    in_view_at: float | None = None  # fully in view at the stopping point
    line_at: float | None = None  # world time the face crosses READABLE_DISTANCE_M (from the walk, not a frame)
    opened_at: float | None = None  # the gate opened for this visitor
    passed_at: list[float] = field(default_factory=list)  # the visitor's and tailgaters' passages
    left_at: float | None = None
    qr_shown_at: float | None = None
    stepping_closer: tuple[float, float] | None = None  # (when, from where) they stepped closer as asked
    mask_lowered_at: float | None = None  # when they lowered their mask as asked
    card_shown_at: float | None = None

    def stop_distance(self, now: float) -> float:
        """Where they stand once in view: where they stopped, or on their way closer when the screen asked."""
        if self.stepping_closer is None:
            return self.spec.distance_m
        started, start_m = self.stepping_closer
        return max(STEP_CLOSER_TO_M, start_m - STEP_SPEED_M_S * (now - started))

    @property
    def evidence_at(self) -> float | None:
        """World time from which every check could be done: the face across the reading line (where the
        thermal reading, the last check to become possible, first can be), and the code, if any, shown."""
        if self.line_at is None or (self.spec.qr is not None and self.qr_shown_at is None):
            return None
        return max(self.line_at, self.qr_shown_at or 0.0)


@dataclass
class Placement:
    """Where one visitor's face is in the current RGB frame."""

    visitor: VisitorTruth
    box: tuple[float, float, float, float]
    marks: np.ndarray
    distance_m: float


class SimWorld:
    def __init__(self, scenario: Scenario, *, width: int = 640, height: int = 480, fps: float = 25.0,
                 thermal_size: tuple[int, int] = (160, 120), homography: np.ndarray | None = None,
                 blackbody_box: list[int] | None = None,
                 focal_px: float = 520.0, locator: Locator | None = None) -> None:
        self.scenario = scenario
        self.spec = scenario.spec
        self.size = (width, height)
        self.fps = fps
        self.thermal_size = thermal_size
        self.wall_origin: float | None = None  # time.monotonic() of world time 0, when paced in real time
        tw = thermal_size[0]
        side = max(3, tw // 16)
        x, y, w, h = blackbody_box if blackbody_box else (tw - 2 - side, 2, side, side)
        self.blackbody_box = (x, y, w, h)
        self.homography = np.asarray(homography if homography is not None else
                                     [[0.25, 0, 0], [0, 0.25, 0], [0, 0, 1]], dtype=np.float64)
        self.focal_px = focal_px
        self.relay = SimRelay(clock=lambda: self.now)
        self.passage = SimPassageSensor()
        self.scanner = SimQrScanner(clock=lambda: self.now)
        self.card_reader = SimCardReader()
        self._rng = np.random.default_rng(self.spec.seed)
        world_rng = np.random.default_rng(self.spec.seed + 7919)  # its own stream: noise draws do not move it
        self.physics = draw_physics(world_rng) if self.spec.physics == "drawn" else IDEAL
        self._person_c = world_rng.normal(0.0, self.physics.person_sd_c, len(self.spec.visitors)) \
            if self.physics.person_sd_c > 0 else np.zeros(len(self.spec.visitors))
        identities = sorted({v.identity for v in self.spec.visitors if v.identity})
        if self.physics.person_sd_c > 0 and identities:  # a resident's eye corners read alike on every visit
            own = dict(zip(identities, world_rng.normal(0.0, self.physics.person_sd_c, len(identities))))
            for index, visitor in enumerate(self.spec.visitors):
                if visitor.identity:
                    self._person_c[index] = math.sqrt(OWN_SHARE) * own[visitor.identity] + \
                        math.sqrt(1.0 - OWN_SHARE) * self._person_c[index]
        people_rng = np.random.default_rng(self.spec.seed + 104729)  # its own stream again: the draws above stay
        self._core_c = [v.temperature_c if v.temperature_c is not None else healthy_core(self.physics, people_rng)
                        for v in self.spec.visitors]
        self._background = self._make_background()
        self.scene = Scene(self.spec.scene, self.size, np.random.default_rng(self.spec.seed + 15485863))
        self._portraits = {photo: self._load_portrait(photo, locator) for photo in {v.photo for v in self.spec.visitors}}
        self._masked: dict[tuple[str, str], Portrait] = {
            (v.photo, v.mask): self._with_mask(v.photo, v.mask) for v in self.spec.visitors if v.mask != "none"}
        self._qr_cards: dict[str, np.ndarray] = {}
        self.thermal_frozen = False
        self.camera_dropped = False
        self.screen: tuple[str, float] | None = None  # the prompt on the gate's screen, and since when (world time)
        self.reset()

    def reset(self) -> None:
        self.now = 0.0
        self.frame_index = 0
        self.truth = [VisitorTruth(i, spec, self._core_c[i]) for i, spec in enumerate(self.spec.visitors)]
        self._relay_was_on = self.relay.state
        self._scheduled_passages: list[tuple[float, VisitorTruth]] = []
        self._placements: list[Placement] = []
        self._last_thermal: np.ndarray | None = None

    def _load_portrait(self, photo: str, locator: Locator | None) -> Portrait:
        path = self.scenario.photo_path(photo)
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            raise ConfigError(f"scenario {self.spec.name!r}: cannot read image {path}")
        location = locator(image) if locator else None
        if location is None:
            if locator:
                log.warning("no face found in %s; assuming a centred portrait", path)
            location = guess_location(image)
        return Portrait.from_photo(image, location)

    def _with_mask(self, photo: str, kind: str) -> Portrait:
        plain = self._portraits[photo]
        return plain.with_image(put_on(plain.image, plain.marks, MaskStyle.of(kind, seed=self.spec.seed)))

    def _make_background(self) -> np.ndarray:
        w, h = self.size
        ramp = np.linspace(90, 160, h, dtype=np.float32)[:, None, None]
        image = np.broadcast_to(ramp * np.array([1.0, 0.95, 0.85], dtype=np.float32), (h, w, 3)).copy()
        cv2.rectangle(image, (0, int(h * 0.75)), (w, h), (70, 75, 80), -1)  # floor
        cv2.rectangle(image, (int(w * 0.05), int(h * 0.1)), (int(w * 0.2), int(h * 0.75)), (60, 60, 60), -1)
        cv2.rectangle(image, (int(w * 0.8), int(h * 0.1)), (int(w * 0.95), int(h * 0.75)), (60, 60, 60), -1)
        noise = self._rng.normal(0, 3, image.shape).astype(np.float32)
        return np.clip(image + noise, 0, 255).astype(np.uint8)

    # time

    @property
    def finished(self) -> bool:
        if any(v.phase is not Phase.gone for v in self.truth):
            return False
        last = max((v.left_at or 0.0) for v in self.truth)
        return self.now >= last + self.spec.tail_s and not self._scheduled_passages

    def skip(self, frames: int) -> None:
        """Time passes without frames (a reader that fell behind); the next step sees the world as it is then."""
        self.frame_index += frames
        self.now = self.frame_index / self.fps

    def step(self) -> None:
        """Advance one frame period."""
        self.frame_index += 1
        self.now = self.frame_index / self.fps
        self._update()

    def _update(self) -> None:
        now = self.now
        relay_on = self.relay.state
        opened = relay_on and not self._relay_was_on
        self._relay_was_on = relay_on
        front = self.at_gate() if opened else None
        if front is not None:
            front.opened_at = now
            if front.spec.walks_through:
                front.phase = Phase.walking_through
                self._scheduled_passages.append((now + WALK_THROUGH_S, front))
                for k in range(front.spec.tailgaters):
                    self._scheduled_passages.append((now + WALK_THROUGH_S + TAILGATE_GAP_S * (k + 1), front))
        for due, visitor in list(self._scheduled_passages):
            if now >= due:
                self._scheduled_passages.remove((due, visitor))
                visitor.passed_at.append(now)
                self.passage.trigger()
                if len(visitor.passed_at) == 1 + visitor.spec.tailgaters:  # the last one of them is through
                    visitor.phase, visitor.left_at = Phase.gone, now
        for visitor in self.truth:
            self._advance_visitor(visitor, now)
        # one at a time: the next one steps up once the one in front has passed the turnstile (or given up)
        if self._occupied() is None:
            next_in_line = self._first_queued()
            if next_in_line is not None:
                next_in_line.phase, next_in_line.started_at = Phase.approaching, now
                next_in_line.line_at = self._crossing(next_in_line, now)

    def _crossing(self, visitor: VisitorTruth, started: float) -> float | None:
        """When the walk (distance linear in time, see distance_of) brings the face to READABLE_DISTANCE_M."""
        stop = visitor.spec.distance_m
        if stop > READABLE_DISTANCE_M:
            return None  # stops short of the line: never readable
        return started + self.spec.approach_s * (QUEUE_DISTANCE_M - READABLE_DISTANCE_M) / (QUEUE_DISTANCE_M - stop)

    def _occupied(self) -> VisitorTruth | None:
        return next((v for v in self.truth if v.phase in (Phase.approaching, Phase.in_view, Phase.walking_through)),
                    None)

    def at_gate(self) -> VisitorTruth | None:
        """The visitor stepping up to or standing at the gate: the one the gate is deciding for."""
        return next((v for v in self.truth if v.phase in (Phase.approaching, Phase.in_view)), None)

    def _advance_visitor(self, visitor: VisitorTruth, now: float) -> None:
        spec = visitor.spec
        if visitor.phase is Phase.waiting_to_start and now >= spec.at:
            visitor.phase = Phase.queued
        if (visitor.phase is Phase.approaching and visitor.started_at is not None
                and now >= visitor.started_at + self.spec.approach_s):
            visitor.phase, visitor.in_view_at = Phase.in_view, now
        if visitor.phase is Phase.in_view and visitor.in_view_at is not None:
            if spec.card and visitor.card_shown_at is None:  # tapped on arrival
                visitor.card_shown_at = now
                self.card_reader.present(spec.card)
            if spec.qr and visitor.qr_shown_at is None and now >= visitor.in_view_at + spec.qr.after_s:
                visitor.qr_shown_at = now
                if spec.qr.via == "scanner":
                    self.scanner.present(spec.qr.payload)
            if (spec.follows_prompts and visitor.stepping_closer is None and self.screen is not None
                    and self.screen[0] == "step_closer" and now >= self.screen[1] + STEP_CLOSER_REACTION_S
                    and now >= visitor.in_view_at + STEP_CLOSER_REACTION_S and spec.distance_m > STEP_CLOSER_TO_M):
                visitor.stepping_closer = (now, spec.distance_m)
            if (spec.follows_prompts and spec.mask != "none" and visitor.mask_lowered_at is None and self.screen
                    and self.screen[0] == "lower_mask" and now >= self.screen[1] + LOWER_MASK_REACTION_S):
                visitor.mask_lowered_at = now
            giving_up = now >= visitor.in_view_at + spec.dwell_s
            if giving_up:
                visitor.phase, visitor.left_at = Phase.gone, now

    def show(self, prompt_code: str) -> None:
        """The gate's screen changed: the person in front reads it (see STEP_CLOSER_REACTION_S)."""
        self.screen = (prompt_code, self.now)

    def _first_queued(self) -> VisitorTruth | None:
        return next((v for v in self.truth if v.phase is Phase.queued), None)

    def distance_of(self, visitor: VisitorTruth) -> float | None:
        spec = visitor.spec
        if visitor.phase is Phase.queued:
            return QUEUE_DISTANCE_M
        if visitor.phase in (Phase.approaching, Phase.walking_through) and visitor.started_at is not None:
            # one let in on the way keeps walking at the same pace: nobody jumps to the stopping point
            progress = (self.now - visitor.started_at) / self.spec.approach_s
            if progress < 1.0 or visitor.phase is Phase.approaching:
                return QUEUE_DISTANCE_M + (spec.distance_m - QUEUE_DISTANCE_M) * min(1.0, progress)
        if visitor.phase in (Phase.in_view, Phase.walking_through):
            return visitor.stop_distance(self.now)
        return None

    # rendering

    def render_rgb(self) -> np.ndarray:
        frame = self._background.copy()
        if not self.scene.still:
            self.scene.before_people(frame, self.now)
        w, h = self.size
        placements = []
        # the queue behind the next in line is hidden by them: not drawn, however long it grows
        next_in_line = self._first_queued()
        visible = [(self.distance_of(v), v) for v in self.truth if v.phase is not Phase.queued or v is next_in_line]
        # farthest first, so the nearest face is painted on top
        for distance, visitor in sorted(((d, v) for d, v in visible if d is not None), key=lambda p: -p[0]):
            spec = visitor.spec
            masked = spec.mask != "none" and visitor.mask_lowered_at is None
            portrait = self._masked[(spec.photo, spec.mask)] if masked else self._portraits[spec.photo]
            face_px = self.focal_px * FACE_WIDTH_M / distance
            image, factor = portrait.scaled(face_px)
            bx, by, bw, bh = (value * factor for value in portrait.box)
            centre_x = w * (0.5 if visitor.phase is not Phase.queued else 0.72)
            left = int(round(centre_x - (bx + bw / 2)))
            top = int(round(h * 0.42 - (by + bh / 2)))
            self._paste(frame, image, left, top)
            box = (bx + left, by + top, bw, bh)
            placements.append(Placement(visitor, box, portrait.marks * factor + [left, top], distance))
            qr = visitor.spec.qr
            if qr and qr.via == "camera" and visitor.qr_shown_at is not None and visitor.phase is Phase.in_view:
                self._paste(frame, self._qr_card(qr.payload), int(w * 0.62), int(h * 0.5))
        self._placements = placements
        if not self.scene.still:
            self.scene.after_people(frame, self.now, self.frame_index)
        return frame

    @staticmethod
    def _paste(frame: np.ndarray, image: np.ndarray, left: int, top: int) -> None:
        h, w = frame.shape[:2]
        x0, y0 = max(0, left), max(0, top)
        x1, y1 = min(w, left + image.shape[1]), min(h, top + image.shape[0])
        if x1 > x0 and y1 > y0:
            frame[y0:y1, x0:x1] = image[y0 - top:y1 - top, x0 - left:x1 - left]

    def _qr_card(self, payload: str) -> np.ndarray:
        if payload not in self._qr_cards:
            side = int(0.32 * min(self.size))  # about a tenth of a 640x480 frame
            matrix = np.array(segno.make(payload, error="m", micro=False).matrix, dtype=np.uint8)
            matrix = np.pad(matrix, 4)  # quiet zone
            modules = np.where(matrix > 0, 0, 255).astype(np.uint8)
            card = cv2.resize(modules, (side, side), interpolation=cv2.INTER_NEAREST)
            self._qr_cards[payload] = cv2.cvtColor(card, cv2.COLOR_GRAY2BGR)
        return self._qr_cards[payload]

    def render_thermal(self) -> np.ndarray:
        """Radiometric frame in °C, consistent with the last RGB frame's placements."""
        if self.thermal_frozen and self._last_thermal is not None:
            return self._last_thermal
        tw, th = self.thermal_size
        faces = []
        for placement in sorted(self._placements, key=lambda p: -p.distance_m):
            x, y, w, h = placement.box
            (tx0, ty0), (tx1, ty1) = self._to_thermal(np.array([[x, y], [x + w, y + h]]))
            faces.append(ThermalFace((tx0, ty0, tx1, ty1), self._to_thermal(placement.marks[:2]),
                                     placement.visitor.core_c, placement.visitor.spec.presentation,
                                     float(self._person_c[placement.visitor.index])))
        frame = render((tw, th), self.spec.ambient_c, faces, blackbody_c=self.spec.blackbody_c,
                       blackbody_box=self.blackbody_box, offset_c=self.spec.thermal_offset_c,
                       noise_c=0.05, rng=self._rng, physics=self.physics)
        self._last_thermal = frame
        return frame

    def _to_thermal(self, points: np.ndarray) -> np.ndarray:
        homogeneous = np.hstack([points, np.ones((len(points), 1))]) @ self.homography.T
        return homogeneous[:, :2] / homogeneous[:, 2:3]

    # ground truth

    def faces_in_view(self) -> list[Placement]:
        return list(self._placements)
