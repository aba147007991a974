"""The card stage: numbers from the card reader, each looked up by its HMAC (edge/cards.py) and handed to the visit
as a credential; an unknown card is one too, and is refused with its reason. Never blocks: the reader is polled."""

from __future__ import annotations

import time
from concurrent.futures import Future

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
        self._claim: tuple[Future[str], float] | None = None  # (the number's future, monotonic deadline)

    def claim_next(self, seconds: float) -> Future[str]:
        """On the frame loop: the next card tapped within `seconds` is for enrolment ("tap the card now"), not a
        credential; its number comes in the future, or TimeoutError. A claim before replaces the one pending."""
        if self._claim is not None:
            self._claim[0].cancel()
        future: Future[str] = Future()
        self._claim = (future, time.monotonic() + seconds)
        return future

    def process(self, context: FrameContext) -> None:
        try:
            numbers = self.reader.poll()
            self.fault = None
        except DeviceError as error:
            self.fault = str(error)
            return
        if self._claim is not None and time.monotonic() > self._claim[1]:
            expired, self._claim = self._claim[0], None
            if expired.set_running_or_notify_cancel():  # unless the one waiting has given up
                expired.set_exception(TimeoutError("no card tapped in time"))
        if self._claim is not None and numbers:
            future, self._claim = self._claim[0], None
            if future.set_running_or_notify_cancel():  # unless given up: then the card is a credential
                future.set_result(numbers[0])
                numbers = numbers[1:]
        for number in numbers:
            holder = self.book.holder(number)
            if holder is None:
                self.unknown += 1
                context.codes.append(QrResult(label_of(number), "card", "unknown", "card not enrolled", "card"))
            else:
                context.codes.append(QrResult(label_of(number), "card", "valid", "resident's card", "card",
                                              resident_id=holder[0], holder=holder[1], group=holder[2]))
