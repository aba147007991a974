import cv2
import numpy as np
import pytest

from edge.face.photos import enrol_photos
from edge.images import read_image
from edge.errors import EnrolmentError, ModelError
from edge.face.matcher import Matcher
from edge.store import Gallery, Store
from tests.conftest import SCENARIOS

FACES = SCENARIOS / "faces"


@pytest.fixture()
def store(tmp_path):
    with Store(tmp_path) as store:
        yield store


@pytest.fixture()
def gallery(store, face_config):
    from edge.face.gallery import FaceGallery

    return FaceGallery(store, face_config)


@pytest.fixture()
def engine(engine_factory, gallery):
    return engine_factory(gallery)


def identify(engine, path):
    image = read_image(path)
    embedding, _ = engine.template_from_photo(image, source=str(path))
    return engine.matcher.search(embedding)


def test_enrolled_residents_are_identified_and_strangers_are_unknown(engine, gallery):
    alice, _ = enrol_photos(engine, gallery, "Alice", "3-201", [FACES / "resident_a/01.jpg", FACES / "resident_a/02.jpg"])
    enrol_photos(engine, gallery, "Bob", "5-1102", [FACES / "resident_b/01.jpg"])
    match = identify(engine, FACES / "resident_a/03.jpg")
    assert match.known and match.resident_id == alice and match.name == "Alice"
    assert match.similarity >= engine.matcher.threshold
    assert identify(engine, FACES / "resident_b/03.jpg").name == "Bob"
    stranger = identify(engine, FACES / "stranger_e/01.jpg")
    assert not stranger.known and stranger.reason == "below threshold"


def test_open_set_identification_on_the_shared_faces(engine_factory, face_config, face_labels, tmp_path):
    """One enrolment photo per person for half the people; everyone else must come back unknown."""
    from edge.face.gallery import FaceGallery

    with Store(tmp_path) as store:
        gallery = FaceGallery(store, face_config)
        engine = engine_factory(gallery)
        names = sorted(p for p, photos in face_labels.items() if len(photos) >= 2)
        enrolled = {}
        for name in names[::2]:
            for photo in face_labels[name]:
                try:
                    enrolled[name] = enrol_photos(engine, gallery, name, "", [photo])[0]
                    break
                except EnrolmentError:
                    continue
        wrong = []
        for name, photos in face_labels.items():
            for photo in photos:
                try:
                    match = identify(engine, photo)
                except EnrolmentError:
                    continue
                expected = name if name in enrolled else None
                if match.name != expected and not (expected and not match.known):
                    wrong.append((photo.name, name, match.name))
        assert wrong == [], f"false accepts: {wrong}"


def test_refusals_store_nothing(engine, gallery, store, tmp_path):
    corrupt = tmp_path / "corrupt.jpg"
    corrupt.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    blank = tmp_path / "blank.png"
    cv2.imwrite(str(blank), np.full((200, 200, 3), 127, np.uint8))
    with pytest.raises(EnrolmentError, match="corrupt.jpg: not a readable image"):
        enrol_photos(engine, gallery, "X", "", [FACES / "resident_a/01.jpg", corrupt])
    with pytest.raises(EnrolmentError, match="blank.png: no face found"):
        enrol_photos(engine, gallery, "X", "", [blank])
    two = np.hstack([read_image(FACES / "resident_a/01.jpg"), read_image(FACES / "resident_b/01.jpg")[:260, :192]])
    cv2.imwrite(str(tmp_path / "two.jpg"), two)
    with pytest.raises(EnrolmentError, match="two.jpg: 2 faces, none of them clearly the person of the other photos; "
                                             "use a photo of one person, or add one"):
        enrol_photos(engine, gallery, "X", "", [tmp_path / "two.jpg"])
    with pytest.raises(EnrolmentError, match="no such file"):
        enrol_photos(engine, gallery, "X", "", [tmp_path / "missing.jpg"])
    assert store.residents() == []


