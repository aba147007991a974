"""Access groups' hours: a week of intervals in the site's local time, and holidays that remain open, remain closed or
run as usual. Local wall time is what a schedule means: 07:00 is 07:00 on both sides of a DST change, and a time
that does not exist that night (02:30 when clocks jump to 03:00) is simply never the time."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
INTERVAL = re.compile(r"^([01][0-9]|2[0-3]):([0-5][0-9])-([01][0-9]|2[0-3]|24):([0-5][0-9])$")


def minutes(text: str) -> tuple[int, int]:
    """"07:00-22:00" as minutes of the day (start inclusive, end exclusive); ValueError saying what is wrong."""
    found = INTERVAL.match(text.strip())
    if found is None:
        raise ValueError(f"{text!r} is not HH:MM-HH:MM")
    start = int(found[1]) * 60 + int(found[2])
    end = int(found[3]) * 60 + int(found[4])
    if end > 24 * 60:
        raise ValueError(f"{text!r} ends after 24:00")
    if end <= start:
        raise ValueError(f"{text!r} ends before it starts")
    return start, end


def check_day(intervals: list[str]) -> list[tuple[int, int]]:
    """A day's intervals in order; ValueError naming the one that overlaps another."""
    spans = sorted((minutes(text), text) for text in intervals)
    for (earlier, first), (later, second) in zip(spans, spans[1:]):
        if later[0] < earlier[1]:
            raise ValueError(f"{second!r} overlaps {first!r}")
    return [span for span, _ in spans]


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{name!r} is not a time zone (e.g. Asia/Shanghai)") from None


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    why: str  # within_hours | outside_hours | holiday_open | holiday_closed


def judge(weekly: Mapping[str, list[str]], holidays: Mapping[str, str], tz: str, at: float) -> Verdict:
    """Whether a group may pass at the Unix time `at`, in the group's local time."""
    local = datetime.fromtimestamp(at, zone(tz))
    holiday = holidays.get(local.date().isoformat())  # open, closed, or as usual (named or not)
    if holiday == "open":
        return Verdict(True, "holiday_open")
    if holiday == "closed":
        return Verdict(False, "holiday_closed")
    minute = local.hour * 60 + local.minute
    for start, end in check_day(weekly.get(DAYS[local.weekday()], [])):
        if start <= minute < end:
            return Verdict(True, "within_hours")
    return Verdict(False, "outside_hours")


def holiday_date(text: str) -> str:
    """A holiday's key: an ISO date; ValueError otherwise."""
    try:
        return date.fromisoformat(text).isoformat()
    except ValueError:
        raise ValueError(f"{text!r} is not a date (YYYY-MM-DD)") from None


def wall_of(local: str, tz: str) -> float:
    """The Unix time of a local wall time, for tests and tools: "2026-03-29 07:00" in `tz`."""
    day, clock = local.split()
    return datetime.combine(date.fromisoformat(day), time.fromisoformat(clock), zone(tz)).timestamp()
