"""Inputs and outputs on serial boards: a Modbus RTU board (sharing the relay's port) and a Numato USB GPIO module,
each against an emulated board on a pty."""

from __future__ import annotations

import pytest

from drivers.io import ModbusIO, NumatoIO
from drivers.relay import ModbusRelay
from edge.errors import DeviceError
from tests.emulators import ModbusBoard, NumatoBoard


def test_a_modbus_boards_inputs_read_as_contacts_and_its_coils_drive_outputs():
    board = ModbusBoard(address=4, inputs=8)
    try:
        io = ModbusIO(port=board.port, address=4, inputs={"fire_alarm": 2, "door_contact": 5}, outputs={"siren": 3})
        assert io.contacts() == {"fire_alarm": False, "door_contact": False}
        board.inputs[2] = True
        assert io.contacts() == {"fire_alarm": True, "door_contact": False}
        board.inputs[5] = True
        board.inputs[2] = False
        assert io.contacts() == {"fire_alarm": False, "door_contact": True}
        io.set("siren", True)
        assert board.coils[3] is True
        io.set("siren", False)
        assert board.coils[3] is False and not board.log.errors
        io.close()
    finally:
        board.close()


def test_the_relay_and_the_inputs_of_one_board_share_its_port_and_interleave_nothing():
    board = ModbusBoard(address=1, inputs=4)
    try:
        relay = ModbusRelay(port=board.port, address=1, channel=1)  # the port is opened exclusively, once
        io = ModbusIO(port=board.port, address=1, inputs={"fire_alarm": 0}, outputs={})
        board.inputs[0] = True
        for _ in range(20):
            relay.set(True)
            assert io.contacts() == {"fire_alarm": True}
            relay.set(False)
        assert board.coils[0] is False and not board.log.errors
        relay.close()
        assert io.contacts() == {"fire_alarm": True}  # the port stays open while the inputs use it
        io.close()
    finally:
        board.close()


def test_a_modbus_board_that_stops_answering_is_a_device_error_naming_it():
    board = ModbusBoard(address=1, inputs=4, silent=True)
    try:
        io = ModbusIO(port=board.port, address=1, inputs={"tamper": 1}, outputs={}, reply_timeout_s=0.1)
        with pytest.raises(DeviceError, match="no full reply from address 1"):
            io.contacts()
        io.close()
    finally:
        board.close()


def test_a_numato_module_reads_a_grounded_contact_as_closed_and_drives_its_lines():
    board = NumatoBoard(lines=8)
    try:
        io = NumatoIO(port=board.port, inputs={"exit_button": 1, "tamper": 6}, outputs={"siren": 7})
        assert io.contacts() == {"exit_button": False, "tamper": False}
        board.levels[1] = 0
        assert io.contacts() == {"exit_button": True, "tamper": False}
        io.set("siren", True)
        assert board.driven == {7: 1}
        io.set("siren", False)
        assert board.driven == {7: 0} and not board.log.errors
        io.close()
    finally:
        board.close()


def test_a_numato_module_unplugged_is_a_device_error_and_a_missing_prompt_is_not_waited_for_forever():
    board = NumatoBoard(lines=2)
    io = NumatoIO(port=board.port, inputs={"tamper": 0}, outputs={}, reply_timeout_s=0.1)
    board.unplug()
    with pytest.raises(DeviceError, match="Numato"):
        io.contacts()
    io.close()
    board.close()
