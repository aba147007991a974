"""Cards at their bounds: the book's keyed hashes, labels and refusals, its key file, and the stage that hands a tapped
card to the visit or to an enrolment waiting for it (the simulated reader, a real state database)."""

from __future__ import annotations

import hashlib
import hmac
import os
from concurrent.futures import TimeoutError as FutureTimeout
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

import edge.cards
import edge.stages.card
from drivers.cards import SimCardReader
from edge.cards import KEY_FILE, CardBook, label_of
from edge.errors import ConfigError
from edge.readings import QrResult
from edge.stages.base import FrameContext
from edge.stages.card import CardStage
from edge.store import Store

NOT_A_NUMBER = "number: 1 to 20 digits, as the reader prints it"


@pytest.fixture
def store(tmp_path):
    with Store(tmp_path / "state") as opened:
        yield opened


def resident(store: Store, name: str, group: str | None = None) -> int:
    vector = np.random.default_rng(len(name)).normal(size=128).astype(np.float32)
    resident_id = store.add_resident(name, "3-502", [vector / np.linalg.norm(vector)], [1.0], ["test"])
    if group:
        store.set_access_group(resident_id, group)
    return resident_id


def test_a_number_is_kept_as_its_hmac_under_the_gate_s_key(store, tmp_path):
    book = CardBook(store, tmp_path)
    key = (tmp_path / KEY_FILE).read_bytes()
    assert len(key) == 32 and (tmp_path / KEY_FILE).stat().st_mode & 0o777 == 0o600
    assert book.keyed("4242001") == hmac.new(key, b"4242001", hashlib.sha256).digest()
    assert CardBook(store, tmp_path).keyed("1") == book.keyed("1")  # the key is read again, not made again
    other = tmp_path / "other"
    other.mkdir()
    assert CardBook(store, other).keyed("1") != book.keyed("1")


def test_a_key_made_meanwhile_by_another_process_is_the_one_used(store, tmp_path, monkeypatch):
    theirs = b"t" * 32
    real_open = os.open

    def made_meanwhile(path, flags, mode=0o777):
        Path(path).write_bytes(theirs)  # between our read and our create
        return real_open(path, flags, mode)

    monkeypatch.setattr(edge.cards.os, "open", made_meanwhile)
    assert CardBook(store, tmp_path).keyed("1") == hmac.new(theirs, b"1", hashlib.sha256).digest()
    assert (tmp_path / KEY_FILE).read_bytes() == theirs


def test_a_key_of_another_length_is_refused_naming_the_file(store, tmp_path):
    (tmp_path / KEY_FILE).write_bytes(b"k" * 31)
    with pytest.raises(ConfigError, match=f"^{tmp_path / KEY_FILE}: a card key is 32 bytes; this file has 31 "
                                          r"\(restore it from a backup\)$"):
        CardBook(store, tmp_path)
    (tmp_path / KEY_FILE).write_bytes(b"k" * 32)
    assert CardBook(store, tmp_path).keyed("1") == hmac.new(b"k" * 32, b"1", hashlib.sha256).digest()


def test_a_card_is_enrolled_by_its_number_as_read_and_labelled_by_its_last_four_digits(store, tmp_path):
    book = CardBook(store, tmp_path)
    chen, ana = resident(store, "Chen", "couriers"), resident(store, "Ana")
    assert label_of("123") == "…123" and label_of("0012345") == "…2345"
    assert book.enrol(" 0004242001 ", chen) == "…2001"
    assert book.holder("4242001") == (chen, "Chen", "couriers")
    assert book.holder("004242001") is None  # the stage hands over numbers as the reader cleaned them
    with pytest.raises(ConfigError, match="^number: card …2001 already belongs to a resident \\(cards list\\)$"):
        book.enrol("4242001", ana)
    for bad in ("42-42", "", "1" * 21, "٤٢"):
        with pytest.raises(ConfigError, match=f"^{NOT_A_NUMBER}$"):
            book.enrol(bad, ana)
    assert book.enrol("9" * 20, ana) == "…9999"
    assert [(c.label, c.resident_id) for c in book.cards()] == [("…2001", chen), ("…9999", ana)]
    assert not book.remove("42-42") and not book.remove("4242002")
    assert book.remove(" 04242001")
    assert book.holder("4242001") is None and not book.remove("4242001")


