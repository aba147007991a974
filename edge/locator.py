"""Where a running daemon is: each `gatepost run` leaves a small record in a runtime folder, so a command typed
without `-c` acts on the gate that is running rather than on a default folder of its own.

The record names the config file, the state folder and the control socket; a reader trusts it only once that
socket answers (a daemon killed with -9 leaves a stale record behind, which is then ignored and removed).
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from edge.control import SOCKET_NAME, send
from edge.errors import GatepostError

log = logging.getLogger(__name__)

RECORD_PREFIX = "daemon-"


def runtime_dir() -> Path:
    """$GATEPOST_RUNTIME_DIR, else /run/gatepost for root, else the user's runtime folder."""
    if os.environ.get("GATEPOST_RUNTIME_DIR"):
        return Path(os.environ["GATEPOST_RUNTIME_DIR"])
    if os.geteuid() == 0:
        return Path("/run/gatepost")
    if os.environ.get("XDG_RUNTIME_DIR"):
        return Path(os.environ["XDG_RUNTIME_DIR"]) / "gatepost"
    return Path(f"/tmp/gatepost-{os.geteuid()}")


@dataclass(frozen=True)
class RunningDaemon:
    pid: int
    config_path: Path | None
    state_dir: Path


class DaemonRecord:
    """This process's record, removed when it stops."""

    def __init__(self, config_path: Path | None, state_dir: Path) -> None:
        folder = runtime_dir()
        self.path = folder / f"{RECORD_PREFIX}{os.getpid()}.json"
        body = {"pid": os.getpid(), "config": str(config_path.resolve()) if config_path else None,
                "state_dir": str(state_dir.resolve())}
        temporary = self.path.with_suffix(".tmp")
        try:
            folder.mkdir(parents=True, exist_ok=True, mode=0o755)
            temporary.write_text(json.dumps(body))
            temporary.replace(self.path)
        except OSError as error:  # the gate runs on; only commands typed without -c cannot find it
            log.warning("cannot leave a record in %s (%s): commands need -c to find this gate", folder,
                        error.strerror)

    def close(self) -> None:
        self.path.unlink(missing_ok=True)


def running_daemons() -> list[RunningDaemon]:
    """The daemons on this machine whose control socket answers, stale records removed."""
    folder = runtime_dir()
    found = []
    for record in sorted(folder.glob(f"{RECORD_PREFIX}*.json")) if folder.is_dir() else []:
        try:
            body = json.loads(record.read_text()[:4096])
            daemon = RunningDaemon(int(body["pid"]), Path(body["config"]) if body.get("config") else None,
                                   Path(body["state_dir"]))
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if not _answers(daemon):
            if not _alive(daemon.pid):
                record.unlink(missing_ok=True)
            continue
        found.append(daemon)
    return found


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _answers(daemon: RunningDaemon) -> bool:
    if not (daemon.state_dir / SOCKET_NAME).exists():
        return False
    try:
        reply = send(daemon.state_dir, {"command": "where"}, timeout=1.0)
    except GatepostError:
        return False
    return reply.get("pid") == daemon.pid
