"""A gate's frame loop on a thread of its own, for tests that talk to a running gate (its screens, its API)."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator

from edge.app import Runtime


@contextlib.contextmanager
def frame_loop(runtime: Runtime) -> Iterator[Callable[[], None]]:
    """Runs `runtime`'s frame loop while the block runs, then closes the runtime. Yields a function that stops the
    loop early (the runtime's servers stay up until the block ends)."""
    stop = threading.Event()
    loop = threading.Thread(target=runtime.run, args=(stop.is_set,), daemon=True)

    def stop_loop() -> None:
        stop.set()
        loop.join(timeout=30)

    loop.start()
    try:
        yield stop_loop
    finally:
        stop_loop()
        runtime.close()
