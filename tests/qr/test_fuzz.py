"""100,000 random and mutated payloads through the whole verification chain: each gets a status."""

import random
import time
import zlib

import base45
import cbor2
import psutil

from edge.mqtt.auth import generate_key
from edge.qr.dcc import TrustList, signer_from_der
from edge.qr.dcc_issue import encode_dcc, make_signer, vaccination
from edge.qr.passes import issue_pass
from edge.qr.verify import DccVerifier, VerifierRegistry
from edge.qr.passes import PassVerifier
from edge.config import DccConfig
from edge.store import Store

STATUSES = {"valid", "invalid", "expired", "untrusted", "unreadable"}
B45 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"


def payloads(rng: random.Random, dcc: str, token: str, count: int):
    raw_cose = zlib.decompress(base45.b45decode(dcc[4:]))
    bomb = "HC1:" + base45.b45encode(zlib.compress(b"\0" * 2_000_000, 9)).decode()
    makers = [
        lambda: "".join(chr(rng.randrange(32, 0x2FFF)) for _ in range(rng.randrange(0, 200))),
        lambda: "HC1:" + "".join(rng.choice(B45) for _ in range(rng.randrange(0, 600))),
        lambda: dcc[: rng.randrange(0, len(dcc))],  # truncated base45
        lambda: _flip(rng, dcc, alphabet=B45, start=4),
        lambda: "HC1:" + base45.b45encode(rng.randbytes(rng.randrange(1, 400))).decode(),  # bad zlib
        lambda: "HC1:" + base45.b45encode(zlib.compress(_flip_bytes(rng, raw_cose))).decode(),  # bad CBOR/COSE
        lambda: "HC1:" + base45.b45encode(zlib.compress(cbor2.dumps(_random_cbor(rng, 4)))).decode(),  # wrong types
        lambda: "HC1:" + base45.b45encode(zlib.compress(_forge(rng, raw_cose))).decode(),  # forged signature
        lambda: "HC1:" + "A" * rng.choice([9000, 100_000]),  # huge
        lambda: bomb if rng.random() < 0.01 else dcc,  # zip bomb, or the valid one
        lambda: _flip(rng, token, alphabet="ABCDEFabcdef0123456789-_.", start=4),
        lambda: "GP1:" + "".join(rng.choice("AZaz09-_.") for _ in range(rng.randrange(0, 300))),
    ]
    for _ in range(count):
        yield rng.choice(makers)()


def _flip(rng, text, *, alphabet, start):
    chars = list(text)
    for _ in range(rng.randrange(1, 4)):
        chars[rng.randrange(start, len(chars))] = rng.choice(alphabet)
    return "".join(chars)


def _flip_bytes(rng, data):
    data = bytearray(data)
    for _ in range(rng.randrange(1, 6)):
        data[rng.randrange(len(data))] = rng.randrange(256)
    return bytes(data)


def _random_cbor(rng, depth):
    choice = rng.randrange(7 if depth else 4)
    if choice == 0:
        return rng.randrange(-2**40, 2**40)
    if choice == 1:
        return rng.randbytes(rng.randrange(0, 40))
    if choice == 2:
        return "".join(chr(rng.randrange(32, 500)) for _ in range(rng.randrange(0, 20)))
    if choice == 3:
        return rng.random()
    if choice == 4:
        return [_random_cbor(rng, depth - 1) for _ in range(rng.randrange(0, 5))]
    if choice == 5:
        return {rng.randrange(-300, 10): _random_cbor(rng, depth - 1) for _ in range(rng.randrange(0, 5))}
    return cbor2.CBORTag(rng.choice([18, 61, 0, 1, 24]), _random_cbor(rng, depth - 1))


def _forge(rng, raw_cose):
    message = cbor2.loads(raw_cose)
    protected, unprotected, payload, _ = message.value
    return cbor2.dumps(cbor2.CBORTag(18, [protected, unprotected, payload, rng.randbytes(64)]))


def test_one_hundred_thousand_payloads(tmp_path):
    rng = random.Random(20261126)
    key, signer = make_signer()
    dcc = encode_dcc(vaccination(), key, signer, issued=time.time() - 60, expires=time.time() + 86400)
    private, public = generate_key()
    token, _ = issue_pass(private, "k1", site="s", gates=["*"], holder="h", valid_from=time.time() - 60,
                          valid_until=time.time() + 3600, uses=10**9)
    with Store(tmp_path) as store:
        dcc_verifier = DccVerifier(TrustList([signer_from_der(signer)]), DccConfig())
        pass_verifier = PassVerifier({"k1": public}, site="s", gate="g", store=store)
        registry = VerifierRegistry()
        registry.register("GP1:", pass_verifier)
        registry.register("HC1:", dcc_verifier)
        process = psutil.Process()
        counts: dict[str, int] = {}
        baseline = None
        for n, payload in enumerate(payloads(rng, dcc, token, 100_000)):
            verifier = pass_verifier if payload.startswith("GP1:") else dcc_verifier if payload.startswith("HC1:") else None
            result = verifier(payload, "camera") if verifier else registry.verify(payload, "camera")  # no net
            assert result.status in STATUSES and result.reason, payload[:80]
            counts[result.status] = counts.get(result.status, 0) + 1
            if n == 5000:
                baseline = process.memory_info().rss
        grown = process.memory_info().rss - baseline
    assert sum(counts.values()) == 100_000
    assert counts["valid"] > 1000 and counts["unreadable"] > 10_000 and counts["invalid"] > 1000
    assert grown < 30 * 1024 * 1024, f"memory grew by {grown / 2**20:.0f} MB over 95,000 payloads"