def test_a_group_photo_gives_the_face_that_matches_the_persons_other_photos(engine, gallery, store, tmp_path):
    two = np.hstack([read_image(FACES / "resident_a/01.jpg"), read_image(FACES / "resident_b/01.jpg")[:260, :192]])
    cv2.imwrite(str(tmp_path / "two.jpg"), two)
    alice, review = enrol_photos(engine, gallery, "Alice", "", [tmp_path / "two.jpg", FACES / "resident_a/02.jpg"])
    assert review.kept == [0, 1] and review.refused == []
    assert identify(engine, FACES / "resident_a/03.jpg").resident_id == alice
    assert not identify(engine, FACES / "resident_b/03.jpg").known  # Bob's face was not taken from the photo
    assert len(store.templates(alice)) == 2


def test_someone_enrolled_twice_is_refused_naming_them_and_nothing_is_stored(engine, gallery, store):
    from edge.face.enrolment import DuplicateEnrolment

    alice, _ = enrol_photos(engine, gallery, "Alice", "", [FACES / "resident_a/01.jpg"])
    with pytest.raises(DuplicateEnrolment, match=f"already enrolled as resident {alice} Alice"):
        enrol_photos(engine, gallery, "Alice again", "", [FACES / "resident_a/02.jpg", FACES / "resident_a/03.jpg"])
    assert [r.name for r in store.residents()] == ["Alice"]
    twin, review = enrol_photos(engine, gallery, "Alice's twin", "", [FACES / "resident_a/02.jpg"],
                                lookalike_of=(alice,))
    assert [look.resident_id for look in review.lookalikes] == [alice]


def test_grey_and_16_bit_photos_are_accepted(engine, gallery, tmp_path):
    colour = read_image(FACES / "resident_c/01.jpg")
    grey = cv2.cvtColor(colour, cv2.COLOR_BGR2GRAY)
    cv2.imwrite(str(tmp_path / "grey.png"), grey)
    cv2.imwrite(str(tmp_path / "deep.png"), colour.astype(np.uint16) * 257)
    enrol_photos(engine, gallery, "Chen", "", [tmp_path / "grey.png", tmp_path / "deep.png"])
    assert identify(engine, FACES / "resident_c/03.jpg").name == "Chen"


def test_not_this_person_negative_template_stops_a_wrong_match(engine, gallery, store):
    alice, _ = enrol_photos(engine, gallery, "Alice", "", [FACES / "resident_a/01.jpg"])
    probe = read_image(FACES / "resident_a/04.jpg")
    embedding, quality = engine.template_from_photo(probe, source="probe")
    assert engine.matcher.search(embedding).resident_id == alice
    store.add_templates(alice, [embedding], [quality.value], ["probe"], negative=True)
    gallery.changed()
    match = engine.matcher.search(embedding)
    assert not match.known and match.reason == "marked not this person"


def test_margin_rejects_a_face_close_to_two_residents():
    base = np.array([1.0, 0.0, 0.0], np.float32)
    other = np.array([0.8, 0.6, 0.0], np.float32)
    gallery = Gallery(np.stack([base, other]), np.array([1, 2]), np.zeros(2, bool), {1: "A", 2: "B"}, 1)
    matcher = Matcher(gallery, threshold=0.5, margin=0.1)
    probe = (base + other) / np.linalg.norm(base + other)
    assert matcher.search(probe).reason == "ambiguous between residents"
    assert matcher.search(base).name == "A"


def test_missing_or_corrupt_model_is_a_clear_error(face_config, empty_gallery, tmp_path):
    from edge.face.setup import build_engine

    with pytest.raises(ModelError, match=r"yunet.onnx is missing; run `gatepost models fetch`"):
        build_engine(face_config, empty_gallery, models_dir=tmp_path)
    from models import MODELS_DIR

    for name in ("yunet.onnx", "sface.onnx", "prepared.json"):
        (tmp_path / name).write_bytes((MODELS_DIR / name).read_bytes())
    with open(tmp_path / "sface.onnx", "r+b") as handle:
        handle.seek(1000)
        handle.write(b"\x00" * 16)
    with pytest.raises(ModelError, match="sface.onnx has the wrong sha256"):
        build_engine(face_config, empty_gallery, models_dir=tmp_path)


