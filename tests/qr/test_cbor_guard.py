"""The walk over CBOR headers before decoding: bounded, and naming the byte at fault."""

import cbor2
import pytest

from edge.qr.cbor_guard import CborRefused, check


def test_ordinary_cbor_passes():
    check(cbor2.dumps({1: "DE", 4: 1700000000, -260: {1: {"v": [{"dn": 2, "sd": 2}]}}}))
    check(b"\x9f\x01\x02\xff")  # an indefinite-length array


@pytest.mark.parametrize("data, problem", [
    (b"\xd8\x1c\x01", "byte 0: tag 28"),  # a shared value
    (b"\x82\x01", "byte 2: the data ends inside an item"),
    (b"\xff", "byte 0: a break outside"),
    (b"\x81" * 20 + b"\x01", "deeper than 16"),
    (b"\x5a\xff\xff\xff\xff", "byte 0"),  # a byte string longer than the data
])
def test_hostile_cbor_is_refused_at_its_byte(data, problem):
    with pytest.raises(CborRefused, match=problem):
        check(data)


def test_more_items_than_allowed_are_refused():
    with pytest.raises(CborRefused, match="byte 0: a container of 50 entries"):  # known before walking it
        check(cbor2.dumps(list(range(50))), max_items=20)
    with pytest.raises(CborRefused, match="more than 20 items"):  # many small containers
        check(cbor2.dumps([[n] for n in range(15)]), max_items=20)
