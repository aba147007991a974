"""A short soak: faults on a schedule while visitors keep coming; zero loss, every fault recovered."""

import sys

from tests.conftest import ROOT

sys.path.insert(0, str(ROOT / "bench"))

from soak import FAULTS, run_soak  # noqa: E402


def test_short_soak_loses_nothing_and_recovers_from_every_fault(tmp_path):
    result = run_soak(tmp_path, minutes=1.6, fault_every=16.0, fault_length=6.0)
    assert result["events_recorded"] > 30
    assert result["events_lost"] == 0
    faults = {f["kind"]: f for f in result["faults"]}
    assert set(faults) == set(FAULTS)
    for kind, fault in faults.items():
        assert fault["detected"] is not None and fault["detected"] - fault["started"] <= 5.0, (kind, fault)
        assert fault["recovered"] is not None and fault["recovered"] - fault["ended"] <= 10.0, (kind, fault)
        assert not fault["opened_without_decision"], kind  # checked against the relay board, for every fault
    assert faults["camera"]["decisions"] == 0  # no frames, no decisions, the gate stays locked
    assert sum(f["pulses"] for f in faults.values()) > 0  # the check above had pulses to look at
