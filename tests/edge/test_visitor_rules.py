"""Visitors registered at the booth, at their bounds: each field's refusal, the key the pass is signed with, and the
pass itself, checked by the site's own verifier (a real key file and state database, a test clock)."""

from __future__ import annotations

import base64
import json
import re

import cv2
import numpy as np
import pytest
import segno

from edge.config import parse_config
from edge.errors import ConfigError
from edge.keys import write_key
from edge.qr.decode import FrameDecoder
from edge.qr.passes import PassVerifier
from edge.store import Store
from edge.visitors import MAX_NAME, MAX_PHONE, MAX_UNIT, VisitorBook

NOW = 1_800_000_000.0


@pytest.fixture
def booth(tmp_path):
    key = tmp_path / "booth.key"
    public = write_key(key, "site-pass")
    config = parse_config({"state_dir": str(tmp_path), "site": {"site_id": "s1"},
                           "qr": {"passes": {"public_keys": {"site-pass": public}, "booth_key": str(key),
                                             "booth_uses": 3, "booth_max_hours": 8}}})
    with Store(tmp_path) as store:
        yield VisitorBook(lambda: config, store, clock=lambda: NOW), config, store


def test_a_visitor_s_pass_is_signed_for_the_site_s_every_gate_and_remembered(booth):
    book, config, store = booth
    issued = book.register(name="  Wang   Li ", host_unit=" 7-301 ", hours=8, phone="+86 138-0000")
    assert (issued.name, issued.host_unit, issued.uses) == ("Wang Li", "7-301", 3)
    assert (issued.valid_from, issued.valid_until) == (NOW - 60, NOW + 8 * 3600)
    verifier = PassVerifier(config.qr.passes.public_keys, site="s1", gate="any-gate", store=store, clock=lambda: NOW)
    result = verifier(issued.token, "scanner")
    assert (result.status, result.pass_id) == ("valid", issued.pass_id)
    assert [(p.pass_id, p.holder, p.max_uses) for p in store.passes()] == [(issued.pass_id, "Wang Li", 3)]
    claims = json.loads(base64.urlsafe_b64decode(issued.token.removeprefix("GP1:").split(".")[0] + "=="))
    assert {key: claims[key] for key in ("site", "gates", "holder", "host", "kind", "uses", "nbf", "exp")} == {
        "site": "s1", "gates": ["*"], "holder": "Wang Li", "host": "7-301", "kind": "visitor", "uses": 3,
        "nbf": NOW - 60, "exp": NOW + 8 * 3600}


def test_the_printed_pass_is_a_medium_level_qr_code_with_a_quiet_zone_of_four_modules(booth):
    book, _, _ = booth
    issued = book.register(name="Wang", host_unit="7-301", hours=2)
    png = base64.b64decode(issued.qr_png().removeprefix("data:image/png;base64,"))
    image = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)
    assert FrameDecoder().scan(image, faces=[]) == [issued.token]  # as a gate's camera reads it
    modules = segno.make_qr(issued.token, error="m").symbol_size(scale=1, border=0)[0]
    assert image.shape[:2] == ((modules + 8) * 6, (modules + 8) * 6)
    assert (image[:24] == 255).all() and (image[:, :24] == 255).all()  # four modules of six pixels
    assert (image[24:30, 24:30] == 0).all()  # the finder pattern's corner right after


@pytest.mark.parametrize("fields, refusal", [
    ({"name": "  "}, "name: required"),
    ({"name": "n" * (MAX_NAME + 1)}, f"name: at most {MAX_NAME} printable characters"),
    ({"name": "Wang\x07"}, f"name: at most {MAX_NAME} printable characters"),
    ({"host_unit": ""}, "host_unit: required"),
    ({"host_unit": "u" * (MAX_UNIT + 1)}, f"host_unit: at most {MAX_UNIT} printable characters"),
    ({"phone": "138 0000 x"}, f"phone: digits, '+', '-' and spaces, at most {MAX_PHONE}"),
    ({"phone": "138X"}, f"phone: digits, '+', '-' and spaces, at most {MAX_PHONE}"),
    ({"phone": "1" * (MAX_PHONE + 1)}, f"phone: digits, '+', '-' and spaces, at most {MAX_PHONE}"),
    ({"hours": 0}, "hours: more than 0 and at most 8"),
    ({"hours": 8.01}, "hours: more than 0 and at most 8"),
])
def test_each_field_out_of_bounds_is_refused_by_name(booth, fields, refusal):
    book, _, store = booth
    with pytest.raises(ConfigError, match=f"^{re.escape(refusal)}$"):
        book.register(**{"name": "Wang", "host_unit": "7-301", "hours": 2, **fields})
    assert store.passes() == []


def test_fields_at_their_bounds_are_taken(booth):
    book, _, _ = booth
    issued = book.register(name="n" * MAX_NAME, host_unit="u" * MAX_UNIT, hours=8, phone="1" * MAX_PHONE)
    assert (issued.name, issued.host_unit) == ("n" * MAX_NAME, "u" * MAX_UNIT)
    assert book.register(name="Wang", host_unit="7-301", hours=0.01).valid_until == NOW + 36


def test_a_booth_without_a_key_or_with_one_the_site_does_not_trust_registers_nobody(booth, tmp_path):
    book, config, store = booth
    keyless = config.model_copy(update={"qr": config.qr.model_copy(update={
        "passes": config.qr.passes.model_copy(update={"booth_key": ""})})})
    with pytest.raises(ConfigError, match="^qr.passes.booth_key: not set, so visitors cannot be registered at this "
                                          "gate$"):
        VisitorBook(lambda: keyless, store, clock=lambda: NOW).register(name="Wang", host_unit="7-301", hours=2)
    other = tmp_path / "other.key"
    write_key(other, "other-pass")
    untrusted = config.model_copy(update={"qr": config.qr.model_copy(update={
        "passes": config.qr.passes.model_copy(update={"booth_key": str(other)})})})
    with pytest.raises(ConfigError, match="^qr.passes.booth_key: its key id 'other-pass' is not in "
                                          "qr.passes.public_keys, so the site's gates would refuse its passes$"):
        VisitorBook(lambda: untrusted, store, clock=lambda: NOW).register(name="Wang", host_unit="7-301", hours=2)
    assert store.passes() == []
