"""Access groups' hours: interval edges to the minute, holidays, a DST change both ways, refusals that name the
field, and the schedule check of the policy for residents known by face or card."""

from __future__ import annotations

import subprocess
import sys

import pytest
import yaml

from edge.config import ChecksConfig, parse_config
from edge.decision import Policy, Visit
from edge.errors import ConfigError
from edge.face.matcher import Match
from edge.readings import QrResult
from edge.schedule import check_day, judge, minutes, wall_of
from tests.conftest import ROOT

COURIERS = {"mon": ["07:00-22:00"], "tue": ["07:00-12:00", "13:00-22:00"], "sun": ["00:00-24:00"]}


@pytest.mark.parametrize("local, allowed, why", [
    ("2026-12-07 06:59", False, "outside_hours"),  # a Monday, the minute before
    ("2026-12-07 07:00", True, "within_hours"),  # the edge minute itself is in
    ("2026-12-07 21:59", True, "within_hours"),
    ("2026-12-07 22:00", False, "outside_hours"),  # the end is out
    ("2026-12-08 12:30", False, "outside_hours"),  # Tuesday's lunch gap
    ("2026-12-08 13:00", True, "within_hours"),
    ("2026-12-09 10:00", False, "outside_hours"),  # Wednesday: not named, closed
    ("2026-12-13 23:59", True, "within_hours"),  # Sunday, 24:00
    ("2026-12-14 10:00", False, "holiday_closed"),  # a Monday, but a holiday that remains closed
    ("2026-12-16 03:00", True, "holiday_open"),  # a Wednesday holiday that remains open
])
def test_hours_at_their_edges_and_holidays(local, allowed, why):
    holidays = {"2026-12-14": "closed", "2026-12-16": "open", "2026-12-07": "as_usual"}
    verdict = judge(COURIERS, holidays, "Asia/Shanghai", wall_of(local, "Asia/Shanghai"))
    assert (verdict.allowed, verdict.why) == (allowed, why)


