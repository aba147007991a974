import cv2
import numpy as np
import segno

from edge.qr.decode import FrameDecoder, candidate_regions


def frame_with_code(payload: str, *, side: int = 175, at=(400, 240), kind: str = "qr") -> np.ndarray:
    symbol = segno.make(payload, error="m", micro=False)
    matrix = np.pad(np.array(symbol.matrix, np.uint8), 4)
    card = cv2.resize(np.where(matrix > 0, 0, 255).astype(np.uint8), (side, side), interpolation=cv2.INTER_NEAREST)
    frame = np.full((480, 640), 110, np.uint8)
    x, y = at
    frame[y:y + side, x:x + side] = card
    return cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)


def test_code_held_up_is_found_where_it_is_and_read():
    frame = frame_with_code("GP1:hello.world")
    boxes = candidate_regions(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY))
    assert len(boxes) == 1
    x, y, w, h = boxes[0]
    assert x <= 400 <= x + w and y <= 240 <= y + h
    assert FrameDecoder(full_every=0).scan(frame) == ["GP1:hello.world"]


def test_no_candidates_in_an_empty_frame_and_faces_are_skipped():
    empty = np.full((480, 640, 3), 110, np.uint8)
    assert candidate_regions(empty[:, :, 0]) == []
    frame = frame_with_code("GP1:on-a-face")
    assert FrameDecoder(full_every=0).scan(frame, faces=[[380.0, 220.0, 600.0, 440.0]]) == []


def test_repeats_of_the_same_code_are_dropped_within_the_window():
    decoder = FrameDecoder(repeat_window_s=5.0)
    assert decoder.fresh(["A", "B"], 0.0) == ["A", "B"]
    assert decoder.fresh(["A"], 1.0) == []
    assert decoder.fresh(["A"], 5.5) == []  # still in view: each sighting renews the window
    assert decoder.fresh(["A"], 11.0) == ["A"]


def test_aztec_codes_are_read_too():
    import zxingcpp

    image = zxingcpp.create_barcode("HC1:AZTEC", zxingcpp.BarcodeFormat.Aztec).to_image(scale=6)
    picture = np.pad(np.asarray(image), 20, constant_values=255)
    assert FrameDecoder().decode(picture) == ["HC1:AZTEC"]
