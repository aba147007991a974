"""What a doctor's check says: its level, what it found and the fix; and the probes several checks use."""

from __future__ import annotations

import enum
import errno
import shutil
import socket
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from edge.errors import GatepostError

MIN_FREE_MB = 500  # the outbox holds events through a long broker outage; below this a week of them may not fit
BROKER_TIMEOUT_S = 5.0


class Level(enum.IntEnum):
    ok = 0
    warn = 1
    fail = 2


@dataclass(frozen=True)
class Check:
    level: Level
    label: str
    detail: str
    fix: str = ""

    def line(self) -> str:
        mark = {Level.ok: "ok  ", Level.warn: "warn", Level.fail: "FAIL"}[self.level]
        return f"{mark} {self.label}: {self.detail}" + (f" -> {self.fix}" if self.fix and self.level else "")


class Problem(Exception):
    """A check's finding: its level, what was found, and what fixes it."""

    def __init__(self, detail: str, fix: str = "", level: Level = Level.fail) -> None:
        super().__init__(detail)
        self.detail, self.fix, self.level = detail, fix, level


def check(label: str, probe: Callable[[], str], fix: str = "") -> Check:
    try:
        return Check(Level.ok, label, probe())
    except Problem as problem:
        return Check(problem.level, label, problem.detail, problem.fix or fix)
    except GatepostError as error:
        return Check(Level.fail, label, str(error), fix)
    except Exception as error:  # doctor reports, it never crashes
        return Check(Level.fail, label, f"{type(error).__name__}: {error}", fix)


def port_taken(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((host, port))
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                return True
            raise
    return False


def free_mb(path: Path) -> float:
    return shutil.disk_usage(path).free / 1e6
