"""Which access groups are in force at a gate: the site's records over the gate's file, the gates a record covers, and
a stored record that no longer validates (a real state database)."""

from __future__ import annotations

import logging

import pytest

from edge.access_groups import SiteGroups, group_rules
from edge.config import parse_config
from edge.config.checks import AccessGroupConfig
from edge.store import Store

FILE_GROUPS = {"cleaners": {"weekly": {"mon": ["06:00-09:00"]}}, "couriers": {"weekly": {"tue": ["10:00-12:00"]}}}
EVENINGS = {"weekly": {"fri": ["18:00-22:00"]}, "holidays": {"2027-01-01": "closed"}, "verification": "card"}


@pytest.fixture
def store(tmp_path):
    with Store(tmp_path) as opened:
        yield opened


def groups(store: Store, gate: str = "gate-1") -> SiteGroups:
    config = parse_config({"state_dir": "/tmp", "site": {"gate_id": gate},
                           "checks": {"schedule": {"groups": FILE_GROUPS}}})
    return SiteGroups(store, lambda: config)


def test_a_record_s_rules_are_validated_as_the_file_s_and_its_other_fields_ignored():
    assert group_rules({**EVENINGS, "gates": ["gate-2"], "version": 3}) == AccessGroupConfig(**EVENINGS)
    assert group_rules({}) == AccessGroupConfig()
    with pytest.raises(ValueError, match=r"^weekly: fri: '22:00-18:00' ends before it starts$"):
        group_rules({"weekly": {"fri": ["22:00-18:00"]}})
    with pytest.raises(ValueError, match=r"^verification: Input should be .+ \(got 'iris'\)$"):
        group_rules({"verification": "iris"})


def test_a_site_record_covers_every_gate_unless_it_names_some(store):
    store.apply_group_record("evenings", 1, EVENINGS)
    store.apply_group_record("night", 1, {**EVENINGS, "gates": ["gate-2", "gate-3"]})
    store.apply_group_record("weekend", 1, {**EVENINGS, "gates": ["*"]})
    at_one, at_two = groups(store, "gate-1"), groups(store, "gate-2")
    assert at_one.get("evenings") == at_two.get("evenings") == AccessGroupConfig(**EVENINGS)
    assert at_one.get("weekend") == AccessGroupConfig(**EVENINGS)
    assert at_one.get("night") is None and at_two.get("night") == AccessGroupConfig(**EVENINGS)
    assert list(at_one.in_force()) == ["cleaners", "couriers", "evenings", "weekend"]
    assert list(at_two.in_force()) == ["cleaners", "couriers", "evenings", "night", "weekend"]


def test_the_site_s_record_of_a_group_overrides_the_file_and_may_bar_it_here(store):
    at_gate = groups(store)
    assert at_gate.get("cleaners") == AccessGroupConfig(**FILE_GROUPS["cleaners"])
    assert at_gate.get("nobody") is None
    store.apply_group_record("cleaners", 1, EVENINGS)
    store.apply_group_record("couriers", 1, {**EVENINGS, "gates": ["gate-9"]})
    assert at_gate.get("cleaners") == AccessGroupConfig(**FILE_GROUPS["cleaners"])  # until reloaded
    at_gate.reload()
    assert at_gate.get("cleaners") == AccessGroupConfig(**EVENINGS)
    assert at_gate.get("couriers") is None  # the site's record covers other gates: not admitted here
    assert at_gate.in_force() == {"cleaners": AccessGroupConfig(**EVENINGS)}
    store.apply_group_record("couriers", 2, None)  # removed site-wide: the file's rules again
    at_gate.reload()
    assert at_gate.get("couriers") == AccessGroupConfig(**FILE_GROUPS["couriers"])
    assert list(at_gate.in_force()) == ["cleaners", "couriers"]


def test_a_stored_record_that_no_longer_validates_is_said_once_and_left_out(store, caplog):
    store.apply_group_record("cleaners", 1, {"weekly": {"mon": ["09:00-06:00"]}})
    store.apply_group_record("evenings", 1, EVENINGS)
    with caplog.at_level(logging.ERROR, logger="edge.access_groups"):
        at_gate = groups(store)
    assert [r.getMessage() for r in caplog.records] == [
        "access group cleaners from the site ignored: weekly: mon: '09:00-06:00' ends before it starts"]
    assert at_gate.get("cleaners") == AccessGroupConfig(**FILE_GROUPS["cleaners"])
    assert at_gate.get("evenings") == AccessGroupConfig(**EVENINGS)
