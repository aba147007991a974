"""The card stage: numbers from the card reader, each looked up by its HMAC (edge/cards.py) and handed to the visit
as a credential; an unknown card is one too, and is refused with its reason. Never blocks: the reader is polled."""

from __future__ import annotations

from drivers.cards import CardReader
from edge.cards import CardBook, label_of
from edge.errors import DeviceError
from edge.readings import QrResult
from edge.stages.base import FrameContext


class CardStage:
    name = "card"

    def __init__(self, reader: CardReader, book: CardBook) -> None:
        self.reader = reader
        self.book = book
        self.fault: str | None = None
        self.unknown = 0  # unknown cards shown, for status

    def process(self, context: FrameContext) -> None:
        try:
            numbers = self.reader.poll()
            self.fault = None
        except DeviceError as error:
            self.fault = str(error)
            return
        for number in numbers:
            holder = self.book.holder(number)
            if holder is None:
                self.unknown += 1
                context.codes.append(QrResult(label_of(number), "card", "unknown", "card not enrolled", "card"))
            else:
                context.codes.append(QrResult(label_of(number), "card", "valid", "resident's card", "card",
                                              resident_id=holder[0], holder=holder[1], group=holder[2]))
