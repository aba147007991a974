"""`gatepost doctor`: every part a gate needs, opened and tried, each ok, warn or fail with the fix.

Beside a running daemon (its control socket answers in the state folder) the devices it holds are not opened a
second time: their state is the daemon's own, as `status` reports it.
"""

from __future__ import annotations

from edge.config import GateConfig
from edge.doctor import devices, services
from edge.doctor.checks import Check, Level, Problem, check
from edge.liveness import liveness_warning

__all__ = ["Check", "Level", "run_doctor"]


def run_doctor(config: GateConfig, *, probe_devices: bool = True) -> list[Check]:
    daemon = services.running_daemon_status(config)
    checks = [check("state folder", lambda: services.state_folder(config, daemon)),
              check(f"face models ({config.face.pack})", lambda: services.models(config),
                    "gatepost models fetch (or place the pack by hand: docs/models.md)")]
    checks += devices.device_checks(config, daemon, probe_devices)
    checks += [check("liveness", lambda: _liveness(config)),
               check("clock", services.clock, "enable NTP: timedatectl set-ntp true (docs/service.md)"),
               check("broker", lambda: services.broker(config, daemon)),
               check("touchscreen port", lambda: services.touchscreen_port(config, daemon))]
    return checks


def _liveness(config: GateConfig) -> str:
    warning = liveness_warning(config)
    if warning:
        raise Problem(warning, "add a thermal camera and set checks.temperature.mode: required", Level.warn)
    return "the thermal check refuses photos and screens"
