"""Typed records of what the gate decided and saw; every one becomes one event with an id."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import asdict, dataclass, field
from enum import Enum
from typing import Any

SCHEMA_VERSION = 1


class EventKind(str, Enum):
    decision = "decision"  # the gate granted or denied a visitor (or a guard/admin opened it)
    passage = "passage"  # a visitor passed, or did not pass, after an opening
    alarm = "alarm"  # fever, spoof, forced passage, tailgate, device fault
    action = "action"  # a guard's or administrator's action that is not an opening
    status = "status"  # daemon start/stop, device health changes


class AlarmKind(str, Enum):
    fever = "fever"
    spoof = "spoof"
    forced_passage = "forced_passage"
    tailgate = "tailgate"
    device_fault = "device_fault"
    no_reading = "no_reading"  # a visit ended without a trusted temperature: the guard measures them
    fire_alarm = "fire_alarm"  # the fire panel's input: every lane held free until it clears
    door_held_open = "door_held_open"  # the door contact open past its limit
    tamper = "tamper"  # the housing's tamper switch
    passback = "passback"  # someone went the same way twice (checks.antipassback): let through (soft) or refused


class DecisionSource(str, Enum):
    pipeline = "pipeline"  # the checks decided
    guard = "guard"  # a guard opened by hand
    remote = "remote"  # an administrator opened from the console
    cli = "cli"  # a local `gatepost open` on the gate itself
    exit_button = "exit_button"  # the button inside, wired to an input


@dataclass
class Decision:
    granted: bool
    source: DecisionSource
    reasons: list[str]
    reason_codes: list[str] = field(default_factory=list)  # machine-readable, on denials
    visit_id: str | None = None
    resident_id: int | None = None
    resident_name: str | None = None
    resident_unit: str | None = None
    pass_id: str | None = None
    temperature_c: float | None = None  # the visit's combined estimate
    temperature: dict[str, Any] | None = None  # the estimate, its uncertainty and interval, and the readings fused
    stage_ms: dict[str, float] = field(default_factory=dict)
    latency_ms: float | None = None  # from the visit's first good sighting to the decision (and relay command)
    actor: str | None = None  # guard or administrator id for manual opens
    checks: dict[str, Any] = field(default_factory=dict)  # per-check outcome, for the report
    same_opening_as: str | None = None  # a grant for someone whose earlier opening still waits: no second pulse


@dataclass
class Event:
    kind: EventKind
    body: dict[str, Any]
    event_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    time: float = field(default_factory=time.time)
    site_id: str = ""
    gate_id: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA_VERSION,
            "event_id": self.event_id,
            "kind": self.kind.value,
            "time": round(self.time, 3),
            "site": self.site_id,
            "gate": self.gate_id,
            **self.body,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), separators=(",", ":"), sort_keys=True, default=_jsonable)


def _jsonable(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.value
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    raise TypeError(f"cannot put {type(value).__name__} in an event")


def decision_body(decision: Decision) -> dict[str, Any]:
    body = asdict(decision)
    body["source"] = decision.source.value
    body["stage_ms"] = {name: round(ms, 2) for name, ms in decision.stage_ms.items()}
    if decision.latency_ms is not None:
        body["latency_ms"] = round(decision.latency_ms, 2)
    return body
