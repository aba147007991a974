"""Verifiers chosen by the payload's form; each returns a QrResult with a machine-readable reason."""

from __future__ import annotations

from collections.abc import Callable

from edge.stages.base import QrResult

MAX_PAYLOAD = 8192

Verifier = Callable[[str, str], QrResult]


class VerifierRegistry:
    """Routes a payload to the first verifier whose prefix it starts with."""

    def __init__(self) -> None:
        self._by_prefix: list[tuple[str, Verifier]] = []

    def register(self, prefix: str, verifier: Verifier) -> None:
        self._by_prefix.append((prefix, verifier))

    def verify(self, payload: str, source: str) -> QrResult:
        if len(payload) > MAX_PAYLOAD:
            return QrResult(payload[:64], source, "unreadable", "payload_too_large", "unknown")
        for prefix, verifier in self._by_prefix:
            if payload.startswith(prefix):
                try:
                    return verifier(payload, source)
                except Exception as error:  # a verifier bug must not stop the gate
                    return QrResult(payload[:64], source, "unreadable", f"verifier_error:{type(error).__name__}")
        return QrResult(payload[:64], source, "unreadable", "unknown_payload_format", "unknown")
