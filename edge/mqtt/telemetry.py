"""Telemetry: frame rate, per-stage p50/p95, whether anyone is near, queue depth and device health, through the
outbox."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable

from edge.gate import Gate
from edge.store import Store


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q / 100.0 * len(ordered)))] if ordered else 0.0


class Telemetry:
    def __init__(self, gate: Gate, store: Store, topic: str, *, interval_s: float, clock=time.monotonic,
                 face_status: Callable[[], dict | None] = lambda: None,
                 thermal_status: Callable[[], dict | None] = lambda: None,
                 clock_status: Callable[[], dict | None] = lambda: None) -> None:
        self.gate = gate
        self.clock_status = clock_status
        self.face_status = face_status
        self.thermal_status = thermal_status
        self.store = store
        self.topic = topic
        self.interval_s = interval_s
        self.clock = clock
        self._last = clock()
        self._frames = gate.stats.frames

    def snapshot(self, elapsed: float) -> dict:
        stats = self.gate.stats
        fps = (stats.frames - self._frames) / elapsed if elapsed > 0 else 0.0
        return {
            "kind": "telemetry", "time": round(time.time(), 3), "site": self.gate.config.site.site_id,
            "gate": self.gate.config.site.gate_id, "fps": round(fps, 2),
            "stage_ms": {name: {"p50": round(percentile(v, 50), 2), "p95": round(percentile(v, 95), 2)}
                         for name, v in stats.stage_ms.items()},
            "decision_ms": {"p50": round(percentile(stats.decision_ms, 50), 2),
                            "p95": round(percentile(stats.decision_ms, 95), 2)},
            "outbox": self.store.outbox_size(), "faults": dict(self.gate.faults),
            "devices_ok": not self.gate.faults, "face": self.face_status(), "thermal": self.thermal_status(),
            "clock": self.clock_status(), "presence": self.gate.presence.status(),
        }

    def poll(self) -> bool:
        now = self.clock()
        elapsed = now - self._last
        if elapsed < self.interval_s:
            return False
        body = self.snapshot(elapsed)
        self._last, self._frames = now, self.gate.stats.frames
        self.store.queue_telemetry(uuid.uuid4().hex, self.topic, json.dumps(body, separators=(",", ":")))
        return True