def test_tracker_recognises_a_track_once(engine, gallery, store):
    enrol_photos(engine, gallery, "Alice", "", [FACES / "resident_a/01.jpg"])
    frame = np.full((480, 640, 3), 120, np.uint8)
    face = cv2.resize(read_image(FACES / "resident_a/03.jpg"), (240, 320))
    frame[60:380, 200:440] = face
    first = engine.process(frame, 0.0)
    second = engine.process(frame, 0.04)
    assert first.primary.recognised_now and first.primary.match.name == "Alice"
    assert not second.primary.recognised_now
    assert second.primary.track_id == first.primary.track_id
    assert second.stage_ms["embed"] == 0.0


def place_face(engine, frame, path, centre, face_width):
    """Paste a photo scaled and shifted so its face is `face_width` wide and centred on `centre`."""
    photo = read_image(path)
    (x1, y1, x2, y2) = max(engine.detector.detect(photo), key=lambda d: d.eye_distance).box
    scale = face_width / (x2 - x1)
    photo = cv2.resize(photo, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    left = int(round(centre[0] - scale * (x1 + x2) / 2))
    top = int(round(centre[1] - scale * (y1 + y2) / 2))
    h, w = frame.shape[:2]
    x0, y0 = max(0, left), max(0, top)
    x1, y1 = min(w, left + photo.shape[1]), min(h, top + photo.shape[0])
    frame[y0:y1, x0:x1] = photo[y0 - top:y1 - top, x0 - left:x1 - left]
    return frame


def test_the_person_revealed_behind_does_not_inherit_the_identity(engine, gallery, store):
    """Alice walks through; the stranger behind her appears where she was, smaller: a new person."""
    enrol_photos(engine, gallery, "Alice", "", [FACES / "resident_a/01.jpg"])
    background = np.full((480, 640, 3), 120, np.uint8)
    alice = place_face(engine, background.copy(), FACES / "resident_a/03.jpg", (320, 220), 130)
    stranger = place_face(engine, background.copy(), FACES / "stranger_e/01.jpg", (320, 220), 90)
    first = engine.process(alice, 0.0)
    second = engine.process(stranger, 0.04)
    assert first.primary.match.name == "Alice"
    assert second.primary.track_id != first.primary.track_id
    assert second.primary.recognised_now and not second.primary.match.known


def test_a_face_missing_for_a_frame_is_recognised_again(engine, gallery, store):
    """A track picked up again after a gap may be someone else: it is not trusted by its old name."""
    enrol_photos(engine, gallery, "Alice", "", [FACES / "resident_a/01.jpg"])
    background = np.full((480, 640, 3), 120, np.uint8)
    alice = place_face(engine, background.copy(), FACES / "resident_a/03.jpg", (320, 220), 120)
    stranger = place_face(engine, background.copy(), FACES / "stranger_e/01.jpg", (320, 220), 120)
    first = engine.process(alice, 0.0)
    engine.process(background, 0.04)
    again = engine.process(stranger, 0.08)
    assert first.primary.match.name == "Alice"
    assert again.primary.recognised_now and not again.primary.match.known


def test_a_borderline_frame_is_not_enough_but_two_agreeing_frames_are(engine, gallery, store):
    """Evidence across frames: a score just over the threshold names nobody until a second frame agrees."""
    alice, _ = enrol_photos(engine, gallery, "Alice", "", [FACES / "resident_a/01.jpg"])
    background = np.full((480, 640, 3), 120, np.uint8)
    frame = place_face(engine, background.copy(), FACES / "resident_a/03.jpg", (320, 220), 130)
    similarity = engine.process(frame, 0.0).primary.match.similarity
    engine.tracker = type(engine.tracker)()  # a fresh visit
    engine.use(Matcher(store.gallery(), threshold=similarity - 0.02, margin=0.05))
    first = engine.process(frame, 1.0).primary
    assert first.recognised_now and not first.match.known and first.match.reason == "awaiting an agreeing frame"
    second = engine.process(frame, 1.04).primary
    assert second.recognised_now and second.match.resident_id == alice and second.match.frames == 2
    third = engine.process(frame, 1.08).primary
    assert not third.recognised_now and third.match.resident_id == alice  # settled: no more embedding
