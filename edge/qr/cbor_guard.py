"""A bounded walk over CBOR bytes before any decoder expands them.

cbor2 resolves shared values (tags 28/29) and string references (tags 25/256) while decoding,
so a few hundred bytes can expand into millions of items: a printed code that freezes a gate.
`check` walks the item headers only, iteratively, in time linear in the input, and refuses
those tags, more than `max_items` items, nesting deeper than `max_depth`, and lengths that
run past the end. Errors name the byte offset.
"""

from __future__ import annotations

# tags whose decoding expands or parses: references that multiply items, and a MIME message or a regular
# expression cbor2 would parse (tag 36 cost a third of a second, tag 35 compiles the code's own pattern)
FORBIDDEN_TAGS = {25: "string reference", 28: "shared value", 29: "shared reference", 256: "string references",
                  35: "regular expression", 36: "MIME message"}
MAX_ITEMS = 10_000
MAX_DEPTH = 16


class CborRefused(ValueError):
    """CBOR that is not decoded; the message names the byte offset."""


def check(data: bytes, *, max_items: int = MAX_ITEMS, max_depth: int = MAX_DEPTH) -> None:
    position, items = 0, 0
    levels: list[int | None] = [1]  # per open level: items still to read, or None where a "break" ends it
    while levels:
        remaining = levels[-1]
        if remaining == 0:
            levels.pop()
            continue
        if position >= len(data):
            raise CborRefused(f"byte {position}: the data ends inside an item")
        start = position
        major, info = data[position] >> 5, data[position] & 0x1F
        position += 1
        if info == 31 and major == 7:  # "break"
            if remaining is not None:
                raise CborRefused(f"byte {start}: a break outside an indefinite-length item")
            levels.pop()
            continue
        if remaining is not None:
            levels[-1] = remaining - 1
        items += 1
        if items > max_items:
            raise CborRefused(f"byte {start}: more than {max_items} items")
        if info == 31:
            if major not in (2, 3, 4, 5):
                raise CborRefused(f"byte {start}: indefinite length on major type {major}")
            _open(levels, None, start, max_depth)
            continue
        value, position = _argument(data, position, info, start)
        if major in (2, 3):  # byte and text strings
            if value > len(data) - position:
                raise CborRefused(f"byte {start}: a string of {value} bytes runs past the end")
            position += value
        elif major in (4, 5):  # arrays and maps
            count = value * (2 if major == 5 else 1)
            if count > max_items:
                raise CborRefused(f"byte {start}: a container of {value} entries")
            _open(levels, count, start, max_depth)
        elif major == 6:  # a tag: one item follows
            if value in FORBIDDEN_TAGS:
                raise CborRefused(f"byte {start}: tag {value} ({FORBIDDEN_TAGS[value]}) is not accepted")
            _open(levels, 1, start, max_depth)


def _open(levels: list[int | None], level: int | None, start: int, max_depth: int) -> None:
    levels.append(level)
    if len(levels) - 1 > max_depth:
        raise CborRefused(f"byte {start}: nested deeper than {max_depth} levels")


def _argument(data: bytes, position: int, info: int, start: int) -> tuple[int, int]:
    if info < 24:
        return info, position
    size = {24: 1, 25: 2, 26: 4, 27: 8}.get(info)
    if size is None:
        raise CborRefused(f"byte {start}: reserved additional information {info}")
    if position + size > len(data):
        raise CborRefused(f"byte {start}: the data ends inside an item header")
    return int.from_bytes(data[position:position + size]), position + size  # big-endian, Python's default
