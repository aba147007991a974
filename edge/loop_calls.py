"""Work other threads hand to the frame loop: run there between frames, its result or error in a future."""

from __future__ import annotations

import queue
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any


class LoopCalls:
    def __init__(self) -> None:
        self._waiting: queue.Queue[tuple[Callable[[], Any], Future]] = queue.Queue()

    def submit(self, function: Callable[[], Any]) -> Future:
        """Thread-safe: `function` runs on the loop's next `run`; its result (or error) in the future."""
        future: Future = Future()
        self._waiting.put((function, future))
        return future

    def run(self) -> None:
        """On the loop's thread: everything handed over so far (a call that was cancelled is skipped)."""
        while True:
            try:
                function, future = self._waiting.get_nowait()
            except queue.Empty:
                return
            if future.set_running_or_notify_cancel():
                try:
                    future.set_result(function())
                except Exception as error:  # handed back to the caller
                    future.set_exception(error)
