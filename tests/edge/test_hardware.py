"""Opening the configured devices: simulated by default, a real one that fails is a named fault."""

from edge.config import parse_config
from edge.hardware import open_hardware


def test_the_default_gate_runs_on_one_simulated_world():
    hardware = open_hardware(parse_config({}), realtime=False, loop=False)
    try:
        assert hardware.world is not None and not hardware.faults
        assert hardware.relay is hardware.world.relay and hardware.scanner is hardware.world.scanner
        assert hardware.camera.read(timeout=1.0) is not None
    finally:
        hardware.close()


def test_an_unplugged_relay_and_scanner_are_faults_by_device_and_the_gate_still_opens(tmp_path):
    config = parse_config({"hardware": {
        "relay": {"driver": "lcus", "port": str(tmp_path / "ttyUSB-gone")},
        "qr_scanner": {"driver": "serial", "port": str(tmp_path / "ttyACM-gone")}}})
    hardware = open_hardware(config, realtime=False, loop=False)
    try:
        assert set(hardware.faults) == {"relay", "qr_scanner"}
        assert "ttyUSB-gone" in hardware.faults["relay"] and "ttyACM-gone" in hardware.faults["qr_scanner"]
        assert hardware.relay is None and hardware.relay_factory is not None  # retried until it answers
        assert hardware.scanner is None and hardware.camera is not None
    finally:
        hardware.close()
