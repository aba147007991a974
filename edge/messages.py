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


def text(group: str, code: str, language: str = "en", **params: Any) -> str:
    """The words for `code` in `group` (outcome, alarm, action, status, prompt), with its parameters filled in."""
    template = catalogue().get(language, {}).get(group, {}).get(code)
    if template is None:
        return code
    try:
        return template.format(**{k: "" if v is None else v for k, v in params.items()})
    except (KeyError, IndexError, ValueError):
        return template
