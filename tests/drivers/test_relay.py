import pytest

from drivers.modbus import crc16_modbus, read_coils_frame, write_coil_frame
from drivers.relay import HISTORY_KEPT, LcusRelay, ModbusRelay, SimRelay, lcus_frame
from edge.errors import DeviceClosedError, DeviceError
from tests.emulators import LcusBoard, ModbusBoard, wait_for


def test_crc16_modbus_matches_the_specification_example():
    # Modbus over serial line, appendix: 01 03 00 00 00 01 -> CRC 0x0A84, sent low byte first (84 0A).
    assert crc16_modbus(bytes.fromhex("010300000001")) == 0x0A84


def test_frames_are_byte_exact():
    assert lcus_frame(1, True) == bytes.fromhex("a00101a2")
    assert lcus_frame(1, False) == bytes.fromhex("a00100a1")
    assert lcus_frame(2, True) == bytes.fromhex("a00201a3")
    assert write_coil_frame(1, 0, True) == bytes.fromhex("01050000ff008c3a")
    assert write_coil_frame(1, 0, False) == bytes.fromhex("010500000000cdca")
    assert read_coils_frame(1, 0, 1) == bytes.fromhex("010100000001fdca")


def test_lcus_relay_over_a_pty():
    board = LcusBoard(channels=2)
    try:
        with LcusRelay(port=board.port, channel=2) as relay:
            relay.set(True)
            relay.set(False)
            assert wait_for(lambda: len(board.log.states) == 2)
        assert board.log.states == [(2, True), (2, False)]
        assert board.log.errors == []
        assert bytes(board.received) == bytes.fromhex("a00201a3 a00200a2")
    finally:
        board.close()


def test_modbus_relay_writes_and_reads_back_the_coil():
    board = ModbusBoard(address=3)
    try:
        with ModbusRelay(port=board.port, address=3, channel=2) as relay:
            relay.set(True)
            assert relay.read() is True
            assert board.coils[1] is True
            relay.set(False)
            assert relay.read() is False
        assert board.log.errors == []
        assert board.log.states == [(1, True), (1, False)]
    finally:
        board.close()


def test_modbus_board_that_does_not_answer_is_a_device_error():
    board = ModbusBoard(address=1, silent=True)
    try:
        relay = ModbusRelay(port=board.port, address=1, reply_timeout_s=0.1)
        with pytest.raises(DeviceError, match="no full reply from address 1"):
            relay.set(True)
        relay.close()
    finally:
        board.close()


def test_modbus_exception_reply_is_reported():
    board = ModbusBoard(address=1, coils=2)
    try:
        relay = ModbusRelay(port=board.port, address=1, channel=5)
        with pytest.raises(DeviceError, match="exception 2 \\(illegal data address\\)"):
            relay.set(True)
        relay.close()
    finally:
        board.close()


def test_unplugged_board_raises_device_error():
    board = ModbusBoard(address=1)
    relay = ModbusRelay(port=board.port, address=1, reply_timeout_s=0.1)
    relay.set(True)
    board.unplug()
    with pytest.raises(DeviceError):
        relay.set(False)
    relay.close()
    board.close()


def test_missing_port_names_the_port():
    with pytest.raises(DeviceError, match="/dev/does-not-exist"):
        LcusRelay(port="/dev/does-not-exist")


def test_closed_relay_raises_named_error_and_close_twice_is_fine():
    relay = SimRelay()
    relay.close()
    relay.close()
    with pytest.raises(DeviceClosedError):
        relay.set(True)


def test_the_simulated_relay_keeps_its_newest_changes_only():
    relay = SimRelay(clock=lambda: 1.0)
    for _ in range(HISTORY_KEPT):
        relay.set(True)
        relay.set(False)
    assert len(relay.history) == HISTORY_KEPT and relay.history[-1].on is False
    assert len(relay.pulses()) == HISTORY_KEPT // 2
