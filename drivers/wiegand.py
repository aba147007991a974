"""Wiegand 26 and 34: frames as the readers send them, decoded only when length and both parities hold.

A frame is a leading parity bit, the data, a trailing parity bit. The leading bit makes the first half of the
data even, the trailing bit makes the second half odd (HID's H10301 for 26 bits: 8 facility bits and 16 card
bits; 34 bits: 16 and 16). A frame of another length, or with a parity that does not hold, is refused: a card
number is never guessed from a damaged frame.

On the wire each bit is a low pulse on D0 (a 0) or D1 (a 1), typically 50-100 µs wide and 1-2 ms apart
(SIA AC-01); a frame ends when the lines stay quiet for FRAME_GAP_S.
"""

from __future__ import annotations

from dataclasses import dataclass

FORMATS = {26: (8, 16), 34: (16, 16)}  # bits: (facility bits, card bits)
FRAME_GAP_S = 0.025  # quiet this long after a bit: the frame is over (bits come 1-2 ms apart)
MAX_BITS = 64  # a reader gone wrong: more bits than any format are dropped, not buffered


@dataclass(frozen=True)
class WiegandCard:
    facility: int
    card: int
    bits: int

    @property
    def number(self) -> str:
        """The number printed on most cards of the format: facility and card as one integer."""
        return str((self.facility << FORMATS[self.bits][1]) | self.card)


def encode(facility: int, card: int, bits: int = 26) -> list[int]:
    """The bits of a frame, first sent first."""
    facility_bits, card_bits = FORMATS[bits]
    if not 0 <= facility < 2 ** facility_bits or not 0 <= card < 2 ** card_bits:
        raise ValueError(f"facility {facility} or card {card} does not fit Wiegand {bits}")
    data = [(facility >> i) & 1 for i in reversed(range(facility_bits))] + \
           [(card >> i) & 1 for i in reversed(range(card_bits))]
    half = len(data) // 2
    return [sum(data[:half]) % 2, *data, 1 - sum(data[half:]) % 2]


def decode(frame: list[int]) -> WiegandCard | None:
    """The card of a frame, or None: an unknown length or a parity that does not hold."""
    if len(frame) not in FORMATS or any(bit not in (0, 1) for bit in frame):
        return None
    facility_bits, _ = FORMATS[len(frame)]
    data = frame[1:-1]
    half = len(data) // 2
    even_holds = sum(data[:half]) % 2 == frame[0]  # the leading bit makes the first half even
    odd_holds = sum(data[half:]) % 2 != frame[-1]  # the trailing bit makes the second half odd
    if not (even_holds and odd_holds):
        return None
    value = 0
    for bit in data:
        value = value << 1 | bit
    card_bits = len(data) - facility_bits
    return WiegandCard(value >> card_bits, value & ((1 << card_bits) - 1), len(frame))


class FrameAssembler:
    """Bits from the two lines into frames: a frame ends after FRAME_GAP_S without a bit."""

    def __init__(self) -> None:
        self._bits: list[int] = []
        self._last: float | None = None
        self.refused = 0  # frames dropped: wrong length, bad parity, too long

    def bit(self, value: int, at: float) -> None:
        if len(self._bits) < MAX_BITS:  # a stuck line fills no memory: the frame is refused by its length anyway
            self._bits.append(value)
        self._last = at

    def done(self, now: float) -> list[WiegandCard]:
        """The frames complete by `now` (quiet long enough), decoded; damaged ones counted in `refused`."""
        if self._last is None or now - self._last < FRAME_GAP_S:
            return []
        frame, self._bits, self._last = self._bits, [], None
        card = decode(frame)
        if card is None:
            self.refused += 1
            return []
        return [card]
