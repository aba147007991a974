"""Serial ports: opened exclusively (a second daemon cannot drive the same board), errors name the port."""

import pytest

from drivers.serialport import open_serial
from edge.errors import DeviceError
from tests.emulators import LcusBoard


def test_a_port_in_use_is_refused_naming_it():
    board = LcusBoard()
    first = open_serial(board.port, 9600, timeout=0.1, what="relay (LCUS serial)")
    try:
        with pytest.raises(DeviceError, match=f"relay \\(LCUS serial\\): cannot open {board.port}"):
            open_serial(board.port, 9600, timeout=0.1, what="relay (LCUS serial)")
    finally:
        first.close()
        board.close()


def test_a_missing_port_is_one_line_naming_the_device(tmp_path):
    with pytest.raises(DeviceError, match=f"QR scanner: cannot open {tmp_path}/ttyNONE"):
        open_serial(str(tmp_path / "ttyNONE"), 9600, timeout=0.1, what="QR scanner")
