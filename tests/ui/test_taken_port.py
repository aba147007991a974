"""A touchscreen port already taken is one fault the gate reports, not a traceback on every event."""

import logging
import socket

from edge.app import Runtime
from edge.config import parse_config
from edge.events import DecisionSource


def test_a_taken_port_is_a_fault_and_events_still_flow_without_tracebacks(tmp_path, caplog):
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    port = holder.getsockname()[1]
    config = parse_config({"mqtt": {"enabled": False}, "ui": {"enabled": True, "port": port},
                           "pipeline": {"stages": ["qr"]},
                           "checks": {"face": {"mode": "off"}, "temperature": {"mode": "off"}}})
    caplog.set_level(logging.INFO)
    runtime = Runtime(config, state_dir=tmp_path, realtime=False, loop=False, control=False, ui=True)
    try:
        assert f"cannot listen on 127.0.0.1:{port}" in runtime.gate.faults["ui"]
        for _ in range(3):
            assert runtime.gate.open_now(DecisionSource.cli, "test", "delivery") is None  # events recorded
        assert runtime.store.event_count() >= 3
        assert not [r for r in caplog.records if r.exc_info or "Event loop is closed" in r.getMessage()]
        assert len([r for r in caplog.records if "touchscreen not served" in r.getMessage()]) == 1
    finally:
        runtime.close()
        holder.close()
