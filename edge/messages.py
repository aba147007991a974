"""Words for people, from the machine codes that decisions, alarms and events carry.

One catalogue (`edge/ui/static/messages.json`, zh and en) serves the touchscreen, which loads it
as it is, and the command line. A code without words falls back to the code itself, which the
catalogue test (tests/edge/test_messages.py) makes sure never happens for a code the gate emits.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

CATALOGUE = Path(__file__).parent / "ui" / "static" / "messages.json"
LANGUAGES = ("zh", "en")


@lru_cache(maxsize=1)
def catalogue() -> dict[str, dict[str, dict[str, str]]]:
    return json.loads(CATALOGUE.read_text(encoding="utf-8"))


def text(group: str, code: str, language: str = "en", /, **params: Any) -> str:
    """The words for `code` in `group` (outcome, alarm, action, status, prompt), with its parameters filled in."""
    template = catalogue().get(language, {}).get(group, {}).get(code)
    if template is None:
        return code
    try:
        return template.format(**{k: "" if v is None else v for k, v in params.items()})
    except (KeyError, IndexError, ValueError):
        return template


def cli_language() -> str:
    """The command line's language: GATEPOST_LANG, else the locale (LC_ALL, LC_MESSAGES, LANG); English otherwise."""
    import os

    for variable in ("GATEPOST_LANG", "LC_ALL", "LC_MESSAGES", "LANG"):
        value = os.environ.get(variable, "")
        if value:
            return "zh" if value.lower().startswith("zh") else "en"
    return "en"


def check_lines(checks: dict[str, dict], language: str) -> list[str]:
    """One line per check of a decision, from its code and parameters (as the touchscreen shows them)."""
    marks = {"pass": "✔", "fail": "✘"}
    return [f"{marks.get(check.get('status', ''), '…')} "
            f"{text('outcome', check.get('code', ''), language, **(check.get('params') or {}))}"
            for check in checks.values()]
