"""One registry of what is wrong with the gate, keyed by device: set, clear, list.

Every caller names the device the same way (`camera`, `thermal`, `relay`, `passage`,
`qr_scanner`, `mqtt`, `storage`, `ui`, a stage's name), so a fault raised at start under one
name is cleared by the recovery under the same name. A change is reported once through
`on_change` (the gate records it as an alarm or a recovery); setting the same message again
reports nothing.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping


class Faults(Mapping[str, str]):
    """device -> message of each open fault; read it like a dict, change it with set and clear."""

    def __init__(self, on_change: Callable[[str, str | None], None] | None = None) -> None:
        self._open: dict[str, str] = {}
        self._lock = threading.Lock()
        self._on_change = on_change

    def set(self, device: str, message: str) -> None:
        with self._lock:
            changed = self._open.get(device) != message
            self._open[device] = message
        if changed and self._on_change is not None:
            self._on_change(device, message)

    def clear(self, device: str) -> None:
        with self._lock:
            was_open = self._open.pop(device, None) is not None
        if was_open and self._on_change is not None:
            self._on_change(device, None)

    def quietly(self, device: str, message: str) -> None:
        """Set without reporting: for a fault that cannot itself be recorded (the state database)."""
        with self._lock:
            self._open[device] = message

    def __getitem__(self, device: str) -> str:
        with self._lock:
            return self._open[device]

    def __iter__(self) -> Iterator[str]:
        with self._lock:
            return iter(list(self._open))

    def __len__(self) -> int:
        with self._lock:
            return len(self._open)
