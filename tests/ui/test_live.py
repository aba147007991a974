"""The touchscreen's own view state: the newest frame with its overlay, and recent recognitions."""

import numpy as np

from drivers.camera import Frame
from edge.decision import Visit
from edge.events import Decision, DecisionSource
from edge.face.matcher import Match
from edge.stages.base import FrameContext
from edge.ui.live import LiveView, RecentMatches


def test_the_live_view_keeps_the_newest_frame_and_counts_versions():
    live = LiveView()
    assert live.snapshot()[0] is None and live.snapshot()[2] == 0
    image = np.zeros((480, 640, 3), np.uint8)
    context = FrameContext(frame=Frame(image=image, time=1.0, index=0), now=1.0)
    live.update(image, context, None)
    seen, overlay, version = live.snapshot()
    assert seen is image and version == 1
    assert overlay == {"faces": [], "temperature_c": None, "codes": [], "visit": None, "size": [640, 480],
                       "guide": False}


def _visit(visit_id: str, resident_id: int | None, embedding) -> Visit:
    visit = Visit(track_id=1, started=0.0, started_perf=0.0, visit_id=visit_id)
    visit.match = None if resident_id is None else Match(resident_id, "R", 0.9, 0.3, "match")
    visit.embedding = embedding
    return visit


def test_recent_matches_keep_the_latest_recognised_visits_only():
    recent = RecentMatches(keep=2)
    decision = Decision(granted=True, source=DecisionSource.pipeline, reasons=[])
    recent.add(_visit("stranger", None, np.ones(4)), decision)
    recent.add(_visit("no-face", 3, None), decision)
    for n in range(3):
        recent.add(_visit(f"v{n}", n + 1, np.full(4, n, np.float32)), decision)
    assert recent.get("stranger") is None and recent.get("no-face") is None and recent.get("v0") is None
    resident_id, embedding = recent.get("v2")
    assert resident_id == 3 and embedding.tolist() == [2, 2, 2, 2]


def test_the_live_view_is_encoded_at_a_glance_size_whatever_the_camera():
    import cv2

    from edge.ui.frames import LIVE_WIDTH, live_jpeg as _jpeg

    image = np.full((1080, 1920, 3), 128, np.uint8)
    overlay = {"faces": [{"box": [960.0, 540.0, 1200.0, 800.0], "primary": True, "known": False}]}
    decoded = cv2.imdecode(np.frombuffer(_jpeg(image, overlay), np.uint8), cv2.IMREAD_COLOR)
    assert decoded.shape == (360, LIVE_WIDTH, 3)
    assert decoded[180, 330, 2] > 200 and decoded[180, 330, 0] < 80  # the stranger's red box, scaled by 1/3
    assert image[540, 960].tolist() == [128, 128, 128]  # the camera's frame is not drawn on


def test_when_a_code_is_asked_for_the_live_view_shows_where_to_hold_it():
    import cv2

    from edge.ui.frames import CODE_GUIDE_WIDTH, live_jpeg as _jpeg

    image = np.full((480, 640, 3), 40, np.uint8)
    plain = cv2.imdecode(np.frombuffer(_jpeg(image, {"guide": False}), np.uint8), cv2.IMREAD_COLOR)
    guided = cv2.imdecode(np.frombuffer(_jpeg(image, {"guide": True}), np.uint8), cv2.IMREAD_COLOR)
    side = int(640 * CODE_GUIDE_WIDTH)
    corner = ((640 - side) // 2 + 5, (480 - side) // 2 + 60)  # just inside the top-left mark
    assert plain[corner[1], corner[0]].max() < 80 and guided[corner[1], corner[0]].max() > 180
