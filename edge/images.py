"""Photos from outside (enrolment files, uploads): sized from their header before a single pixel is decoded.

An 854 KB PNG once cost 3.67 GB of memory and 23 s to decode at enrolment: a file's size says
nothing about its pixel count. The header (read by Pillow without decoding) must name a size
between MIN_SIDE and MAX_SIDE on each side and at most MAX_PIXELS in all; only then does OpenCV
decode it. Every refusal is an EnrolmentError naming the file and why, never a traceback.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import cv2
import numpy as np

from edge.errors import EnrolmentError

MAX_BYTES = 50 * 1024 * 1024
MAX_PIXELS = 40_000_000  # 40 megapixels: any camera's photo, and 150 MB of BGR at most
MAX_SIDE = 20_000
MIN_SIDE = 32


def header_size(data: bytes, source: str) -> tuple[int, int]:
    """(width, height) as the file's header states them; EnrolmentError if it names none Pillow knows."""
    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Pillow's own bomb warning: the check below is ours
            with Image.open(io.BytesIO(data)) as image:
                return int(image.size[0]), int(image.size[1])
    except Image.DecompressionBombError:
        raise EnrolmentError(f"{source}: more pixels than a photo has (at most {MAX_PIXELS // 1_000_000} "
                             "megapixels)") from None
    except Exception:  # any header Pillow cannot read is not a photo we decode
        raise EnrolmentError(f"{source}: not a readable image (corrupt or unknown format)") from None


def decode_image(data: bytes, source: str) -> np.ndarray:
    """A BGR 8-bit image from encoded bytes: grey, 16-bit and alpha are converted; bombs refused unread."""
    if len(data) > MAX_BYTES:
        raise EnrolmentError(f"{source}: larger than {MAX_BYTES // 2**20} MB; not a photo")
    width, height = header_size(data, source)
    if width * height > MAX_PIXELS or max(width, height) > MAX_SIDE:
        raise EnrolmentError(f"{source}: {width}x{height} pixels is more than a photo has "
                             f"(at most {MAX_PIXELS // 1_000_000} megapixels, {MAX_SIDE} a side)")
    if min(width, height) < MIN_SIDE:
        raise EnrolmentError(f"{source}: {width}x{height} is too small for a face")
    try:
        image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    except cv2.error:
        image = None
    if image is None:
        raise EnrolmentError(f"{source}: not a readable image (corrupt or unknown format)")
    if image.dtype == np.uint16:
        image = (image / 257).astype(np.uint8)
    elif image.dtype != np.uint8:
        raise EnrolmentError(f"{source}: unsupported pixel type {image.dtype}")
    if image.ndim == 2:
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    elif image.shape[2] == 4:
        image = cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    if min(image.shape[:2]) < MIN_SIDE:
        raise EnrolmentError(f"{source}: {image.shape[1]}x{image.shape[0]} is too small for a face")
    return image


def read_image(path: str | Path) -> np.ndarray:
    """A photo file, checked as `decode_image` checks bytes."""
    path = Path(path)
    if not path.is_file():
        raise EnrolmentError(f"{path}: no such file")
    if path.stat().st_size > MAX_BYTES:
        raise EnrolmentError(f"{path}: larger than {MAX_BYTES // 2**20} MB; not a photo")
    return decode_image(path.read_bytes(), str(path))
