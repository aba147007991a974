"""Enrolment at the gate: a burst of frames taken while the person turns slightly, shown before it is saved.

The guard presses "capture"; the screen facing the person asks them to turn slightly; for up to
CAPTURE_S the desk embeds every new camera frame with one good face. It keeps the best frame and
then, one at a time, the frame least like those already kept (the most diverse, of good quality),
up to KEEP. A burst whose frames do not all score above the gate's threshold against each other
shows two people (someone stepped in) and is refused. The guard sees the kept faces, each with its
quality, before saving; they live in memory only, for CAPTURE_TTL_S, and are never stored as images.
"""

from __future__ import annotations

import asyncio
import base64
import secrets
import time
from dataclasses import dataclass, field

import cv2
import numpy as np

from edge.errors import EnrolmentError
from edge.face.enrolment import one_person
from edge.face.quality import Quality

CAPTURE_S = 3.0
CANDIDATES = 12  # frames embedded at most
KEEP = 3
CAPTURE_TTL_S = 120.0
MAX_CAPTURES = 8


@dataclass
class Capture:
    capture_id: str
    guard_id: str
    created: float
    embeddings: list[np.ndarray]
    qualities: list[Quality]
    previews: list[str] = field(default_factory=list)  # data: URLs of the aligned faces, for the guard's eyes only

    def as_dict(self) -> dict:
        return {"capture_id": self.capture_id,
                "faces": [{"image": preview, "quality": {"eye_distance_px": round(q.eye_distance_px, 1),
                                                         "sharpness": round(q.sharpness, 1), "yaw": round(q.yaw, 2)}}
                          for preview, q in zip(self.previews, self.qualities)]}


def most_diverse(embeddings: list[np.ndarray], qualities: list[Quality], keep: int) -> list[int]:
    """The best frame, then each time the frame least like those kept (lowest best cosine to them)."""
    if not embeddings:
        return []
    chosen = [int(np.argmax([q.value for q in qualities]))]
    matrix = np.stack(embeddings)
    while len(chosen) < min(keep, len(embeddings)):
        closeness = (matrix @ matrix[chosen].T).max(axis=1)
        closeness[chosen] = np.inf
        chosen.append(int(np.argmin(closeness)))
    return chosen


class EnrolmentDesk:
    """Takes bursts from the live view and holds them until the guard saves or they expire."""

    def __init__(self, gate, live) -> None:
        self.gate = gate
        self.live = live
        self._captures: dict[str, Capture] = {}

    async def capture(self, guard_id: str) -> Capture:
        """A burst of the person in front of the camera; EnrolmentError says why none could be taken."""
        self.gate.announce("turn_slightly", CAPTURE_S)
        embeddings: list[np.ndarray] = []
        qualities: list[Quality] = []
        crops: list[np.ndarray] = []
        problems: list[str] = []
        seen_version, deadline = -1, time.monotonic() + CAPTURE_S
        while len(embeddings) < CANDIDATES and time.monotonic() < deadline:
            image, _, version = self.live.snapshot()
            if image is None or version == seen_version:
                await asyncio.sleep(0.05)  # the next camera frame
                continue
            seen_version = version
            try:
                embedding, quality, crop = await asyncio.get_running_loop().run_in_executor(
                    None, self.gate.enrolment_face, image)
            except EnrolmentError as error:
                problems.append(str(error).removeprefix("live camera: "))
                continue
            embeddings.append(embedding)
            qualities.append(quality)
            crops.append(crop)
        if not embeddings:
            raise EnrolmentError(problems[-1] if problems else "no camera frame")
        if not one_person(embeddings, self.gate.face_threshold()):
            raise EnrolmentError("the frames show two people: capture again with one person in front of the camera")
        kept = most_diverse(embeddings, qualities, KEEP)
        capture = Capture(secrets.token_urlsafe(12), guard_id, time.monotonic(), [embeddings[i] for i in kept],
                          [qualities[i] for i in kept], [_preview(crops[i]) for i in kept])
        self._forget_old()
        self._captures[capture.capture_id] = capture
        return capture

    def take(self, capture_id: str, guard_id: str) -> Capture | None:
        """The capture this guard took, once (it is gone from memory after)."""
        self._forget_old()
        capture = self._captures.get(capture_id)
        if capture is None or capture.guard_id != guard_id:
            return None
        return self._captures.pop(capture_id)

    def _forget_old(self) -> None:
        now = time.monotonic()
        for capture_id, capture in list(self._captures.items()):
            if now - capture.created > CAPTURE_TTL_S:
                del self._captures[capture_id]
        while len(self._captures) >= MAX_CAPTURES:
            del self._captures[next(iter(self._captures))]


def _preview(crop: np.ndarray) -> str:
    ok, jpeg = cv2.imencode(".jpg", crop, [cv2.IMWRITE_JPEG_QUALITY, 85])
    return "data:image/jpeg;base64," + base64.b64encode(jpeg.tobytes()).decode() if ok else ""
