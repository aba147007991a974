"""The frame loop's own figures: frames, decisions, and the newest timings of each stage."""

from __future__ import annotations

from dataclasses import dataclass, field

KEEP = 2000  # samples per series; the oldest half goes when it is full


@dataclass
class GateStats:
    frames: int = 0
    decisions: int = 0
    stage_ms: dict[str, list[float]] = field(default_factory=dict)
    decision_ms: list[float] = field(default_factory=list)  # visit start to decision, pipeline decisions

    def add(self, timings: dict[str, float]) -> None:
        for name, ms in timings.items():
            _keep(self.stage_ms.setdefault(name, []), ms)

    def decided(self, latency_ms: float | None) -> None:
        self.decisions += 1
        if latency_ms is not None:
            _keep(self.decision_ms, latency_ms)


def _keep(samples: list[float], value: float) -> None:
    samples.append(value)
    if len(samples) > KEEP:
        del samples[:KEEP // 2]
