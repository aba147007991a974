"""Colour cameras: OpenCV VideoCapture (V4L2 index, RTSP/HTTP URL, file) and the simulated twin.

The OpenCV camera reads in its own thread and keeps only the newest frame, so a slow stage never
builds a backlog; when the stream drops it reopens with exponential back-off.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

import numpy as np

from drivers.base import Device
from edge.errors import DeviceError

log = logging.getLogger(__name__)


@dataclass
class Frame:
    image: np.ndarray  # BGR uint8, H x W x 3
    time: float  # capture time on the gate's clock
    index: int


class Camera(Device):
    name = "camera"

    @property
    def healthy(self) -> bool:
        return True

    @property
    def finished(self) -> bool:
        """A recording or a scenario with no frames left; a live camera never finishes."""
        return False

    def read(self, timeout: float = 1.0) -> Frame | None:
        """The next frame, or None if none came within `timeout` (the stream may be down)."""
        self._check_open()
        return self._read(timeout)

    def _read(self, timeout: float) -> Frame | None:
        raise NotImplementedError


def parse_source(source: str) -> int | str:
    """'0' -> V4L2 index 0; anything else is a URL or a file path."""
    return int(source) if source.isdigit() else source


class OpenCVCamera(Camera):
    name = "camera (OpenCV)"

    def __init__(self, *, source: str, width: int, height: int, fps: float, reconnect_initial_s: float = 0.5,
                 reconnect_max_s: float = 10.0, clock=time.monotonic, capture_factory=None) -> None:
        super().__init__()
        import cv2

        self.source = source
        self._size = (width, height)
        self._fps = fps
        self._clock = clock
        self._backoff = (reconnect_initial_s, reconnect_max_s)
        self._factory = capture_factory or (lambda src: cv2.VideoCapture(parse_source(src)))
        self._cv2 = cv2
        self._cond = threading.Condition()
        self._latest: Frame | None = None
        self._index = 0
        self._connected = False
        self.last_error = ""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="camera-reader", daemon=True)
        self._thread.start()

    @property
    def healthy(self) -> bool:
        return self._connected

    def _open(self):
        capture = self._factory(self.source)
        if not capture.isOpened():
            capture.release()
            raise DeviceError(f"{self.name}: cannot open {self.source!r}")
        capture.set(self._cv2.CAP_PROP_FRAME_WIDTH, self._size[0])
        capture.set(self._cv2.CAP_PROP_FRAME_HEIGHT, self._size[1])
        capture.set(self._cv2.CAP_PROP_FPS, self._fps)
        return capture

    def _run(self) -> None:
        delay = self._backoff[0]
        while not self._stop.is_set():
            try:
                capture = self._open()
            except DeviceError as error:
                self.last_error = str(error)
                log.warning("%s; retrying in %.1f s", error, delay)
                self._stop.wait(delay)
                delay = min(delay * 2, self._backoff[1])
                continue
            self._connected = True
            log.info("%s: streaming from %r", self.name, self.source)
            while not self._stop.is_set():
                ok, image = capture.read()
                if not ok or image is None:
                    break
                if image.shape[1::-1] != self._size:
                    image = self._cv2.resize(image, self._size)
                with self._cond:
                    self._index += 1
                    self._latest = Frame(image, self._clock(), self._index)
                    self._cond.notify_all()
                delay = self._backoff[0]
            capture.release()
            self._connected = False
            if not self._stop.is_set():
                self.last_error = f"{self.name}: stream {self.source!r} dropped"
                log.warning("%s; reopening in %.1f s", self.last_error, delay)
                self._stop.wait(delay)
                delay = min(delay * 2, self._backoff[1])

    def _read(self, timeout: float) -> Frame | None:
        with self._cond:
            if not self._cond.wait_for(lambda: self._latest is not None, timeout):
                return None
            frame, self._latest = self._latest, None
            return frame

    def _close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def describe(self) -> str:
        state = "streaming" if self._connected else (self.last_error or "connecting")
        return f"{self.name} {self.source!r}: {state}"
