"""One daemon per state directory: an exclusive lock held for the life of the process.

Two daemons on one state directory would interleave decisions in one database and drive the
same relay; the second is refused at start with a line naming the first one's pid. The lock
is an flock, so the kernel releases it when the holder dies, even by SIGKILL.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from edge.errors import StorageError

LOCK_NAME = "gatepost.lock"


class InstanceLock:
    """Held from construction until `close()`; a second holder gets StorageError."""

    def __init__(self, state_dir: str | Path) -> None:
        self.path = Path(state_dir) / LOCK_NAME
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fd: int | None = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as error:
            raise StorageError(f"{self.path}: cannot create the lock file ({error.strerror})") from None
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(self._fd, 32, 0).decode(errors="replace").strip() or "unknown"
            os.close(self._fd)
            self._fd = None
            raise StorageError(f"{self.path.parent}: another gatepost daemon (pid {holder}) is using this state "
                               "directory") from None
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, f"{os.getpid()}\n".encode(), 0)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> "InstanceLock":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
