"""A visitor's face enrolled at the booth for their visit is removed once the visit ends, with an event; residents and
visitors whose visit goes on are kept."""

import time

import numpy as np

from edge.sdnotify import Notifier
from edge.store import Store
from edge.upkeep import Upkeep


def _template(seed: int) -> np.ndarray:
    vector = np.random.default_rng(seed).normal(size=128).astype(np.float32)
    return vector / np.linalg.norm(vector)


def test_a_visitor_s_face_goes_when_the_visit_ends_and_a_resident_s_stays(tmp_path):
    now = time.time()
    with Store(tmp_path) as store:
        resident = store.add_resident("Chen", "2-303", [_template(1)], [1.0], ["photo"])
        ended = store.add_resident("Li Wei", "3-502", [_template(2)], [1.0], ["booth"], valid_until=now - 1)
        visiting = store.add_resident("Zhao", "3-502", [_template(3)], [1.0], ["booth"], valid_until=now + 3600)
        version = store.gallery_version
        removed = []
        upkeep = Upkeep(store, Notifier(""), retention_days=lambda: 90.0, safely=lambda write: write(),
                        on_expired=lambda resident_id, name: removed.append((resident_id, name)))
        upkeep.tick(0.0)
        assert removed == [(ended, "Li Wei")]
        assert sorted(r.id for r in store.residents()) == [resident, visiting]
        assert store.gallery_version > version  # the running gate's gallery follows: no longer recognised
        assert ended not in store.gallery().owners.tolist()
        assert store.resident_by_uid(store.uid_of(visiting) or "") is not None