def test_a_holder_known_by_a_card_alone_is_named_and_given_it(store, tmp_path):
    book = CardBook(store, tmp_path)
    resident_id, label = book.enrol_holder("  Wu ", " 2-201 ", "007001")
    assert label == "…7001" and book.holder("7001") == (resident_id, "Wu", None)
    [wu] = [r for r in store.residents() if r.id == resident_id]
    assert (wu.name, wu.unit) == ("Wu", "2-201")
    with pytest.raises(ConfigError, match="^number: card …7001 already belongs to a resident \\(cards list\\)$"):
        book.enrol_holder("Li", "", "7001")
    with pytest.raises(ConfigError, match="^name: the resident's name is needed$"):
        book.enrol_holder("  ", "", "7002")
    with pytest.raises(ConfigError, match=f"^{NOT_A_NUMBER}$"):
        book.enrol_holder("Li", "", "70-02")


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def monotonic(self) -> float:
        return self.now


@pytest.fixture
def stage(store, tmp_path, monkeypatch):
    clock = Clock()
    monkeypatch.setattr(edge.stages.card, "time", clock)
    book = CardBook(store, tmp_path)
    book.enrol("4242001", resident(store, "Chen", "couriers"))
    reader = SimCardReader()
    return SimpleNamespace(stage=CardStage(reader, book), reader=reader, clock=clock, chen=store.residents()[0].id)


def tapped(stage: CardStage, *numbers: str) -> list[QrResult]:
    reader: SimCardReader = stage.reader  # type: ignore[assignment]
    for number in numbers:
        reader.present(number)
    context = FrameContext(frame=None, now=0.0)  # type: ignore[arg-type]
    stage.process(context)
    return context.codes


def test_a_tapped_card_is_its_holder_s_credential_and_an_unknown_one_is_counted(stage):
    assert tapped(stage.stage, "4242001", "99") == [
        QrResult("…2001", "card", "valid", "resident's card", "card", resident_id=stage.chen, holder="Chen",
                 group="couriers"),
        QrResult("…99", "card", "unknown", "card not enrolled", "card")]
    assert stage.stage.unknown == 1 and tapped(stage.stage, "98") and stage.stage.unknown == 2
    assert tapped(stage.stage) == []


def test_a_reader_that_fails_is_a_fault_until_it_reads_again(stage):
    assert stage.stage.fault is None
    stage.reader.present("4242001")
    stage.reader.close()
    assert tapped(stage.stage) == [] and stage.stage.fault == "card reader (simulated): used after close()"
    stage.stage.reader = SimCardReader()
    assert [c.reason for c in tapped(stage.stage, "4242001")] == ["resident's card"] and stage.stage.fault is None


def test_an_enrolment_claims_the_next_card_within_its_time_and_the_rest_are_credentials(stage):
    claim = stage.stage.claim_next(5.0)
    assert tapped(stage.stage) == [] and not claim.done()
    assert [c.payload for c in tapped(stage.stage, "777", "4242001")] == ["…2001"]
    assert claim.result(0) == "777" and stage.stage.unknown == 0
    assert [c.payload for c in tapped(stage.stage, "777")] == ["…777"]  # one card per claim


def test_a_claim_lasts_to_its_deadline_and_a_new_one_replaces_it(stage):
    first = stage.stage.claim_next(5.0)
    second = stage.stage.claim_next(5.0)
    assert first.cancelled()
    stage.clock.now += 5.0
    assert tapped(stage.stage) == [] and not second.done()  # exactly at the deadline: still waiting
    stage.clock.now += 0.001
    assert [c.payload for c in tapped(stage.stage, "777")] == ["…777"]  # too late: a credential
    with pytest.raises(TimeoutError, match="^no card tapped in time$"):
        second.result(0)
    with pytest.raises(FutureTimeout):
        stage.stage.claim_next(1.0).result(0)


def test_a_claim_given_up_by_its_waiter_leaves_the_card_to_the_visit(stage):
    claim = stage.stage.claim_next(5.0)
    claim.cancel()
    assert [c.payload for c in tapped(stage.stage, "4242001", "777")] == ["…2001", "…777"]
    stage.clock.now += 10.0
    late = stage.stage.claim_next(1.0)
    late.cancel()
    stage.clock.now += 2.0
    assert tapped(stage.stage) == [] and late.cancelled()
