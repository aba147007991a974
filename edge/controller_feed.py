"""Wiegand output on a grant: the site's existing access controller hears who the gate let in.

A resident is sent as the number set for them (`gatepost residents number`), a visitor let in by
pass as `hardware.wiegand_output.visitor_number`; someone with neither is let in without a frame
(counted). Card numbers are kept only as keyed hashes (edge/cards.py), so the gate cannot repeat
a tapped card's number: set the resident's number to it where the controller knows the card.
A number is facility × 65536 + card, as printed on most cards, and must fit the frame.
"""

from __future__ import annotations

import logging

from drivers.wiegand import FORMATS, encode
from drivers.wiegand_out import WiegandOutput
from edge.config import WiegandOutputConfig
from edge.decision import Visit
from edge.events import Decision, DecisionSource
from edge.store import Store

log = logging.getLogger(__name__)


def frame_of(number: int, bits: int) -> list[int]:
    """The frame that carries `number`; ValueError when it does not fit."""
    card_bits = FORMATS[bits][1]
    if not 0 <= number < 2 ** (bits - 2):
        raise ValueError(f"number: {number} does not fit a {bits}-bit frame (at most {2 ** (bits - 2) - 1})")
    return encode(number >> card_bits, number & ((1 << card_bits) - 1), bits)


class ControllerFeed:
    def __init__(self, output: WiegandOutput, store: Store, config: WiegandOutputConfig) -> None:
        self.output = output
        self.store = store
        self.config = config
        self.unnumbered = 0  # grants of someone with no number to send

    def decided(self, visit: Visit, decision: Decision) -> None:
        """On the frame loop, for each decision: a grant's number is queued for the output thread."""
        if not decision.granted or decision.source is not DecisionSource.pipeline:
            return
        number = self._number(decision)
        if number is None:
            self.unnumbered += 1
            return
        try:
            self.output.send(frame_of(number, self.config.bits))
        except ValueError as error:
            log.error("Wiegand output: %s", error)

    def _number(self, decision: Decision) -> int | None:
        if decision.resident_id is not None:
            return self.store.controller_number(decision.resident_id)
        if decision.pass_id:
            return self.config.visitor_number
        return None
