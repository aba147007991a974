"""Photos are sized from their header before they are decoded: a small file claiming a huge image is refused."""

import struct
import subprocess
import sys
import time
import zlib

import cv2
import numpy as np
import pytest

from edge.errors import EnrolmentError
from edge.images import decode_image, read_image
from tests.conftest import ROOT, SCENARIOS


def png_claiming(width: int, height: int) -> bytes:
    """A real little PNG whose header (with a right checksum) claims another size."""
    ok, encoded = cv2.imencode(".png", np.zeros((40, 40), np.uint8))
    data = bytearray(encoded.tobytes())
    ihdr = data[12:29]  # type + 13 bytes of header
    ihdr[4:12] = struct.pack(">II", width, height)
    data[12:29] = ihdr
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(ihdr)) & 0xFFFFFFFF)
    return bytes(data)


@pytest.mark.parametrize("width, height, why", [(65500, 65500, "more than a photo has"),
                                                (200000, 40, "more than a photo has"),
                                                (40000, 10, "more than a photo has"), (31, 5000, "too small")])
def test_a_header_claiming_a_huge_or_thin_image_is_refused_before_decoding(width, height, why):
    started = time.perf_counter()
    with pytest.raises(EnrolmentError, match=f"^upload: ({width}x{height} .*{why}|more pixels than a photo has)"):
        decode_image(png_claiming(width, height), "upload")
    assert time.perf_counter() - started < 0.5


@pytest.mark.parametrize("data", [b"", b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff\xe0 not a jpeg", b"GIF89a" + b"\x00" * 10])
def test_garbage_is_refused_in_one_line(data):
    with pytest.raises(EnrolmentError, match="^upload: not a readable image"):
        decode_image(data, "upload")


def test_a_real_photo_still_decodes():
    image = read_image(SCENARIOS / "faces" / "resident_a" / "01.jpg")
    assert image.ndim == 3 and image.dtype == np.uint8


def test_residents_import_refuses_a_bomb_alone_and_enrols_the_rest(tmp_path):
    roster = tmp_path / "roster"
    (roster / "Alice").mkdir(parents=True)
    (roster / "Mallory").mkdir()
    (roster / "Alice" / "01.jpg").write_bytes((SCENARIOS / "faces" / "resident_a" / "01.jpg").read_bytes())
    (roster / "Mallory" / "bomb.png").write_bytes(png_claiming(65500, 65500))
    result = subprocess.run([sys.executable, "-m", "edge.cli", "residents", "--state-dir", str(tmp_path / "state"),
                             "import", str(roster)], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 3, result.stderr
    assert "enrolled 1 of 2 people" in result.stdout
    assert "refused Mallory" in result.stderr and "Traceback" not in result.stderr
