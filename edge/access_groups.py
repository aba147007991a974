"""The access groups in force at this gate: the site's (signed records from the console, edited site-wide) over the
gate's own configuration (`checks.schedule.groups`).

A site record names the gates it covers ("*" for all): at a gate it does not cover, its group is
not admitted, whatever the gate's file says. A group with no site record is as the file says.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from pydantic import ValidationError

from edge.config import describe_errors
from edge.config.checks import AccessGroupConfig
from edge.store import GroupRecords

if TYPE_CHECKING:
    from edge.config import GateConfig

log = logging.getLogger(__name__)

RULE_FIELDS = ("weekly", "holidays", "verification")


def group_rules(body: dict) -> AccessGroupConfig:
    """A record's rules, validated as the configuration's are; ValueError naming the field."""
    try:
        return AccessGroupConfig(**{name: body[name] for name in RULE_FIELDS if name in body})
    except ValidationError as error:
        raise ValueError(describe_errors(error)[0]) from None


class SiteGroups:
    def __init__(self, store: GroupRecords, config: Callable[[], GateConfig]) -> None:
        self.store = store
        self.config = config
        self._site: dict[str, AccessGroupConfig | None]  # None: a site group that does not cover this gate
        self.reload()

    def reload(self) -> None:
        """After a record was applied (the frame loop)."""
        gate = self.config().site.gate_id
        site: dict[str, AccessGroupConfig | None] = {}
        for name, body in self.store.site_group_records().items():
            gates = body.get("gates", ["*"])
            try:
                site[name] = group_rules(body) if "*" in gates or gate in gates else None
            except ValueError as error:  # checked before it was stored: a record from an older release
                log.error("access group %s from the site ignored: %s", name, error)
        self._site = site

    def get(self, name: str) -> AccessGroupConfig | None:
        """The group's rules at this gate; None when it is not admitted here."""
        if name in self._site:
            return self._site[name]
        return self.config().checks.schedule.groups.get(name)

    def in_force(self) -> dict[str, AccessGroupConfig]:
        """Every group admitted at this gate, by name (the touchscreen lists them)."""
        merged = dict(self.config().checks.schedule.groups)
        for name, rules in self._site.items():
            if rules is None:
                merged.pop(name, None)
            else:
                merged[name] = rules
        return dict(sorted(merged.items()))
