"""SIGTERM and SIGINT as a stop event, for the long-running commands (gate, collector, fleet view)."""

from __future__ import annotations

import signal
import threading

EXIT_INTERRUPTED = 130  # 128 + SIGINT, what a shell reports for Ctrl-C


class StopRequest(threading.Event):
    """Set by the first SIGTERM or SIGINT; remembers which."""

    signal_number: int | None = None

    def exit_status(self) -> int:
        """0 for a stop asked by SIGTERM (systemd's), 130 for Ctrl-C."""
        return EXIT_INTERRUPTED if self.signal_number == signal.SIGINT else 0

    def reason(self) -> str:
        return "Ctrl-C" if self.signal_number == signal.SIGINT else "SIGTERM"


def install_signal_handlers() -> StopRequest:
    stop = StopRequest()

    def handle(number: int, _frame) -> None:
        if stop.signal_number is None:
            stop.signal_number = number
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, handle)
    return stop
