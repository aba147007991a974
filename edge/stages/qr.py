"""The QR stage: codes from the serial scanner and from the camera frame, verified off the frame loop.

A code is untrusted input: its verification runs on a worker thread. The loop waits for it a
few milliseconds (a well-formed code is verified by then) and otherwise collects the answer
on a later frame; one not back by its deadline is refused (`verify_timeout`). Codes for the
online health-code service are asked on that service's own worker the same way, and one not
back within its timeout gets the configured fallback. A late answer is treated as no answer.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass

from drivers.qrscanner import QrScanner
from edge.errors import DeviceError
from edge.qr.decode import FrameDecoder
from edge.qr.online import OnlineChecker
from edge.qr.verify import VerifierRegistry
from edge.readings import QrResult
from edge.stages.base import FrameContext

VERIFY_WAIT_S = 0.03  # how long the frame loop waits for a local verification before moving on
VERIFY_DEADLINE_S = 1.0  # a local verification not done by then is refused
MAX_PENDING = 16  # codes in verification at once; more are refused as busy


@dataclass
class PendingCheck:
    future: Future
    deadline: float
    on_timeout: Callable[[], QrResult]
    local: bool  # verified on this gate (waited for briefly), not asked of the online service


class QrStage:
    name = "qr"

    def __init__(self, registry: VerifierRegistry, *, scanner: QrScanner | None = None,
                 decoder: FrameDecoder | None = None, online: OnlineChecker | None = None,
                 clock=time.monotonic) -> None:
        self.registry = registry
        self.scanner = scanner
        self.decoder = decoder or FrameDecoder()
        self.online = online  # asked about the codes that start with its configured prefix
        self.clock = clock
        self._pending: list[PendingCheck] = []
        # pragma below: its name; and one worker bounds the CPU that codes take, which only timing would show
        self._verifier = ThreadPoolExecutor(1, thread_name_prefix="qr-verify")  # pragma: no mutate
        self.fault: str | None = None

    def process(self, context: FrameContext) -> None:
        found: list[tuple[str, str]] = []
        if not context.quiet:  # a code held up moves: a still, empty view is not searched
            faces = [face.box for face in context.face.faces] if context.face else []
            codes = self.decoder.scan(context.frame.image, faces=faces)
            found = [(code, "camera") for code in self.decoder.fresh(codes, context.now)]
        if self.scanner is not None:
            try:
                found += [(code, "scanner") for code in self.scanner.poll()]
                self.fault = None
            except DeviceError as error:
                self.fault = str(error)
        results = [result for code, source in found if (result := self._submit(code, source)) is not None]
        local = [check.future for check in self._pending if check.local]
        if local:
            wait(local, timeout=VERIFY_WAIT_S)
        context.codes = results + self._collect()

    def _submit(self, code: str, source: str) -> QrResult | None:
        """Start checking a code; a result at once only when it is refused without being looked at."""
        if len(self._pending) >= MAX_PENDING:
            return QrResult(code[:64], source, "unreadable", "verifier_busy", "unknown")
        now = self.clock()
        online = self.online
        if online is not None and online.config.prefix and code.startswith(online.config.prefix):
            deadline = now + online.config.timeout_ms / 1000.0
            future = online.submit(code, source)
            self._pending.append(PendingCheck(future, deadline, lambda: online.fallback(code, source, "timeout"),
                                              local=False))  # pragma: no mutate (None is as False)
        else:
            future = self._verifier.submit(self.registry.verify, code, source)
            self._pending.append(PendingCheck(future, now + VERIFY_DEADLINE_S, _refused_late(code, source), local=True))
        return None

    def _collect(self) -> list[QrResult]:
        now = self.clock()
        ready, waiting = [], []
        for check in self._pending:
            if check.future.done():
                ready.append(check.future.result())
            elif now >= check.deadline:
                check.future.cancel()
                ready.append(check.on_timeout())
            else:
                waiting.append(check)
        self._pending = waiting
        return ready

    def close(self) -> None:
        self._verifier.shutdown(wait=False, cancel_futures=True)  # pragma: no mutate (None is as False)


def _refused_late(code: str, source: str) -> Callable[[], QrResult]:
    return lambda: QrResult(code[:64], source, "unreadable", "verify_timeout", "unknown")
