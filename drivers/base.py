"""What every driver shares: close-twice safety, context management, named closed errors."""

from __future__ import annotations

from edge.errors import DeviceClosedError


class Device:
    """Base for drivers: `close()` may be called twice; a closed device raises DeviceClosedError."""

    name = "device"

    def __init__(self) -> None:
        self._closed = False

    @property
    def closed(self) -> bool:
        return self._closed

    def _check_open(self) -> None:
        if self._closed:
            raise DeviceClosedError(f"{self.name}: used after close()")

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._close()

    def _close(self) -> None:
        """Release the hardware; called once."""

    def describe(self) -> str:
        """One line for `gatepost doctor`: what this device is and that it answers."""
        return self.name

    def __enter__(self):  # noqa: ANN204 - returns the subclass
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
