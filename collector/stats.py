"""Per gate, per hour: entries, denials by reason, fevers, p95 decision time, per-stage timings."""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from edge.untrusted import finite


@dataclass
class HourStats:
    site: str
    gate: str
    hour: int  # unix time of the hour's start
    entries: int = 0
    denials: Counter = field(default_factory=Counter)
    fevers: int = 0
    decision_ms: list[float] = field(default_factory=list)
    stage_ms: dict[str, dict[str, float]] = field(default_factory=dict)  # stage -> p50, p95 (from telemetry)

    @property
    def p95_decision_ms(self) -> float | None:
        if not self.decision_ms:
            return None
        ordered = sorted(self.decision_ms)
        return ordered[min(len(ordered) - 1, math.ceil(0.95 * len(ordered)) - 1)]


def hourly(events: list[dict[str, Any]]) -> list[HourStats]:
    table: dict[tuple[str, str, int], HourStats] = {}
    for event in events:
        if not finite(event.get("time", 0)):
            continue  # stored before times were checked: never let one row break the report
        key = (str(event.get("site", "")), str(event.get("gate", "")), int(event.get("time", 0)) // 3600 * 3600)
        stats = table.setdefault(key, HourStats(*key))
        kind = event.get("kind")
        if kind == "decision":
            if event.get("granted"):
                stats.entries += 0 if event.get("same_opening_as") else 1  # one person, one opening
            else:
                codes = event.get("reason_codes")
                for code in codes if isinstance(codes, list) and codes else ["unspecified"]:
                    stats.denials[str(code)[:64]] += 1
            if event.get("source") == "pipeline" and finite(event.get("latency_ms")):
                stats.decision_ms.append(float(event["latency_ms"]))
        elif kind == "alarm" and event.get("alarm") == "fever":
            stats.fevers += 1
    return [table[key] for key in sorted(table)]


def with_stage_timings(rows: list[HourStats], timings: list[tuple[str, str, int, str, float, float]]) -> list[HourStats]:
    """Attach the telemetry's per-stage (mean p50, worst p95) to the hours, adding hours with telemetry only."""
    table = {(row.site, row.gate, row.hour): row for row in rows}
    for site, gate, hour, stage, p50, p95 in timings:
        row = table.setdefault((site, gate, hour), HourStats(site, gate, hour))
        row.stage_ms[stage] = {"p50": round(p50, 2), "p95": round(p95, 2)}
    return [table[key] for key in sorted(table)]


def per_gate_totals(rows: list[HourStats]) -> dict[tuple[str, str], dict]:
    totals: dict[tuple[str, str], dict] = defaultdict(lambda: {"entries": 0, "denials": Counter(), "fevers": 0})
    for row in rows:
        total = totals[(row.site, row.gate)]
        total["entries"] += row.entries
        total["denials"].update(row.denials)
        total["fevers"] += row.fevers
    return dict(totals)
