"""Find and decode QR codes in camera frames (pyzbar), dropping repeats of the same code."""

from __future__ import annotations

import cv2
import numpy as np


class FrameDecoder:
    def __init__(self, *, repeat_window_s: float = 5.0) -> None:
        from pyzbar import pyzbar

        self._pyzbar = pyzbar
        self._symbols = [pyzbar.ZBarSymbol.QRCODE]
        self._seen: dict[str, float] = {}
        self.repeat_window_s = repeat_window_s

    def decode(self, image: np.ndarray) -> list[str]:
        grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image
        results = self._pyzbar.decode(grey, symbols=self._symbols)
        codes = []
        for result in results:
            try:
                codes.append(result.data.decode("utf-8"))
            except UnicodeDecodeError:
                codes.append(result.data.decode("latin-1"))
        return codes

    def fresh(self, codes: list[str], now: float) -> list[str]:
        """Codes not seen within the repeat window."""
        new = [code for code in codes if now - self._seen.get(code, -1e9) > self.repeat_window_s]
        for code in codes:
            self._seen[code] = now
        if len(self._seen) > 256:
            self._seen = {c: t for c, t in self._seen.items() if now - t <= self.repeat_window_s}
        return new
