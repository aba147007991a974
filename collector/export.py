"""The fleet view's event search as CSV, with the columns it shows and the codes behind its words.

UTF-8 with a byte-order mark, so that Excel on a property office's PC opens Chinese names as they are. A cell that
a spreadsheet would read as a formula (=, +, -, @ first) is quoted with a leading apostrophe: a name or a detail
came from outside, and an export must never run it.
"""

from __future__ import annotations

import csv
import datetime
import io
from collections.abc import Callable, Iterable
from typing import Any

COLUMNS = ("time", "site", "gate", "kind", "outcome", "name", "unit", "resident_id", "temperature_c", "reasons",
           "reason_codes", "alarm", "detail", "event_id")
Words = Callable[[str, str], str]  # (group, code) -> words in the export's language


def events_csv(events: Iterable[dict[str, Any]], words: Words) -> str:
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out)
    writer.writerow([words("column", name) for name in COLUMNS])
    for event in events:
        writer.writerow([_safe(value) for value in _row(event, words)])
    return out.getvalue()


def _row(event: dict[str, Any], words: Words) -> list[Any]:
    kind = str(event.get("kind", ""))
    codes = [str(code) for code in event.get("reason_codes") or [] if isinstance(code, str)]
    outcome = ""
    if kind == "decision":
        outcome = words("ui", "granted") if event.get("granted") else words("ui", "denied")
    when = event.get("time")
    stamp = datetime.datetime.fromtimestamp(float(when)).astimezone().isoformat(timespec="seconds") \
        if isinstance(when, (int, float)) else ""
    alarm = event.get("alarm") if kind == "alarm" else None
    temperature = event.get("temperature_c")
    return [stamp, event.get("site", ""), event.get("gate", ""), words("kind", kind), outcome,
            event.get("resident_name") or "", event.get("resident_unit") or "", event.get("resident_id") or "",
            round(float(temperature), 2) if isinstance(temperature, (int, float)) else "",
            "; ".join(words("outcome", code) for code in codes), " ".join(codes),
            words("alarm", str(alarm)) if alarm else "", event.get("detail") or "", event.get("event_id", "")]


def _safe(value: Any) -> Any:
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value
