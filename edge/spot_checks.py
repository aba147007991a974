"""Spot checks: the guard is asked, now and then, to recheck someone the gate let in.

Guards recheck the people the gate flagged, whose eye corners more often read high; learned from
those alone the site's offset (edge/thermal_calibration.py) leans low, the direction in which a
fever gets through. One visit passed on temperature in `spot_check_every`, drawn at random so
nobody can tell whom, is marked on its decision (`temperature.spot_check`): the touchscreen asks
the guard to measure that person with a clinical thermometer, and the pair teaches the offset as
any recheck does. The gate does not wait for it.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import TYPE_CHECKING

from edge.events import Decision

if TYPE_CHECKING:
    from edge.decision import Visit


class SpotChecks:
    def __init__(self, every: Callable[[], int], *, draw: Callable[[], float] | None = None) -> None:
        """`every`: one passed visit in this many is marked (0: none), read at each decision (a changed
        configuration applies at once); `draw`: uniform in [0, 1), the system's randomness unless given."""
        self.every = every
        self.draw = draw or random.SystemRandom().random
        self.marked = 0  # passes marked since the gate started (status: spot_checks_asked)

    def deciding(self, visit: Visit | None, decision: Decision) -> None:
        """Before the decision is recorded: mark it when it is a pass on a temperature and its draw comes up."""
        every = self.every()
        outcome = decision.checks.get("temperature") or {}
        if every <= 0 or not decision.granted or decision.temperature is None:
            return
        if outcome.get("code") != "temperature_normal" or self.draw() * every >= 1.0:
            return
        decision.temperature["spot_check"] = True
        self.marked += 1
