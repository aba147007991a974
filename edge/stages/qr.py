"""The QR stage: codes from the serial scanner and from the camera frame, verified."""

from __future__ import annotations

from drivers.qrscanner import QrScanner
from edge.qr.decode import FrameDecoder
from edge.qr.verify import VerifierRegistry
from edge.stages.base import FrameContext


class QrStage:
    name = "qr"

    def __init__(self, registry: VerifierRegistry, *, scanner: QrScanner | None = None,
                 decoder: FrameDecoder | None = None) -> None:
        self.registry = registry
        self.scanner = scanner
        self.decoder = decoder or FrameDecoder()

    def process(self, context: FrameContext) -> None:
        found = [(code, "camera") for code in self.decoder.fresh(self.decoder.decode(context.frame.image), context.now)]
        if self.scanner is not None:
            found += [(code, "scanner") for code in self.scanner.poll()]
        context.codes = [self.registry.verify(code, source) for code, source in found]
