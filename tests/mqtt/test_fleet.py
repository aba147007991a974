"""A resident enrolled once reaches every gate of the site, including one that was offline."""

import numpy as np

from edge.admin import AdminClient, removal_record, resident_record, write_key
from edge.app import Runtime
from edge.images import read_image
from edge.config import parse_config
from tests.conftest import SCENARIOS
from tests.emulators import wait_for

FACES = SCENARIOS / "faces"


def make_gate(broker, tmp_path, gate_id, public):
    config = parse_config({
        "site": {"site_id": "demo-site", "gate_id": gate_id},
        "simulation": {"scenario": str(SCENARIOS / "residents_only.yaml"), "realtime": False, "loop": False},
        "mqtt": {"port": broker.port, "admin_keys": {"admin-1": public}},
        "ui": {"enabled": False},
    })
    return Runtime(config, state_dir=tmp_path / gate_id, control=False)


def names(runtime):
    runtime._between_frames()
    return {r.name for r in runtime.store.residents()}


def test_enrolment_reaches_online_and_offline_gates(broker, tmp_path):
    public = write_key(tmp_path / "admin.key", "admin-1")
    online = make_gate(broker, tmp_path, "gate-1", public)
    try:
        assert online.link.connected.wait(10)
        engine = online.engine
        templates = [engine.template_from_photo(read_image(FACES / "resident_d/01.jpg"), source="d")[0]]
        with AdminClient(online.config.mqtt, tmp_path / "admin.key", site="demo-site") as admin:
            admin.publish_record(resident_record("uid-dana", "Dana", "7-707", templates, "default"))
        assert wait_for(lambda: "Dana" in names(online), timeout=10)
        assert online.clock.as_dict()["newest_seen_by"] == "administrator admin-1"  # a signed time, seen
        probe, _ = engine.template_from_photo(read_image(FACES / "resident_d/03.jpg"), source="probe")
        assert engine.matcher.search(probe).name == "Dana"  # searched from the next frame, not when the owner looks

        late = make_gate(broker, tmp_path, "gate-2", public)  # was offline while Dana was enrolled
        try:
            assert wait_for(lambda: "Dana" in names(late), timeout=10)
            version = online.store.resident_by_uid("uid-dana").record_version
            with AdminClient(online.config.mqtt, tmp_path / "admin.key", site="demo-site") as admin:
                admin.publish_record(removal_record("uid-dana"))
            assert wait_for(lambda: "Dana" not in names(online) and "Dana" not in names(late), timeout=10)
            assert engine.matcher.search(probe).name != "Dana"  # and searched no more
            # an old record replayed changes nothing
            assert not online.store.apply_resident_record("uid-dana", version, name="Dana",
                                                          embeddings=[np.ones(128, np.float32)])
        finally:
            late.close()
    finally:
        online.close()
