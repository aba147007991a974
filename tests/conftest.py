import csv
import os
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
# the shared data beside the checkout; GATEPOST_SHARED names it when the tests run from a copy (mutation testing)
SHARED = Path(os.environ.get("GATEPOST_SHARED") or ROOT.parent / "shared")
SHARED_FACES = SHARED / "data" / "faces"
SCENARIOS = ROOT / "config" / "scenarios"


@pytest.fixture(scope="session")
def shared_faces() -> Path:
    if not (SHARED_FACES / "labels.csv").is_file():
        pytest.skip(f"{SHARED_FACES} is absent (the shared data set sits beside the project in CI)")
    return SHARED_FACES


@pytest.fixture(scope="session")
def face_labels(shared_faces) -> dict[str, list[Path]]:
    people: dict[str, list[Path]] = {}
    with open(shared_faces / "labels.csv") as handle:
        for row in csv.DictReader(handle):
            people.setdefault(row["identity"], []).append(shared_faces / row["image"])
    return people


@pytest.fixture(scope="session")
def face_config():
    from edge.config import FaceConfig

    return FaceConfig()


@pytest.fixture()
def empty_gallery():
    from edge.store import Gallery

    return Gallery(np.zeros((0, 0), np.float32), np.zeros(0, np.int64), np.zeros(0, bool), {}, 0)


@pytest.fixture(scope="session")
def engine_factory(face_config):
    from edge.face.setup import build_engine

    def make(gallery):
        return build_engine(face_config, gallery)

    return make


@pytest.fixture()
def broker(tmp_path):
    from tests.broker import Broker

    server = Broker(tmp_path / "broker").start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture()
def fake_gate(broker):
    """A bare MQTT 5 client on the broker, connected and looping: publishes what a gate (or a forger) would."""
    import paho.mqtt.client as mqtt

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="fake-gate", protocol=mqtt.MQTTv5)
    client.connect("127.0.0.1", broker.port)
    client.loop_start()
    try:
        yield client
    finally:
        client.loop_stop()
        client.disconnect()
