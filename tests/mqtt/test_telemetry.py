"""Telemetry leaves through the outbox at its interval, with the gate's health."""

import json

from edge.app import Runtime
from edge.config import parse_config
from edge.mqtt.telemetry import Telemetry, percentile


def test_percentiles_of_nothing_and_of_a_few():
    assert percentile([], 95) == 0.0
    assert percentile([3.0, 1.0, 2.0], 50) == 2.0 and percentile([3.0, 1.0, 2.0], 100) == 3.0


def test_a_snapshot_is_queued_once_per_interval_with_frames_per_second_and_faults(tmp_path):
    config = parse_config({"mqtt": {"enabled": False}, "ui": {"enabled": False}})
    runtime = Runtime(config, state_dir=tmp_path, realtime=False, loop=False, control=False, ui=False, mqtt=False)
    now = [0.0]
    try:
        telemetry = Telemetry(runtime.gate, runtime.store, "t/telemetry", interval_s=10.0, clock=lambda: now[0],
                              face_status=runtime.face_status, clock_status=runtime.clock_status)
        for _ in range(20):
            runtime.gate.step()
        now[0] = 9.9
        assert not telemetry.poll() and runtime.store.outbox_size() == 0
        runtime.gate.faults.set("thermal", "thermal: frozen")
        outbox_before = runtime.store.outbox_size()  # the fault itself is an alarm event
        now[0] = 10.0
        assert telemetry.poll()
        (item,) = [i for i in runtime.store.outbox_pending() if i.topic == "t/telemetry"]
        body = json.loads(item.payload)
        assert body["fps"] == 2.0 and body["devices_ok"] is False and body["faults"] == {"thermal": "thermal: frozen"}
        assert body["outbox"] == outbox_before and body["face"]["threshold"] > 0
        detection = body["face"]["detection"]  # where the detector looked: the whole frame or around the faces
        assert detection["whole_frame_every_s"] == 0.2 and detection["whole_frames"] + detection["region_frames"] <= 20
        assert body["clock"]["behind_s"] == 0 and isinstance(body["clock"]["warnings"], list)
        assert set(body["stage_ms"]) >= {"face", "thermal", "qr"}
        assert item.qos == 0  # telemetry is done when sent
    finally:
        runtime.close()
