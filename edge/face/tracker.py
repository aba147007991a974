"""Follow faces across frames by box overlap, so each person is recognised once."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from edge.face.detector import Detection
from edge.face.matcher import Match


@dataclass
class Track:
    track_id: int
    detection: Detection
    first_seen: float
    last_seen: float
    match: Match | None = None
    matched_quality: float = 0.0  # quality value of the frame the match came from
    hits: int = 1
    extra: dict = field(default_factory=dict)


def iou(a: np.ndarray, b: np.ndarray) -> float:
    x1, y1 = max(a[0], b[0]), max(a[1], b[1])
    x2, y2 = min(a[2], b[2]), min(a[3], b[3])
    inter = max(0.0, x2 - x1) * max(0.0, y2 - y1)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


def box_size(detection: Detection) -> float:
    x0, y0, x1, y1 = (float(v) for v in detection.box[:4])
    return max(x1 - x0, 1e-3) ** 0.5 * max(y1 - y0, 1e-3) ** 0.5


def size_change(a: Detection, b: Detection) -> float:
    """How many times larger the bigger of two faces is, by their boxes: on a small face the eye
    landmarks wander (a resident's eye distance read 29 and 35 pixels on successive frames at 720p,
    found on a half-size copy, while her box kept its size within 3 %)."""
    small, large = sorted((box_size(a), box_size(b)))
    return large / small


class Tracker:
    """Boxes that overlap and keep their size from frame to frame are one person.

    The size test matters at a gate: when the person in front walks through, the next one is
    revealed behind at about the same place, smaller; by overlap alone they would inherit the
    first person's track and with it their identity.
    """

    def __init__(self, *, min_iou: float = 0.3, max_age_s: float = 0.5, size_change_per_s: float = 1.5) -> None:
        self.min_iou = min_iou
        self.max_age_s = max_age_s
        self.size_change_per_s = size_change_per_s
        self.tracks: dict[int, Track] = {}
        self._next_id = 1
        self._last_update: float | None = None

    def _max_size_change(self, track: Track, now: float) -> float:
        """Walking up at 2 m/s from a metre grows a face by about 8 % in one frame at 25 fps."""
        return 1.15 + self.size_change_per_s * max(0.0, now - track.last_seen)

    def update(self, detections: list[Detection], now: float) -> list[Track]:
        """Tracks seen in this frame, in the order of `detections`."""
        for tid in [tid for tid, track in self.tracks.items() if now - track.last_seen > self.max_age_s]:
            del self.tracks[tid]  # gone before it could be matched: frames the gate skipped at rest count as unseen
        unmatched = set(self.tracks)
        result = []
        # tracks seen in the previous frame first: a face that has just gone must not take over a live one
        pairs = sorted(((t.last_seen == self._last_update, iou(t.detection.box, d.box), tid, i)
                        for tid, t in self.tracks.items() for i, d in enumerate(detections)), reverse=True)
        assigned: dict[int, Track] = {}
        for fresh, overlap, tid, i in pairs:
            track = self.tracks[tid]
            if overlap < self.min_iou or tid not in unmatched or i in assigned:
                continue
            if size_change(track.detection, detections[i]) > self._max_size_change(track, now):
                continue  # someone else at the same place
            if not fresh:  # missed in the last frame: make sure it is the same person before trusting its name
                track.match, track.matched_quality = None, 0.0
                for key in ("embedding", "frames", "bare_probe_sum", "bare_probe_frames", "masked_probe_sum",
                            "masked_probe_frames", "mask_votes"):
                    track.extra.pop(key, None)
            track.detection, track.last_seen = detections[i], now
            track.hits += 1
            assigned[i] = track
            unmatched.discard(tid)
        for i, detection in enumerate(detections):
            if i not in assigned:
                track = Track(self._next_id, detection, now, now)
                self._next_id += 1
                self.tracks[track.track_id] = track
                assigned[i] = track
            result.append(assigned[i])
        self._last_update = now
        return result