@pytest.mark.parametrize("tz, local, allowed", [
    ("Europe/Berlin", "2026-03-29 07:00", True),  # the morning clocks went forward: 07:00 is still 07:00
    ("Europe/Berlin", "2026-03-29 06:59", False),
    ("Europe/Berlin", "2026-10-25 07:00", True),  # and back
    ("Europe/Berlin", "2026-10-25 06:59", False),
    ("America/New_York", "2026-03-08 07:00", True),
    ("America/New_York", "2026-11-01 21:59", True),
    ("America/New_York", "2026-11-01 22:00", False),
])
def test_hours_hold_in_local_time_across_a_dst_change(tz, local, allowed):
    every_day = {day: ["07:00-22:00"] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
    assert judge(every_day, {}, tz, wall_of(local, tz)).allowed is allowed


def test_the_hour_that_does_not_exist_that_night_is_never_the_time():
    night = {day: ["02:00-03:00"] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
    before = wall_of("2026-03-29 01:59", "Europe/Berlin")
    assert not judge(night, {}, "Europe/Berlin", before).allowed
    assert not judge(night, {}, "Europe/Berlin", before + 60).allowed  # 01:59 + 1 min is 03:00 that night


@pytest.mark.parametrize("weekly, message", [
    ({"mon": ["08:00-12:00", "11:30-13:00"]}, "weekly: mon: '11:30-13:00' overlaps '08:00-12:00'"),
    ({"tue": ["18:00-07:00"]}, "weekly: tue: '18:00-07:00' ends before it starts"),
    ({"wed": ["7:00-22:00"]}, "weekly: wed: '7:00-22:00' is not HH:MM-HH:MM"),
])
def test_a_schedule_that_overlaps_or_ends_before_it_starts_is_refused_naming_the_field(weekly, message):
    with pytest.raises(ConfigError, match="checks.schedule.groups.couriers." + message.replace("(", r"\(")):
        parse_config({"checks": {"schedule": {"groups": {"couriers": {"weekly": weekly}}}}})


def test_minutes_of_an_interval():
    assert minutes("07:00-22:00") == (420, 1320) and minutes("00:00-24:00") == (0, 1440)
    assert minutes("07:30-21:45") == (450, 1305)
    for wrong, why in (("00:00-24:01", "ends after 24:00"), ("10:00-10:00", "ends before it starts")):
        with pytest.raises(ValueError, match=why):
            minutes(wrong)


def test_intervals_that_touch_do_not_overlap_and_holidays_and_zones_are_checked():
    assert check_day(["12:00-13:00", "08:00-12:00"]) == [(480, 720), (720, 780)]
    config = parse_config({"checks": {"schedule": {"groups": {"g": {"holidays": {"2026-10-01": "open"}}}}}})
    assert config.checks.schedule.groups["g"].holidays == {"2026-10-01": "open"}
    with pytest.raises(ConfigError, match="'2026-13-01' is not a date"):
        parse_config({"checks": {"schedule": {"groups": {"g": {"holidays": {"2026-13-01": "open"}}}}}})
    with pytest.raises(ConfigError, match="'Mars/Base' is not a time zone"):
        parse_config({"checks": {"schedule": {"timezone": "Mars/Base"}}})


def _policy(at_local: str) -> Policy:
    checks = ChecksConfig.model_validate({
        "temperature": {"mode": "off"}, "qr": {"mode": "off"},
        "schedule": {"mode": "required", "groups": {"couriers": {"weekly": {"mon": ["07:00-22:00"]}}}}})
    return Policy(checks, window_s=3.0, wall=lambda: wall_of(at_local, "Asia/Shanghai"))


def _resident(group: str | None) -> Visit:
    return Visit(1, 100.0, 0.0, match=Match(7, "Li", 0.8, 0.1, "match", 0.5, group=group))


def test_the_schedule_check_holds_a_group_to_its_hours_and_leaves_others_alone():
    inside, outside = _policy("2026-12-07 08:00"), _policy("2026-12-07 23:00")
    assert inside.evaluate(_resident("couriers"), 100.1).granted
    late = outside.evaluate(_resident("couriers"), 100.1)
    assert not late.granted and late.reason_codes == ["outside_hours"]
    assert late.checks["schedule"]["params"] == {"group": "couriers", "why": "outside_hours"}
    assert outside.evaluate(_resident(None), 100.1).granted  # in no group: always
    elsewhere = inside.evaluate(_resident("cleaners"), 103.1)
    assert not elsewhere.granted and elsewhere.reason_codes == ["group_not_admitted"]


def test_a_card_holder_is_held_to_the_card_holder_s_group():
    visit = Visit(None, 100.0, 0.0)
    visit.codes.append(QrResult("…2001", "card", "valid", "resident's card", "card", resident_id=7, holder="Li",
                                group="couriers"))
    late = _policy("2026-12-07 23:00").evaluate(visit, 103.1)
    assert not late.granted and "outside_hours" in late.reason_codes


def test_a_resident_is_put_in_a_group_from_the_cli_and_warned_of_one_this_gate_does_not_admit(tmp_path):
    import numpy as np

    from edge.store import Store

    config = tmp_path / "gate.yaml"
    config.write_text(yaml.safe_dump({"state_dir": str(tmp_path / "state"), "mqtt": {"enabled": False},
                                      "checks": {"schedule": {"mode": "required", "groups": {"couriers": {}}}}}))
    with Store(tmp_path / "state") as store:
        vector = np.ones(128, np.float32) / np.sqrt(128)
        resident = store.add_resident("Li", "", [vector], [1.0], ["test"])
        version = store.gallery_version

    def cli(*args):
        return subprocess.run([sys.executable, "-m", "edge.cli", "-c", str(config), "residents", "group", *args],
                              cwd=ROOT, capture_output=True, text=True, timeout=60)

    assert cli(str(resident), "couriers").returncode == 0
    warned = cli(str(resident), "cleaners")
    assert warned.returncode == 0 and "not in this gate's checks.schedule.groups" in warned.stderr
    assert cli(str(resident)).returncode == 0
    assert cli("999", "couriers").returncode != 0
    with Store(tmp_path / "state") as store:
        assert store.residents()[0].access_group is None and store.gallery_version > version
