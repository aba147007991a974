"""The live view's frames for the guard: scaled down, the faces boxed, the code guide drawn, encoded as JPEG."""

from __future__ import annotations

import cv2
import numpy as np

LIVE_WIDTH = 640  # the live view is a glance, not evidence: a 1080p frame is scaled down before encoding


CODE_GUIDE_WIDTH = 0.25  # a dense certificate is read when it spans a quarter of the frame (bench/qr_decode.py)


def draw_code_guide(frame: np.ndarray) -> None:
    """Corner marks where a code held at reading distance appears: the guard can show the resident."""
    height, width = frame.shape[:2]
    side = int(width * CODE_GUIDE_WIDTH)
    x1, y1 = (width - side) // 2, (height - side) // 2 + height // 8
    arm, colour = side // 4, (64, 215, 255)
    for cx, cy, dx, dy in ((x1, y1, 1, 1), (x1 + side, y1, -1, 1), (x1, y1 + side, 1, -1), (x1 + side, y1 + side, -1, -1)):
        cv2.line(frame, (cx, cy), (cx + dx * arm, cy), colour, 4)
        cv2.line(frame, (cx, cy), (cx, cy + dy * arm), colour, 4)


def live_jpeg(image, overlay: dict) -> bytes:
    scale = min(1.0, LIVE_WIDTH / image.shape[1])
    frame = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) if scale < 1 else image.copy()
    if overlay.get("guide"):
        draw_code_guide(frame)
    for face in overlay.get("faces", []):
        x1, y1, x2, y2 = (int(v * scale) for v in face["box"])
        colour = (60, 200, 60) if face["known"] else (40, 40, 230)
        cv2.rectangle(frame, (x1, y1), (x2, y2), colour, 3 if face["primary"] else 1)
    ok, data = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 70])
    return data.tobytes() if ok else b""
