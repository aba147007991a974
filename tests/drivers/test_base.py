"""What every driver shares."""

import pytest

from drivers.base import Device
from edge.errors import DeviceClosedError


class Lamp(Device):
    name = "lamp"

    def __init__(self) -> None:
        super().__init__()
        self.released = 0

    def _close(self) -> None:
        self.released += 1

    def light(self) -> None:
        self._check_open()


def test_closing_twice_releases_once_and_use_after_close_is_named():
    with Lamp() as lamp:
        lamp.light()
    assert lamp.closed and lamp.released == 1
    lamp.close()
    assert lamp.released == 1
    with pytest.raises(DeviceClosedError, match="lamp: used after close"):
        lamp.light()
