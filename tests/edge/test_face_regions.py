import numpy as np
import pytest

from edge.face.align import norm_crop
from edge.face.embedder import CROP_SIZE
from edge.face.photos import enrol_photos
from edge.face.regions import GRID, MARGIN, Region, RegionPlanner
from edge.store import Store
from tests.edge.test_face import FACES, place_face

BACKGROUND = np.full((480, 640, 3), 120, np.uint8)


@pytest.fixture()
def gallery(tmp_path, face_config):
    from edge.face.gallery import FaceGallery

    with Store(tmp_path) as store:
        yield FaceGallery(store, face_config)


@pytest.fixture()
def engine(engine_factory, gallery):
    return engine_factory(gallery)


class SeenInputs:
    """The engine's own detector, noting the size of every image it is given."""

    def __init__(self, detector) -> None:
        self.detector = detector
        self.sizes: list[tuple[int, int]] = []

    def detect(self, image):
        self.sizes.append(image.shape[:2])
        return self.detector.detect(image)


def test_the_planner_looks_around_the_tracks_on_the_grid_and_at_the_whole_frame_now_and_then():
    planner = RegionPlanner(0.2)
    box = np.array([300.0, 200.0, 340.0, 250.0])
    assert planner.plan([box], 640, 480, 0.0) is None  # the first look is at everything
    region = planner.plan([box], 640, 480, 0.04)
    assert isinstance(region, Region)
    assert all(value % GRID == 0 for value in (region.left, region.top, region.right, region.bottom))
    pad = MARGIN * 50
    assert region.left <= 300 - pad and region.top <= 200 - pad
    assert region.right >= 340 + pad and region.bottom >= 250 + pad
    assert (region.right - region.left) * (region.bottom - region.top) < 0.3 * 640 * 480
    assert planner.plan([box], 640, 480, 0.19) is not None
    assert planner.plan([box], 640, 480, 0.2) is None  # every 0.2 s the whole frame
    assert planner.plan([box], 640, 480, 0.1) is None  # a clock that went back is not trusted
    assert planner.plan([], 640, 480, 0.15) is None  # nobody tracked: everywhere
    assert (planner.whole_frames, planner.region_frames) == (4, 2)


def test_a_region_that_would_be_most_of_the_frame_is_not_cut_out():
    planner = RegionPlanner(0.2)
    planner.plan([], 640, 480, 0.0)
    near = np.array([200.0, 100.0, 440.0, 420.0])  # a face 240 px wide, with its margins: most of the frame
    apart = [np.array([40.0, 40.0, 80.0, 90.0]), np.array([560.0, 380.0, 600.0, 430.0])]  # corner to corner
    assert planner.plan([near], 640, 480, 0.04) is None
    assert planner.plan(apart, 640, 480, 0.08) is None
    assert RegionPlanner(0.0).plan([np.array([300.0, 200.0, 340.0, 250.0])], 640, 480, 5.0) is None


@pytest.mark.parametrize("scale", [1, 2], ids=["640x480", "1280x960 (the detector's copy 640 wide)"])
def test_a_tracked_face_is_found_in_its_region_as_in_the_whole_frame_and_keeps_its_name(engine, gallery, scale):
    enrol_photos(engine, gallery, "Alice", "", [FACES / "resident_a/01.jpg"])
    background = np.full((480 * scale, 640 * scale, 3), 120, np.uint8)
    frame = place_face(engine, background, FACES / "resident_a/03.jpg", (320 * scale, 220 * scale), 90 * scale)
    seen = SeenInputs(engine.detector)
    engine.detector = seen
    whole = engine.process(frame, 0.0).primary
    in_region = engine.process(frame, 0.04).primary
    assert seen.sizes[0] == (480, 640)
    height, width = seen.sizes[1]
    assert height * width < 0.5 * 480 * 640
    assert in_region.track_id == whole.track_id and in_region.match.name == "Alice"
    # the thermal check reads the eye corners at these landmarks and the distance from the eyes' spacing: frames
    # looked at whole and in a region alternate, so the two must agree closely, not only roughly
    eye_distance = float(np.linalg.norm(whole.landmarks[0] - whole.landmarks[1]))
    assert abs(float(np.linalg.norm(in_region.landmarks[0] - in_region.landmarks[1])) - eye_distance) < 0.005 * eye_distance
    assert np.abs(in_region.landmarks - whole.landmarks).max() < 0.01 * eye_distance
    assert np.abs(np.array(in_region.box) - np.array(whole.box)).max() < 0.01 * eye_distance
    embedded = [engine.embedder.embed([norm_crop(frame, face.landmarks, CROP_SIZE)])[0] for face in (whole, in_region)]
    assert float(embedded[0] @ embedded[1]) > 0.99  # what recognition sees is the same face, aligned the same


def test_a_newcomer_away_from_the_tracked_face_is_found_at_the_next_look_at_the_whole_frame(engine, gallery):
    engine.regions = RegionPlanner(0.2)
    alice = place_face(engine, BACKGROUND.copy(), FACES / "resident_a/03.jpg", (180, 220), 90)
    both = place_face(engine, alice.copy(), FACES / "stranger_e/01.jpg", (520, 220), 70)
    assert len(engine.process(alice, 0.0).faces) == 1
    found_at = None
    for step in range(1, 10):
        now = 0.04 * step
        if len(engine.process(both, now).faces) == 2:
            found_at = now
            break
    assert found_at == pytest.approx(0.2)  # the frames before looked only around Alice; none later than this


def test_with_regions_off_every_frame_is_looked_at_whole(engine, gallery):
    engine.regions = RegionPlanner(0.0)
    frame = place_face(engine, BACKGROUND.copy(), FACES / "resident_a/03.jpg", (320, 220), 90)
    seen = SeenInputs(engine.detector)
    engine.detector = seen
    for step in range(4):
        engine.process(frame, 0.04 * step)
    assert seen.sizes == [(480, 640)] * 4


def test_a_change_of_the_setting_at_run_time_reaches_the_detector(tmp_path):
    from edge.app import Runtime
    from edge.config import parse_config

    config = parse_config({"mqtt": {"enabled": False}, "ui": {"enabled": False}})
    runtime = Runtime(config, state_dir=tmp_path, realtime=False, loop=False, control=False, ui=False, mqtt=False)
    try:
        assert runtime.engine.regions.whole_frame_every_s == 0.2
        change = runtime.service.change_config("face.whole_frame_every_s", 0.0, "ops")
        assert change.applied and runtime.engine.regions.whole_frame_every_s == 0.0
        runtime.service.change_config("face.detect_width", 320, "ops")
        assert runtime.engine.detect_width == 320  # the engine's other settings follow the same way
    finally:
        runtime.close()
