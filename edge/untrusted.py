"""Parsing what strangers send: bounded in size and depth, finite numbers only, one-line errors.

Every JSON body that arrives from outside (MQTT commands, records, acknowledgements, events at
the collector, touchscreen requests) goes through `load_json`. The nesting depth is measured
by a scan that the regular-expression engine runs over whole string tokens, before the parser
(which recurses) ever sees the text; NaN, Infinity and numbers that overflow to infinity are
refused, and so are strings that cannot be written back as UTF-8 (unpaired surrogates).
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from edge.errors import GatepostError

MAX_DEPTH = 32
_STRUCTURE = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]', re.DOTALL)
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


class UntrustedInput(GatepostError, ValueError):
    """Input from outside that was not parsed; the message says which byte or field, in one line."""


def load_json(data: bytes | str, *, max_bytes: int, max_depth: int = MAX_DEPTH, what: str = "message") -> Any:
    if len(data) > max_bytes:
        raise UntrustedInput(f"{what}: {len(data)} bytes exceeds the limit of {max_bytes}")
    if isinstance(data, bytes):
        try:
            text = data.decode("utf-8")  # pragma: no mutate (a codec's name in any case)
        except UnicodeDecodeError as error:
            raise UntrustedInput(f"{what}: byte {error.start} is not UTF-8") from None
    else:
        text = data
    _check_depth(text, max_depth, what)
    try:
        value = json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float)
    except UntrustedInput as error:
        raise UntrustedInput(f"{what}: {error}") from None
    except (ValueError, RecursionError) as error:
        reason = str(error).splitlines()[0][:120]  # pragma: no mutate (a bound: the parser's reasons are shorter)
        raise UntrustedInput(f"{what}: not JSON ({reason})") from None
    if not _SURROGATE_ESCAPE.search(text):  # UTF-8 text holds none itself: only a \uD800-\uDFFF escape makes one
        return value
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")  # pragma: no mutate (None is False; a codec in any case)
    except UnicodeEncodeError as error:
        raise UntrustedInput(f"{what}: a string holds an unpaired surrogate ({error.object[error.start]!r})") from None
    return value


def _check_depth(text: str, max_depth: int, what: str) -> None:
    brackets = text.count("[") + text.count("{")
    if brackets <= max_depth:  # pragma: no mutate (at the bound the scan agrees)
        return  # never deeper than the brackets it has (those inside strings only overcount)
    depth = 0
    for token in _STRUCTURE.finditer(text):
        char = token.group()[0]
        if char == "[" or char == "{":
            depth += 1
            if depth > max_depth:
                raise UntrustedInput(f"{what}: nested deeper than {max_depth} levels at character {token.start()}")
        elif char != '"':  # a closing bracket (a token is a whole string or one bracket)
            depth -= 1


def _refuse_constant(name: str) -> float:
    raise UntrustedInput(f"{name} is not a number this accepts")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise UntrustedInput(f"number {text[:32]} is out of range")
    return value


def finite(value: Any) -> bool:
    """A real number (not bool) that is finite."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
