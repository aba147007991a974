"""The rules of what a gate hears about passes from its site, checked without a broker: which topics are about
passes, what a count must hold, how much is queued and applied at once, and what the gate tells the site."""

import hashlib
import json
import logging

import pytest

from edge.mqtt.link import Incoming
from edge.mqtt.site_passes import MAX_ANNOUNCED, MAX_USES, SHARE_AFTER_EXPIRY_S, SitePasses, pass_key
from edge.mqtt.topics import Topics
from edge.qr.passes import PassClaims
from edge.store import Store

SITE = "demo-site"
NOW = 1_800_000_000.0


@pytest.fixture
def store(tmp_path):
    store = Store(tmp_path, clock=lambda: NOW)
    yield store
    store.close()


@pytest.fixture
def published():
    return []


@pytest.fixture
def passes(store, published):
    return SitePasses(store, Topics(SITE, "gate-1"), {}, publish=lambda topic, body: published.append((topic, body)),
                      clock=lambda: NOW)


def count_message(pass_id: str, uses, *, gate: str = "gate-2", body: dict | None = None) -> Incoming:
    payload = json.dumps(body if body is not None else {"pass_id": pass_id, "uses": uses}).encode()
    return Incoming(f"gatepost/{SITE}/{gate}/pass_uses/{pass_key(pass_id)}", payload, None, None)


def refusals(caplog) -> list[str]:
    return [r.getMessage().split(" refused: ", 1)[1] for r in caplog.records if " refused: " in r.getMessage()]


def remember(store: Store, pass_id: str, *, valid_until: float, uses: int = 1) -> None:
    store.remember_pass(PassClaims(pass_id, "site-key", SITE, ("*",), NOW - 60, valid_until, 5, "plumber", "visitor"),
                        token="t")
    for _ in range(uses):
        store.count_pass_use(pass_id)


def test_a_pass_key_is_the_first_32_hex_digits_of_the_ids_sha256():
    assert pass_key("visit/7+1") == hashlib.sha256(b"visit/7+1").hexdigest()[:32]
    assert len(pass_key("x")) == 32


@pytest.mark.parametrize("topic", [
    f"gatepost/{SITE}/gate-2/pass_uses",  # one level short
    f"gatepost/{SITE}/gate-2/pass_uses/k/extra",
    "gatepost/other-site/gate-2/pass_uses/k",
    f"other-root/{SITE}/gate-2/pass_uses/k",
    f"gatepost/{SITE}/gate-2/status/k",
    f"gatepost/{SITE}/gate-2/k",  # four levels, not under passes
    "gatepost/other-site/passes/k",
    f"other-root/{SITE}/passes/k",
    f"gatepost/{SITE}/passes",
    f"gatepost/{SITE}/passes/k/extra",
])
def test_a_topic_that_is_not_about_this_sites_passes_is_left_to_others(passes, topic):
    assert passes.submit(Incoming(topic, b"{}", None, None)) is False
    assert passes.refused == 0


def test_a_count_from_another_gate_is_applied_at_the_next_poll(passes, store, caplog):
    caplog.set_level(logging.INFO, logger="edge.mqtt.site_passes")
    assert passes.submit(count_message("p-1", 3))
    assert store.pass_state("p-1") is None  # checked on paho's thread, applied on the frame loop
    passes.poll()
    assert store.pass_state("p-1").uses == 3
    assert "pass p-1 used 3 time(s) at gate-2" in caplog.messages
    caplog.clear()
    assert passes.submit(count_message("p-1", 2))  # counts only grow: nothing logged
    passes.poll()
    assert store.pass_state("p-1").uses == 3 and caplog.messages == []


def test_the_gates_own_count_and_a_cleared_topic_change_nothing(passes, store):
    assert passes.submit(count_message("p-1", 3, gate="gate-1"))
    assert passes.submit(Incoming(f"gatepost/{SITE}/gate-2/pass_uses/{pass_key('p-1')}", b"", None, None))
    assert passes.submit(Incoming(f"gatepost/{SITE}/passes/{pass_key('p-1')}", b"", None, None))
    passes.poll()
    assert store.pass_state("p-1") is None and passes.refused == 0


