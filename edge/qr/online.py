"""A regional online health-code service, asked off the frame loop, never longer than its timeout.

POST {url} with {"code", "site", "gate"} and a bearer token; the answer {"status": "green" |
"yellow" | "red" | ...} decides: green is valid, anything else invalid, with the code
`health_code_<status>` for those three and `health_code_unknown` for any other (a code is never the
service's own text). An answer that is not an object with a string status, or runs past 64 KiB, is
the service failing. Answers are cached. After `breaker_failures` failures in a row the circuit
opens for `breaker_reset_s`: no calls are made and the configured fallback decides (deny, or
allow and flag).
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import Future, ThreadPoolExecutor

from edge.readings import QrResult

log = logging.getLogger(__name__)

STATUSES = ("green", "yellow", "red")  # the codes the service's answer may set; any other is "unknown"
CACHE_LIMIT = 10_000


class OnlineChecker:
    def __init__(self, config, *, site: str, gate: str, clock=time.monotonic) -> None:
        self.config = config
        self.site, self.gate = site, gate
        self.clock = clock
        self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="health-code")  # pragma: no mutate (a name)
        self._cache: dict[str, tuple[float, QrResult]] = {}
        self._lock = threading.Lock()
        self._failures = 0
        self._open_until = 0.0
        self.calls = 0

    @property
    def breaker_open(self) -> bool:
        return self.clock() < self._open_until

    def submit(self, payload: str, source: str) -> Future:
        """A future QrResult; the work runs on a worker thread, bounded by the timeout."""
        return self._pool.submit(self.check, payload, source)

    def check(self, payload: str, source: str) -> QrResult:
        now = self.clock()
        with self._lock:
            cached = self._cache.get(payload)
            if cached and now - cached[0] < self.config.cache_s:
                return cached[1]
            if now < self._open_until:
                return self.fallback(payload, source, "circuit_open")
        try:
            status = self._call(payload)
        except (OSError, ValueError, urllib.error.URLError) as error:
            with self._lock:
                self._failures += 1
                if self._failures >= self.config.breaker_failures:
                    self._open_until = self.clock() + self.config.breaker_reset_s
                    log.error("health-code service failing (%s); circuit open for %.0f s", error,
                              self.config.breaker_reset_s)
            return self.fallback(payload, source, "service_unavailable")
        with self._lock:
            self._failures = 0
        known = status if status in STATUSES else "unknown"
        result = QrResult(payload[:64], source, "valid" if known == "green" else "invalid",
                          f"health_code_{known}", "online")
        with self._lock:
            self._cache[payload] = (self.clock(), result)
            if len(self._cache) > CACHE_LIMIT:
                self._cache.clear()
        return result

    def _call(self, payload: str) -> str:
        self.calls += 1
        body = json.dumps({"code": payload, "site": self.site, "gate": self.gate}).encode()
        headers = {"Content-Type": "application/json"}  # pragma: no mutate (urllib capitalises names: any case is one)
        request = urllib.request.Request(self.config.url, data=body, headers=headers)  # a POST: it has a body
        token = os.environ.get(self.config.token_env, "")  # pragma: no mutate (unset and empty: no token either way)
        if token:
            request.add_header("Authorization", f"Bearer {token}")  # pragma: no mutate (the same: any case)
        seconds = self.config.timeout_ms / 1000.0  # pragma: no mutate (a thousandth of a difference)
        with urllib.request.urlopen(request, timeout=seconds) as response:
            answer = json.loads(response.read(65536))
        status = answer.get("status") if isinstance(answer, dict) else None
        if not isinstance(status, str):
            raise ValueError("answer has no status")  # pragma: no mutate (journal wording)
        return status

    def fallback(self, payload: str, source: str, why: str) -> QrResult:
        if self.config.fallback == "allow_flag":
            return QrResult(payload[:64], source, "valid", f"{why}_allowed_flagged", "online")
        return QrResult(payload[:64], source, "untrusted", why, "online")

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
