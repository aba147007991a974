"""Card readers: Wiegand frames decoded only when whole, serial readers line by line, the twin."""

from __future__ import annotations

import os
import random

import pytest

from drivers.cards import SerialCardReader, SimCardReader, card_number
from drivers.wiegand import FRAME_GAP_S, MAX_BITS, FrameAssembler, decode, encode
from tests.emulators import PtyBoard, wait_for


@pytest.mark.parametrize("bits", [26, 34])
def test_ten_thousand_random_frames_decode_to_their_card_and_every_damaged_one_is_refused(bits):
    rng = random.Random(bits)
    facility_bits = 8 if bits == 26 else 16
    for _ in range(10_000):
        facility, card = rng.randrange(2 ** facility_bits), rng.randrange(2 ** 16)
        frame = encode(facility, card, bits)
        decoded = decode(frame)
        assert decoded is not None and (decoded.facility, decoded.card, decoded.bits) == (facility, card, bits)
        flipped = list(frame)
        flipped[rng.randrange(bits)] ^= 1  # any one bit wrong: a parity no longer holds
        assert decode(flipped) is None
        assert decode(frame[:-1]) is None and decode(frame + [0]) is None  # a bit lost or one too many


def test_the_h10301_example_and_its_printed_number():
    frame = encode(18, 12345, 26)  # facility 18, card 12345: what the card's print says
    assert decode(frame).number == str(18 << 16 | 12345)
    assert len(frame) == 26 and frame[0] == sum(frame[1:13]) % 2 and frame[-1] == 1 - sum(frame[13:25]) % 2


def test_frames_end_after_the_gap_and_damaged_ones_are_counted_not_guessed():
    frames = FrameAssembler()
    assert frames.done(0.0) == []  # nothing yet
    t = 0.0
    for bit in encode(7, 4242, 26):
        t += 0.002
        frames.bit(bit, t)
    assert frames.done(t + FRAME_GAP_S - 0.001) == []  # still within the gap: more bits may come
    [card] = frames.done(t + FRAME_GAP_S)  # the gap itself ends it
    assert (card.facility, card.card) == (7, 4242)
    broken = encode(7, 4242, 26)
    broken[5] ^= 1
    for bad in (broken, [1] * 1000):  # a bad frame, then a stuck line
        for bit in bad:
            t += 0.002
            frames.bit(bit, t)
        assert len(frames._bits) <= MAX_BITS  # bounded whatever the line does
        assert frames.done(t + 1.0) == []
    assert frames.refused == 2


def test_encoding_holds_each_format_s_bounds():
    assert len(encode(1, 2)) == 26  # the default: H10301
    assert decode(encode(255, 65535, 26)) is not None and decode(encode(0, 0, 26)).number == "0"
    assert decode(encode(65535, 65535, 34)).number == str(2 ** 32 - 1)
    for facility, card, bits in ((256, 0, 26), (0, 65536, 26), (-1, 0, 26), (0, -1, 34), (65536, 0, 34)):
        with pytest.raises(ValueError, match=f"facility {facility} or card {card} does not fit Wiegand {bits}"):
            encode(facility, card, bits)


def test_card_numbers_are_digits_only():
    assert card_number("0012345678\r") == "12345678"
    assert card_number("12a45") is None and card_number("") is None and card_number("1" * 21) is None
    assert card_number("١٢٣") is None  # digits of another script are not a reader's


class LineReader(PtyBoard):
    def feed(self, data: bytes) -> None:
        pass


def test_a_serial_reader_gives_each_lines_number_and_drops_the_rest():
    board = LineReader()
    reader = SerialCardReader(port=board.port)
    try:
        os.write(board.master, b"0004242001\r\nW26 broken\r\n" + b"9" * 500 + b"\r\n3141\n")
        seen: list[str] = []
        assert wait_for(lambda: seen.extend(reader.poll()) or len(seen) >= 2, timeout=5)
        assert seen == ["4242001", "3141"] and reader.refused == 2
    finally:
        reader.close()
        board.close()


def test_the_twin_reads_what_is_presented_once():
    reader = SimCardReader()
    reader.present("000123")
    reader.present("not a card")
    assert reader.poll() == ["123"] and reader.poll() == [] and reader.refused == 1
