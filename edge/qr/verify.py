"""Verifiers chosen by the payload's form; each returns a QrResult with a machine-readable reason."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from pathlib import Path

from edge.config import GateConfig
from edge.qr.dcc import PREFIX as DCC_PREFIX
from edge.qr.dcc import TrustList, parse_clock, verify_dcc
from edge.qr.passes import PREFIX as PASS_PREFIX
from edge.qr.passes import PassVerifier
from edge.readings import QrResult
from edge.untrusted import UntrustedInput, load_json

log = logging.getLogger(__name__)

MAX_PAYLOAD = 8192
TEST_NOT_DETECTED = "260415000"  # SNOMED CT: "Not detected"

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
                    log.exception("verifier for %r failed", prefix)
                    return QrResult(payload[:64], source, "unreadable", f"verifier_error:{type(error).__name__}")
        foreign = foreign_format(payload)
        if foreign:
            return QrResult(payload[:64], source, "unsupported", f"unsupported_format:{foreign}", "unknown")
        return QrResult(payload[:64], source, "unreadable", "unknown_payload_format", "unknown")

    def replace_trust(self, trust: TrustList) -> None:
        """A new EU signer trust list, effective for the next code."""
        for _, verifier in self._by_prefix:
            if isinstance(verifier, DccVerifier):
                verifier.trust = trust


class DccVerifier:
    """verify_dcc, then the gate's policy for the certificate's kind."""

    def __init__(self, trust: TrustList, config, *, clock=time.time) -> None:
        self.trust = trust
        self.config = config
        self.clock = clock

    def __call__(self, payload: str, source: str) -> QrResult:
        now = self.clock()
        result = verify_dcc(payload, self.trust, now=now, thorough=False)  # pragma: no mutate (None is as False)
        if result.status != "valid":
            return QrResult(payload[:64], source, result.status, result.reason, "dcc")
        reason = self._policy(result.kind, result.certificate or {}, now)
        if reason:
            return QrResult(payload[:64], source, "invalid", reason, "dcc")
        return QrResult(payload[:64], source, "valid", f"dcc_{result.kind}", "dcc")

    def _policy(self, kind: str | None, certificate: dict, now: float) -> str:
        if kind not in self.config.accept:
            return f"policy_kind_{kind}_not_accepted"
        entry = (certificate.get(kind) or [{}])[0]
        if kind == "t":
            if entry.get("tr") != TEST_NOT_DETECTED:
                return "policy_test_not_negative"
            try:
                taken = parse_clock(str(entry.get("sc")))
            except ValueError:
                return "policy_test_time_unreadable"
            if now - taken > self.config.max_test_age_h * 3600:
                return "policy_test_too_old"
        elif kind == "v":
            dose, doses = _whole(entry.get("dn")), _whole(entry.get("sd"))
            if dose is None or doses is None or dose < doses:
                return "policy_vaccination_incomplete"
        elif kind == "r":
            try:
                if not parse_clock(str(entry.get("df"))) <= now <= parse_clock(str(entry.get("du"))) + 86400:
                    return "policy_recovery_outside_validity"
            except ValueError:
                return "policy_recovery_dates_unreadable"
        return ""


def foreign_format(payload: str) -> str | None:
    """A health credential this gate recognises but does not accept, named so the guard can say so."""
    if payload[:5].lower() == "shc:/":
        return "smart_health_card"
    if payload.startswith("PK\x03\x04"):  # DIVOC: a zipped W3C credential
        return "divoc"
    if payload.lstrip().startswith("{"):
        try:
            data = load_json(payload, max_bytes=MAX_PAYLOAD)
        except UntrustedInput:
            return None
        if isinstance(data, dict):
            section = data.get("data")
            header = section.get("hdr") if isinstance(section, dict) else None
            if isinstance(header, dict) and str(header.get("t")).startswith("icao") and "sig" in data:
                return "icao_vds_nc"
            if "credentialSubject" in data and "@context" in data:
                return "divoc" if "divoc" in json.dumps(data.get("@context")).lower() else "w3c_credential"
    return None


def _whole(value: object) -> int | None:
    """A dose count: an integer, or a float with nothing after the point (Ireland writes 3.0), as the schema allows."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def load_trust_list(config: GateConfig, state_dir: Path) -> TrustList:
    path = Path(config.qr.dcc.trust_list) if config.qr.dcc.trust_list else state_dir / "trustlist.json"
    if not path.exists():
        return TrustList()
    try:
        return TrustList.from_file(path)
    except (OSError, ValueError) as error:
        log.error("trust list %s unusable: %s; EU certificates will read as untrusted", path, error)
        return TrustList()


def build_registry(config: GateConfig, store, state_dir: Path, *, online=None,
                   clock: Callable[[], float] = time.time) -> VerifierRegistry:
    """`clock` gives the date validity windows are judged by (edge/clock.py: never earlier than the gate has seen)."""
    registry = VerifierRegistry()
    registry.register(PASS_PREFIX, PassVerifier(config.qr.passes.public_keys, site=config.site.site_id,
                                                gate=config.site.gate_id, store=store, clock=clock))
    registry.register(DCC_PREFIX, DccVerifier(load_trust_list(config, state_dir), config.qr.dcc, clock=clock))
    if online is not None:
        registry.register(config.qr.online.prefix, online.check)
    return registry