@pytest.mark.parametrize(("message", "reason"), [
    (count_message("p-1", 3, body=[1]), "malformed: expected a JSON object"),
    (count_message("p-1", 3, body={"pass_id": "p-2", "uses": 3}), "malformed: field 'pass_id' does not match the topic"),
    (count_message("p-1", 3, body={"pass_id": 7, "uses": 3}), "malformed: field 'pass_id' does not match the topic"),
    (count_message("p-1", 0), "malformed: field 'uses' must be a positive integer"),
    (count_message("p-1", -1), "malformed: field 'uses' must be a positive integer"),
    (count_message("p-1", MAX_USES), "malformed: field 'uses' must be a positive integer"),
    (count_message("p-1", True), "malformed: field 'uses' must be a positive integer"),
    (count_message("p-1", "3"), "malformed: field 'uses' must be a positive integer"),
    (count_message("p-1", 3, body={"pass_id": "p-1", "uses": 3, "pad": "x" * 473}),
     "pass uses: 513 bytes exceeds the limit of 512"),
])
def test_a_malformed_count_is_refused_whole_with_its_reason(passes, store, caplog, message, reason):
    assert passes.submit(message)
    passes.poll()
    assert passes.refused == 1 and refusals(caplog) == [reason]
    assert store.pass_state("p-1") is None


def test_counts_at_the_bounds_are_taken(passes, store):
    assert len(count_message("p-1", 3, body={"pass_id": "p-1", "uses": 3, "pad": "x" * 472}).payload) == 512
    assert passes.submit(count_message("p-1", 3, body={"pass_id": "p-1", "uses": 3, "pad": "x" * 472}))
    assert passes.submit(count_message("p-2", 1))
    assert passes.submit(count_message("p-3", MAX_USES - 1))
    passes.poll()
    assert passes.refused == 0
    assert [store.pass_state(p).uses for p in ("p-1", "p-2", "p-3")] == [3, 1, MAX_USES - 1]


def test_a_refusal_logs_the_topic_cut_to_200_characters(passes, caplog):
    gate = "g" * 300
    assert passes.submit(count_message("p-1", 0, gate=gate))
    [line] = [r.getMessage() for r in caplog.records if " refused: " in r.getMessage()]
    assert line.startswith("site passes: ") and line.split(" refused: ")[0] == (
        "site passes: " + f"gatepost/{SITE}/{gate}"[:200])


def test_at_most_200_pieces_of_news_are_applied_per_poll(passes, store):
    for n in range(201):
        assert passes.submit(count_message(f"p-{n}", 1))
    passes.poll()
    assert store.pass_state("p-199").uses == 1 and store.pass_state("p-200") is None
    passes.poll(budget=1)
    assert store.pass_state("p-200").uses == 1


def test_news_beyond_ten_thousand_waiting_is_dropped_with_a_log_line(passes, store, caplog):
    for n in range(10_000):
        assert passes.submit(count_message(f"p-{n}", 1))
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []
    gate = "g" * 300
    assert passes.submit(count_message("p-late", 1, gate=gate))  # about passes, though dropped
    assert caplog.messages == [f"site passes: queue full; news on {f'gatepost/{SITE}/{gate}'[:200]} dropped"]
    passes.poll(budget=20_000)
    assert store.pass_state("p-9999").uses == 1 and store.pass_state("p-late") is None


def test_a_use_here_is_told_to_the_site_as_this_gates_whole_count(passes, store, published):
    remember(store, "visit/7+1", valid_until=NOW + 3600, uses=2)
    passes.used("visit/7+1")
    assert published == [(f"gatepost/{SITE}/gate-1/pass_uses/{pass_key('visit/7+1')}",
                          '{"pass_id":"visit/7+1","uses":2}')]


def test_at_connect_the_gate_announces_its_counts_of_passes_not_long_expired(passes, store):
    remember(store, "current", valid_until=NOW + 3600, uses=2)
    remember(store, "expired-a-day-ago", valid_until=NOW - SHARE_AFTER_EXPIRY_S)
    remember(store, "expired-longer-ago", valid_until=NOW - SHARE_AFTER_EXPIRY_S - 1)
    remember(store, "never-used", valid_until=NOW + 3600, uses=0)
    announced = dict(passes.announcements())
    assert announced == {f"gatepost/{SITE}/gate-1/pass_uses/{pass_key('current')}": '{"pass_id":"current","uses":2}',
                         f"gatepost/{SITE}/gate-1/pass_uses/{pass_key('expired-a-day-ago')}":
                             '{"pass_id":"expired-a-day-ago","uses":1}'}


def test_at_most_2000_counts_are_announced(passes, store):
    with store._transaction() as db:  # 2,001 passes at once: one transaction, not 4,002
        db.executemany("INSERT INTO passes(pass_id, holder, token, valid_from, valid_until, max_uses, uses, created) "
                       "VALUES (?, '', '', 0, ?, 1, 1, ?)", [(f"p-{n}", NOW + 60, n) for n in range(MAX_ANNOUNCED + 1)])
    announced = passes.announcements()
    assert len(announced) == MAX_ANNOUNCED == 2000
    assert json.loads(announced[0][1])["pass_id"] == f"p-{MAX_ANNOUNCED}"  # the newest first
