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


@pytest.mark.parametrize("data", [
    b"\x5f\x41\x00\x42\x01\x02\xff",  # a byte string in chunks
    b"\x7f\x61a\x61b\xff",  # a text string in chunks
    b"\xbf\x01\x02\xff",  # an indefinite-length map
    b"\x82\x9f\xff\x01",  # an empty indefinite-length array, then the rest of its array
    b"\x1b" + bytes(range(1, 9)),  # an unsigned integer in eight bytes
    b"\x43abc",  # a string that ends where the data does
])
def test_every_well_formed_shape_passes(data):
    check(data)


@pytest.mark.parametrize("data, problem", [
    (b"\x1f", "byte 0: indefinite length on major type 0"),
    (b"\x3f", "byte 0: indefinite length on major type 1"),
    (b"\x81\xdf", "byte 1: indefinite length on major type 6"),
    (b"\x82\x9f\xff\x19\x01", "byte 3: the data ends inside an item header"),  # after an indefinite item closes
    (b"\x81\x9f\x19", "byte 2: the data ends inside an item header"),  # inside an indefinite item
    (b"\x19\x01", "byte 0: the data ends inside an item header"),
    (b"\x81\x1c", "byte 1: reserved additional information 28"),
    (b"\x81\x43\x01", "byte 1: a string of 3 bytes runs past the end"),
    (b"\x81\x81\x9f\x01", "byte 4: the data ends inside an item"),
])
def test_each_fault_is_named_at_its_byte(data, problem):
    with pytest.raises(CborRefused, match=f"^{problem}$"):
        check(data)


def test_items_are_counted_to_the_last_allowed():
    check(b"\x82\x01\x02", max_items=3)  # the array and its two
    with pytest.raises(CborRefused, match=r"^byte 3: more than 3 items$"):
        check(b"\x83\x01\x02\x03", max_items=3)  # the container fits; its third item is one too many
    with pytest.raises(CborRefused, match=r"^byte 0: a container of 4 entries$"):
        check(b"\x84\x01\x02\x03\x04", max_items=3)
    with pytest.raises(CborRefused, match=r"^byte 0: a container of 2 entries$"):
        check(b"\xa2\x01\x02\x03\x04", max_items=3)  # a map's entries are pairs


@pytest.mark.parametrize("opening", [b"\x81", b"\x9f", b"\xc1"])  # arrays, indefinite arrays, tags
def test_nesting_is_allowed_to_its_bound_and_refused_past_it(opening):
    closing = b"\xff" * 3 if opening == b"\x9f" else b""
    check(opening * 3 + b"\x01" + closing, max_depth=3)
    with pytest.raises(CborRefused, match=r"^byte 3: nested deeper than 3 levels$"):
        check(opening * 4 + b"\x01", max_depth=3)  # refused at the fourth opening, before the rest is read
