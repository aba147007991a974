"""Run the EU DCC test suite (dgc-testdata layout) through our decoder and verifier, field by field."""

from __future__ import annotations

import base64
import csv
import json
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from edge.qr.dcc import TrustList, key_usage_allows, parse_clock, signer_from_der, verify_dcc

FIELDS = ("PICTUREDECODE", "UNPREFIX", "B45DECODE", "COMPRESSION", "VERIFY", "DECODE", "EXPIRATIONCHECK",
          "KEYUSAGE", "SCHEMAVALIDATION")
STAGE_OF = {"UNPREFIX": "unprefix", "B45DECODE": "b45decode", "COMPRESSION": "compression", "VERIFY": "verify",
            "DECODE": "decode", "EXPIRATIONCHECK": "expiration", "KEYUSAGE": "keyusage",
            "SCHEMAVALIDATION": "schema"}
KNOWN_ISSUE_FIELDS = {"test_cose_schema": ("SCHEMAVALIDATION",), "test_cose_json": ("DECODE",),
                      "test_cbor_json": ("DECODE",), "test_verification_check": ("VERIFY",),
                      "test_expiration_check": ("EXPIRATIONCHECK",), "test_expected_key_usage": ("KEYUSAGE",)}


@dataclass
class FieldTally:
    matched: int = 0
    total: int = 0
    known_matched: int = 0
    known_total: int = 0
    untestable: int = 0  # the case expects a result but lacks what it needs (a picture)
    mismatches: list[str] = field(default_factory=list)


def case_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*.json") if p.parent.name.lower() == "raw"
                  and p.parent.parent.name.lower() == "2dcode")


def expected_results(case: dict) -> dict[str, bool]:
    """EXPECTED* fields, tolerating the suite's misspellings and doubled nesting."""
    raw = dict(case.get("EXPECTEDRESULTS") or {})
    nested = raw.pop("EXPECTEDRESULTS", None)
    if isinstance(nested, dict):
        raw.update(nested)
    expected: dict[str, bool] = {}
    for key, value in raw.items():
        if not isinstance(value, bool):
            continue
        if key in ("EXPTECTEDEXPIRED", "EXPECTEDEXPIRED"):
            # misspelt EXPECTEDEXPIRATIONCHECK: in every such case the certificate is within its
            # validity at the validation clock and the value is True
            expected.setdefault("EXPIRATIONCHECK", value)
        elif key.startswith("EXPECTED"):
            expected[key.removeprefix("EXPECTED")] = value
    return expected


def load_known_issues(root: Path) -> list[tuple[str, str, str]]:
    path = root / "known_issues.csv"
    if not path.exists():
        return []
    with open(path) as handle:
        return [(row["test_name"], row["country"], row["test_set"]) for row in csv.DictReader(handle)]


def is_known_issue(known: list[tuple[str, str, str]], country: str, stem: str, name: str) -> bool:
    for test_name, known_country, test_set in known:
        if known_country == country and test_set in ("", stem) and name in KNOWN_ISSUE_FIELDS.get(test_name, ()):
            return True
    return False


def decode_picture(decoder, png_base64: str) -> str | None:
    data = np.frombuffer(base64.b64decode(png_base64), dtype=np.uint8)
    image = cv2.imdecode(data, cv2.IMREAD_GRAYSCALE)
    if image is None:
        return None
    codes = decoder.decode(image)
    return codes[0] if codes else None


def run_suite(root: Path, decoder) -> dict:
    """Every case under root, field by field; with decoder None the QR pictures are not decoded."""
    known = load_known_issues(root)
    tallies = {name: FieldTally() for name in FIELDS}
    unreadable_files = []
    files = case_files(root)
    for path in files:
        country = path.relative_to(root).parts[0]
        label = str(path.relative_to(root))
        try:
            case = json.loads(path.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError) as error:
            unreadable_files.append(f"{label}: {error}")
            continue
        expected = expected_results(case)
        context = case.get("TESTCTX") or {}
        trust = TrustList()
        signer = None
        if context.get("CERTIFICATE"):
            try:
                signer = signer_from_der(base64.b64decode(context["CERTIFICATE"]))
                trust.add(signer)
            except Exception:  # a broken signer certificate is the case's point: no trust
                pass
        clock = context.get("VALIDATIONCLOCK")
        now = parse_clock(clock) if clock else 0.0
        payload = case.get("PREFIX")
        if payload is None and case.get("BASE45"):
            payload = "HC1:" + case["BASE45"]
        actual: dict[str, bool | None] = {}
        picture = case.get("2DCODE") or case.get("_2DCODE")  # LV spells it with an underscore
        if "PICTUREDECODE" in expected:
            if picture and decoder is not None:
                actual["PICTUREDECODE"] = decode_picture(decoder, picture) == case.get("PREFIX")
            else:
                tallies["PICTUREDECODE"].untestable += 1
                expected.pop("PICTUREDECODE")
        if payload is not None:
            result = verify_dcc(payload, trust, now=now if clock else 1e12,
                                schema_version=context.get("SCHEMA"))
            for name, stage in STAGE_OF.items():
                actual[name] = result.stages[stage]
            # KEYUSAGE asks whether the context's certificate may sign this kind, whatever the signature
            if result.stages["decode"] and signer is not None:
                actual["KEYUSAGE"] = key_usage_allows(signer, result.kind)
        for name in FIELDS:
            if name not in expected:
                continue
            got = bool(actual.get(name))
            tally = tallies[name]
            if is_known_issue(known, country, path.stem, name):
                tally.known_total += 1
                tally.known_matched += got == expected[name]
                continue
            tally.total += 1
            if got == expected[name]:
                tally.matched += 1
            else:
                tally.mismatches.append(f"{label}: expected {expected[name]}, got {actual.get(name)}")
    return {"cases": len(files), "unreadable_files": unreadable_files, "fields": tallies}
