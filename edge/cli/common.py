"""What every command shares: which config and state it acts on (said once on stderr), dates, JSON output."""

from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from edge.config import GateConfig
from edge.errors import ConfigError

DEFAULT_CONFIG = "/etc/gatepost/gatepost.yaml"
EXIT_PARTLY = 3
NOWHERE = ("no gate to act on: give -c FILE (or --state-dir DIR), set $GATEPOST_CONFIG, install "
           f"{DEFAULT_CONFIG}, or start the daemon (gatepost -c FILE run) so that commands find it")


@dataclass(frozen=True)
class Where:
    """The config file and state folder a command acts on, and how each was found."""

    config_path: Path | None
    config_from: str
    state_dir: Path | None
    state_from: str

    def line(self) -> str:
        config = f"config {self.config_path} ({self.config_from})" if self.config_path else \
            f"config: built-in defaults ({self.config_from})"
        state = f"; state {self.state_dir} ({self.state_from})" if self.state_dir else ""
        return f"gatepost: {config}{state}"


def where(args: argparse.Namespace, *, needs_state: bool = True) -> Where:
    """Found once per command and said on stderr: `-c`, `$GATEPOST_CONFIG`, the installed file, or the one
    running daemon; without any of them a command that keeps state refuses rather than make a folder of its own."""
    known = getattr(args, "_where", None)
    if known is not None and (known.state_dir is not None or not needs_state):
        return known
    found = _find(args, needs_state)
    args._where = found
    print(found.line(), file=sys.stderr)
    return found


def _find(args: argparse.Namespace, needs_state: bool) -> Where:
    from edge.locator import running_daemons

    explicit_state = getattr(args, "state_dir", None)
    path, source = _named_config(args)
    daemon_state: Path | None = None
    if path is None and (needs_state or not explicit_state):
        daemons = running_daemons()
        if len(daemons) > 1 and needs_state:
            pids = ", ".join(str(d.pid) for d in daemons)
            raise ConfigError(f"{len(daemons)} daemons run here (pids {pids}): say which with -c FILE")
        if len(daemons) == 1:
            path, source, daemon_state = daemons[0].config_path, f"the running daemon, pid {daemons[0].pid}", \
                daemons[0].state_dir
    if explicit_state:
        return Where(path, source or "none given", Path(explicit_state), "--state-dir")
    if daemon_state is not None:
        return Where(path, source, daemon_state, "the running daemon's")
    if path is not None:
        from edge.overrides import load

        return Where(path, source, Path(load(path).state_dir), "the config's state_dir")
    if needs_state:
        raise ConfigError(NOWHERE)
    return Where(None, "none given", None, "")


def _named_config(args: argparse.Namespace) -> tuple[Path | None, str]:
    if getattr(args, "config", None):
        return Path(args.config), "-c"
    if os.environ.get("GATEPOST_CONFIG"):
        return Path(os.environ["GATEPOST_CONFIG"]), "$GATEPOST_CONFIG"
    if Path(DEFAULT_CONFIG).exists():
        return Path(DEFAULT_CONFIG), "installed"
    return None, ""


def config(args: argparse.Namespace, *, needs_state: bool = True) -> GateConfig:
    """The operator's file, with the machine-written overrides of the state folder it acts on (edge/overrides.py);
    a command that keeps no state (keys, the console, the relay's rest) reads the file alone."""
    from edge.config import parse_config, read_yaml
    from edge.overrides import with_overrides

    found = where(args, needs_state=needs_state)
    operator = (read_yaml(found.config_path) or {}) if found.config_path else {}
    source = str(found.config_path or "defaults")
    if found.state_dir is None:
        return parse_config(operator, source=source)
    loaded = with_overrides(operator, source=source, state_dir=found.state_dir)
    return loaded.model_copy(update={"state_dir": str(found.state_dir)})


def state_dir(args: argparse.Namespace) -> Path:
    found = where(args)
    assert found.state_dir is not None
    return found.state_dir


def store(args: argparse.Namespace):
    from edge.store import Store

    return Store(state_dir(args))


def print_json(value: object) -> int:
    print(json.dumps(value, ensure_ascii=False, indent=2))
    return 0


def moment(text: str) -> float:
    """A time on the command line: ISO 8601 (2026-12-05, 2026-12-05T08:30, with or without a zone; local time when
    none) or unix seconds."""
    try:
        return float(text)
    except ValueError:
        pass
    try:
        parsed = datetime.datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected an ISO date or time (2026-12-05T08:30) "
                                         "or unix seconds") from None
    return parsed.timestamp()


def mqtt_config(args: argparse.Namespace):
    """The config's broker settings (no state needed), with --host, --port and --protocol over them."""
    mqtt = config(args, needs_state=False).mqtt
    updates = {k: v for k, v in (("host", args.host), ("port", args.port), ("protocol", args.protocol)) if v}
    return mqtt.model_copy(update=updates)


def broker_options(parser: argparse.ArgumentParser, *, protocol: str | None = None,
                   protocol_help: str = "MQTT version (default: the config's)") -> None:
    parser.add_argument("--host", help="broker host (default: the config's mqtt.host)")
    parser.add_argument("--port", type=int, help="broker port (default: the config's mqtt.port)")
    parser.add_argument("--protocol", choices=["5", "3.1.1"], default=protocol, help=protocol_help)
