"""The QR stage: codes from the serial scanner and from the camera frame, verified.

Offline verifiers answer at once. Codes for the online health-code service are asked on a
worker thread; the stage collects answers on later frames, and one that is not back within the
service's timeout gets the configured fallback (a late answer is treated as no answer).
"""

from __future__ import annotations

import time
from concurrent.futures import Future
from dataclasses import dataclass

from drivers.qrscanner import QrScanner
from edge.errors import DeviceError
from edge.qr.decode import FrameDecoder
from edge.qr.online import OnlineChecker
from edge.qr.verify import VerifierRegistry
from edge.stages.base import FrameContext, QrResult


@dataclass
class PendingCheck:
    future: Future
    deadline: float
    payload: str
    source: str


class QrStage:
    name = "qr"

    def __init__(self, registry: VerifierRegistry, *, scanner: QrScanner | None = None,
                 decoder: FrameDecoder | None = None, online: OnlineChecker | None = None,
                 online_prefix: str = "", clock=time.monotonic) -> None:
        self.registry = registry
        self.scanner = scanner
        self.decoder = decoder or FrameDecoder()
        self.online = online
        self.online_prefix = online_prefix
        self.clock = clock
        self._pending: list[PendingCheck] = []
        self.fault: str | None = None

    def process(self, context: FrameContext) -> None:
        faces = [face.box for face in context.face.faces] if context.face else []
        codes = self.decoder.scan(context.frame.image, faces=faces)
        found = [(code, "camera") for code in self.decoder.fresh(codes, context.now)]
        if self.scanner is not None:
            try:
                found += [(code, "scanner") for code in self.scanner.poll()]
                self.fault = None
            except DeviceError as error:
                self.fault = str(error)
        results: list[QrResult] = []
        for code, source in found:
            if self.online is not None and self.online_prefix and code.startswith(self.online_prefix):
                deadline = self.clock() + self.online.config.timeout_ms / 1000.0
                self._pending.append(PendingCheck(self.online.submit(code, source), deadline, code, source))
            else:
                results.append(self.registry.verify(code, source))
        results += self._collect()
        context.codes = results

    def _collect(self) -> list[QrResult]:
        now = self.clock()
        ready, waiting = [], []
        for check in self._pending:
            if check.future.done():
                ready.append(check.future.result())
            elif now >= check.deadline:
                check.future.cancel()
                ready.append(self.online._fallback(check.payload, check.source, "timeout"))
            else:
                waiting.append(check)
        self._pending = waiting
        return ready
