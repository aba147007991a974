"""`gatepost simulate`: run the gate against a scenario and report each visit against ground truth."""

from __future__ import annotations

import gc
import json
import logging
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from drivers.sim.scenario import load_scenario
from drivers.sim.world import VisitorTruth
from edge.app import Runtime
from edge.config import GateConfig, parse_config, read_yaml
from edge.errors import ConfigError
from edge.events import Decision, Event, EventKind

log = logging.getLogger(__name__)


@dataclass
class Observed:
    decision: Decision
    pulsed: bool
    at: float  # world time of the decision and relay command; in real time the wall clock's, busy time included


SIMULATED_GATE_SUFFIX = "-sim"


def simulation_config(path: Path | None, *, mqtt: bool = False) -> GateConfig:
    """A gate's config for a simulation that may run beside that gate: the operator's file only (never the live
    gate's run-time overrides), MQTT off unless asked, and then as a gate of its own (`<gate_id>-sim`, its own
    client id), so the live gate keeps its connection and the collector never files a simulated decision as its."""
    config = parse_config((read_yaml(path) or {}) if path else {}, source=str(path or "defaults"))
    if not mqtt:
        return config.model_copy(update={"mqtt": config.mqtt.model_copy(update={"enabled": False})})
    gate_id = config.site.gate_id + SIMULATED_GATE_SUFFIX
    client_id = f"gatepost-{config.site.site_id}-{gate_id}-{os.getpid()}"
    return config.model_copy(update={"site": config.site.model_copy(update={"gate_id": gate_id}),
                                     "mqtt": config.mqtt.model_copy(update={"enabled": True, "client_id": client_id})})


def _stop_when(watch: Callable[[Runtime], object] | None, runtime: Runtime) -> Callable[[], bool]:
    return lambda: watch is not None and bool(watch(runtime))


def run_simulation(config: GateConfig, scenario_path: str | Path, *, state_dir: Path | None = None,
                   realtime: bool = False, watch: Callable[[Runtime], object] | None = None) -> dict[str, Any]:
    """Play a scenario through the gate's own code; `watch`, if given, looks at the runtime before every frame
    (and ends the run early by returning true)."""
    scenario = load_scenario(scenario_path)
    observed: dict[int, list[Observed]] = {}
    alarms: dict[int, list[str]] = {}  # the alarms raised while each visitor stood at the gate
    with tempfile.TemporaryDirectory(prefix="gatepost-sim-") as scratch:
        runtime = Runtime(config, state_dir=state_dir or Path(scratch), scenario=scenario, realtime=realtime,
                          loop=False, control=False, ui=False)
        world = runtime.hardware.world
        if world is None:
            runtime.close()
            raise ConfigError("simulate needs the simulated camera (hardware.camera.driver: sim)")

        def on_decision(decision: Decision, pulsed: bool) -> None:
            front = world.at_gate()
            if front is not None:
                # in real time, the world's clock runs with the wall's: time the gate spent busy counts
                at = time.monotonic() - world.wall_origin if world.wall_origin is not None and realtime else world.now
                observed.setdefault(front.index, []).append(Observed(decision, pulsed, at))

        def on_event(event: Event) -> None:
            front = world.at_gate()
            if event.kind is EventKind.alarm and front is not None:
                alarms.setdefault(front.index, []).append(str(event.body.get("alarm")))

        runtime.gate.on_decision = on_decision
        runtime.gate.listeners.append(on_event)
        started = time.perf_counter()
        try:
            runtime.run(_stop_when(watch, runtime))
        finally:
            elapsed = time.perf_counter() - started
            frames = runtime.gate.stats.frames
            stage_ms = {name: sorted(samples) for name, samples in runtime.gate.stats.stage_ms.items()}
            detection = runtime.engine.regions.status() if runtime.engine is not None else None
            events = runtime.store.event_count()
            delivered = runtime.flush(10.0)
            runtime.close()
    del runtime
    gc.collect()  # the runtime's parts refer to each other: free its models now, not whenever the collector gets to
    # its oldest generation (three runs in one process had held two finished gates' memory, 100 MB each)
    visits = [_visit_report(truth, observed.get(truth.index, []), alarms.get(truth.index, [])) for truth in world.truth]
    correct = sum(1 for visit in visits if visit["correct"])
    return {
        "scenario": scenario.spec.name,
        "visitors": len(visits),
        "correct": correct,
        "matches_ground_truth": correct == len(visits),
        "frames": frames,
        "seconds": round(elapsed, 2),
        "events_recorded": events,
        "events_delivered_to_broker": delivered,
        "stage_ms_p50": {name: round(s[len(s) // 2], 2) for name, s in stage_ms.items() if s},
        "stage_ms_p95": {name: round(s[int(len(s) * 0.95)], 2) for name, s in stage_ms.items() if s},
        "detection": detection,  # frames the detector looked at whole, and only around the faces tracked
        "visits": visits,
    }


def _visit_report(truth: VisitorTruth, observed: list[Observed], alarms: list[str]) -> dict[str, Any]:
    spec = truth.spec
    first = observed[0] if observed else None
    decision = first.decision if first else None
    outcome = None if decision is None else ("granted" if decision.granted else "denied")
    correct = outcome == spec.expect
    if correct and decision is not None and decision.granted and spec.identity is not None \
            and decision.resident_name is not None:
        correct = decision.resident_name == spec.identity
    latency = None
    if first is not None and truth.evidence_at is not None:
        latency = round((first.at - truth.evidence_at) * 1000.0, 1)
    return {
        "index": truth.index,
        "photo": spec.photo,
        "identity": spec.identity,
        "presentation": spec.presentation,
        "temperature_c": round(truth.core_c, 2),
        "stopped_at_m": spec.distance_m,  # where they first stopped (asked to, they may step closer)
        "expect": spec.expect,
        "decision": outcome,
        "correct": correct,
        "resident": decision.resident_name if decision else None,
        "reasons": decision.reasons if decision else ["no decision"],
        "checks": decision.checks if decision else {},
        "measured_temperature_c": decision.temperature_c if decision else None,
        "stage_ms": {k: round(v, 2) for k, v in decision.stage_ms.items()} if decision else {},
        "relay_pulsed": bool(first and first.pulsed),
        "passages": len(truth.passed_at),
        "stepped_up_at": truth.started_at,  # scenario seconds: left the queue
        "opened_at": truth.opened_at,
        "passed_at": truth.passed_at[0] if truth.passed_at else None,
        "decided_at": first.at if first else None,  # world seconds
        "evidence_at": truth.evidence_at,  # world seconds: across the 1.2 m line, and the code shown if any
        "latency_ms": latency,  # evidence_at to the decision and relay command; negative: decided before the line
        "decisions": len(observed),
        "alarms": alarms,  # machine codes of the alarms raised while they stood at the gate, in order
    }


def write_report(report: dict[str, Any], path: str | Path) -> None:
    Path(path).write_text(json.dumps(report, indent=2, default=str))
