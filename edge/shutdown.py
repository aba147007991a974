"""SIGTERM and SIGINT as a stop event, for the long-running commands (gate, collector, fleet view)."""

from __future__ import annotations

import signal
import threading


def install_signal_handlers() -> threading.Event:
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    return stop
