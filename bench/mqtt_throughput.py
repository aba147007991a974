"""MQTT throughput: outbox drain rate to a local Mosquitto, and collector ingest rate (SQLite).

    python bench/mqtt_throughput.py [--events N] [--runs N] [--json PATH] [--quick]

Starts a private broker on a free loopback port. Drain: events already in the gate's outbox,
published at QoS 1 until the broker has acknowledged every one (confirm: broker). Ingest: the
collector storing them (batched commits, synchronous=FULL) and confirming them back to the gate.
Each clock starts when the link or collector starts and stops when the last event is settled; a
wait that times out reports no rate. Each run uses a fresh broker and databases; the table gives
the median and the range over the runs.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from common import ROOT, add_runs, finish, parser, runs_wanted, spread, table

WAIT_LIMIT_S = 300.0


def main() -> int:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--events", type=int, default=None, help="events per run (default 20000, quick 5000)")
    add_runs(p)
    args = p.parse_args()
    count = args.events or (5000 if args.quick else 20000)
    sys.path.insert(0, str(ROOT))
    runs = [one_run(count) for _ in range(runs_wanted(args))]
    paths = [("record", "events recorded into the outbox (synchronous=FULL)"),
             ("drain", "outbox drain to the broker (PUBACK)"),
             ("ingest", "collector ingest (SQLite, batched commits)"),
             ("confirmed_end_to_end", "gate to collector, confirmed back (confirm: collector)")]
    rows = [(label, count, spread([r[key]["seconds"] for r in runs]), spread([r[key]["events_per_s"] for r in runs]),
             sum(1 for r in runs if r[key]["events_per_s"] is None)) for key, label in paths]
    print(table(f"MQTT throughput on a local Mosquitto, {len(runs)} run(s): median (min to max)", rows,
                ("path", "events", "seconds", "events/s", "timed out")))
    print(f"collector stored {spread([r['ingest']['stored'] for r in runs])} distinct events of {count}")
    finish(args, {"events": count, "runs": runs})
    return 0


def one_run(count: int) -> dict:
    from collector.db import CollectorDB
    from collector.service import Collector
    from edge.config import MqttConfig
    from edge.events import Event, EventKind
    from edge.mqtt.link import MqttLink
    from edge.mqtt.topics import Topics
    from edge.store import Store
    from tests.broker import Broker

    def fill(directory: Path, gate: str):
        topics = Topics("bench", gate)
        store = Store(directory / gate)
        started = time.perf_counter()
        for n in range(count):
            store.record_event(Event(EventKind.decision, {"n": n, "granted": True, "reasons": ["bench"]},
                                     site_id="bench", gate_id=gate), topics.event)
        return topics, store, count / (time.perf_counter() - started)

    def wait_until(condition, limit: float = WAIT_LIMIT_S) -> float | None:
        """Seconds until the condition held; None if it never did within the limit."""
        started = time.perf_counter()
        deadline = time.monotonic() + limit
        while not condition():
            if time.monotonic() > deadline:
                return None
            time.sleep(0.005)
        return time.perf_counter() - started

    with tempfile.TemporaryDirectory() as scratch:
        directory = Path(scratch)
        broker = Broker(directory / "broker").start()
        try:
            broker_only = MqttConfig(host="127.0.0.1", port=broker.port, confirm="broker", max_inflight=1000)
            db = CollectorDB(f"sqlite:///{directory}/collector.db")
            as_run = broker_only.model_copy(update={"protocol": "3.1.1"})  # as `gatepost collector run` connects
            collector = Collector(as_run, db, client_id="bench-collector")
            collector.start()  # creates the persistent session and its subscription, then goes away
            collector.connected.wait(10)
            collector.stop()

            topics, store, record_rate = fill(directory, "gate-a")
            link = MqttLink(broker_only, store, topics)
            link.start()
            drain_s = wait_until(lambda: store.outbox_size() == 0)
            link.stop()
            store.close()

            collector = Collector(as_run, db, client_id="bench-collector")
            collector.start()  # the broker now hands it the queued events
            ingest_s = wait_until(lambda: db.count() >= count)
            stored = db.count()

            confirmed = MqttConfig(host="127.0.0.1", port=broker.port, confirm="collector", max_inflight=1000)
            topics, store, _ = fill(directory, "gate-b")
            link = MqttLink(confirmed, store, topics)
            link.start()
            end_to_end_s = wait_until(lambda: store.outbox_size() == 0)
            link.stop()
            store.close()
            collector.stop()
            db.close()
        finally:
            broker.stop()
    def rate(seconds: float | None) -> dict:
        return {"seconds": seconds, "events_per_s": None if seconds is None else count / seconds}

    return {"record": {"seconds": count / record_rate, "events_per_s": record_rate}, "drain": rate(drain_s),
            "ingest": {**rate(ingest_s), "stored": stored}, "confirmed_end_to_end": rate(end_to_end_s)}


if __name__ == "__main__":
    sys.exit(main())
