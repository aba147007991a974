"""A city of gates on one machine: light gates -> Mosquitto (passwords + ACL) -> collectors -> PostgreSQL.

    python bench/fleet.py [--gates N] [--collectors K] [--rush S] [--backlog E] [--drains D] [--month]
                          [--json PATH] [--quick]

Every simulated gate speaks the gate's real protocol (tests/fleet.py): its own user and ACL
block, status with a last will, decisions and alarms at QoS 1 kept until a collector confirms
them on the gate's ack topic (sent again after 10 s otherwise), telemetry at QoS 0. The phases:

1. connect: every gate connects and says "online"; connections held, the broker's memory.
2. rush: each gate decides every 1.5 s for S seconds. Lag = a row's commit time in PostgreSQL
   minus the event's time at its gate; confirmation = the collector's ack back at the gate.
3. capacity, one collector: each gate flushes a backlog (as after an outage); events/s = events
   stored / seconds from the first publish to the last row committed. Then the drain: the same
   backlog queued at the broker while the collector was stopped, drained by one collector process
   alone (the gates idle, their confirmations read after), D times, the collector on a core of its own
   and everything else on the other cores: one collector process's pace on one core, not what a
   simulator of 2,000 gates leaves it on a 2-core machine. Then with K collectors.
4. faults: a rush during which one collector is SIGKILLed (and restarted, as systemd would) and
   PostgreSQL is restarted; then lost = events the gates made that are not stored (must be 0).
5. with --month: a month of 100 gates (about 3 million rows) is loaded, and the fleet view's
   API is timed on it (each request five times; the clock covers the HTTP round trip).

CPU is in percent of one core over each phase, per part (the simulated gates are this process).
"""

from __future__ import annotations

import os
import random
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import psutil

from common import ROOT, finish, parser, percentile, spread, table

sys.path.insert(0, str(ROOT))

PASSWORD = "fleet-bench-password"
RUSH_PERIOD_S = 1.5


def raise_file_limit(wanted: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(wanted, hard), hard))


def gate_names(count: int) -> list[tuple[str, str]]:
    """Communities of one to four gates, as a city has them."""
    names, site = [], 0
    rng = random.Random(1)
    while len(names) < count:
        site += 1
        for gate in range(1, rng.randint(1, 4) + 1):
            names.append((f"c{site:05d}", f"g{gate}"))
    return names[:count]


def write_auth(directory: Path, names: list[tuple[str, str]]) -> tuple[Path, Path]:
    """One user and one ACL block per gate (the README's layout), plus the collectors' user."""
    passwords = directory / "passwd"
    users = [f"{site}.{gate}" for site, gate in names] + ["collector"]
    passwords.write_text("".join(f"{user}:{PASSWORD}\n" for user in users))
    subprocess.run(["mosquitto_passwd", "-U", str(passwords)], check=True)
    blocks = [f"user {site}.{gate}\ntopic write gatepost/{site}/{gate}/#\ntopic read gatepost/{site}/{gate}/ack\n"
              f"topic read gatepost/{site}/{gate}/cmd/#\ntopic read gatepost/{site}/residents/#\n"
              f"topic read gatepost/{site}/passes/#\ntopic read gatepost/{site}/+/pass_uses/#\n"
              for site, gate in names]
    blocks.append("user collector\ntopic read gatepost/#\ntopic write gatepost/+/+/ack\n")
    acl = directory / "acl"
    acl.write_text("\n".join(blocks))
    return passwords, acl


class Parts:
    """The processes of the tier, for CPU and memory per part."""

    def __init__(self, broker_pid: int, postgres_pid: int, collectors: dict[str, subprocess.Popen]) -> None:
        self.broker = psutil.Process(broker_pid)
        self.postgres_pid = postgres_pid
        self.collectors = collectors
        self.me = psutil.Process()

    def _tree(self, name: str) -> list[psutil.Process]:
        if name == "broker":
            return [self.broker]
        if name == "gates (this process)":
            return [self.me]
        if name == "postgresql":
            try:
                return psutil.Process(self.postgres_pid).children(recursive=True)
            except psutil.Error:
                return []
        return self.of_collectors()

    def of_collectors(self) -> list[psutil.Process]:
        return [psutil.Process(p.pid) for p in self.collectors.values() if p.poll() is None]

    def others(self) -> list[psutil.Process]:
        """Broker, PostgreSQL (the server and its backends) and this process."""
        return [self.broker, self.me, *self._tree("postgresql"), psutil.Process(self.postgres_pid)]

    def sample(self) -> dict[str, tuple[float, float]]:
        """part -> (CPU seconds so far, RSS MB now)"""
        found = {}
        for name in ("broker", "collectors", "postgresql", "gates (this process)"):
            cpu, rss = 0.0, 0.0
            for process in self._tree(name):
                try:
                    times = process.cpu_times()
                    cpu += times.user + times.system
                    rss += process.memory_info().rss / 2**20
                except psutil.Error:
                    pass
            found[name] = (cpu, rss)
        return found


def pin(processes: list[psutil.Process], cpus: set[int]) -> None:
    """Every thread of these processes onto `cpus` (new threads and forked children inherit it)."""
    for process in processes:
        try:
            for thread in process.threads():
                os.sched_setaffinity(thread.id, cpus)
        except (psutil.Error, OSError):
            pass  # a PostgreSQL backend that ended meanwhile


def usage(before: dict, after: dict, seconds: float) -> dict[str, dict[str, float]]:
    return {name: {"cpu_percent": 100.0 * max(0.0, after[name][0] - before[name][0]) / seconds,
                   "rss_mb": after[name][1]} for name in after}


class Bench:
    def __init__(self, work: Path, args) -> None:
        from tests.broker import Broker
        from tests.postgres import postgres_server

        self.work, self.args = work, args
        self.names = gate_names(args.gates)
        passwords, acl = write_auth(work, self.names)
        listener = (f"listener {{port}} 127.0.0.1\nallow_anonymous false\npassword_file {passwords}\n"
                    f"acl_file {acl}\nmax_connections -1\n")
        self.broker = Broker(work / "broker", listener=listener).start()
        self.postgres = postgres_server()
        self.config = work / "collector.yaml"
        self.config.write_text(f"mqtt:\n  host: 127.0.0.1\n  port: {self.broker.port}\n  username: collector\n")
        self.collectors: dict[str, subprocess.Popen] = {}
        self.parts: Parts | None = None

    def start_collector(self, name: str, cpus: set[int] | None = None) -> None:
        """A collector process as `gatepost collector run` (its defaults), on `cpus` if given."""
        log = open(self.work / f"{name}.log", "ab")  # noqa: SIM115 - kept open for the child's life
        self.collectors[name] = subprocess.Popen(
            [sys.executable, "-m", "edge.cli", "-c", str(self.config), "collector", "run", "--db", self.postgres.url,
             "--client-id", name, "--keep-days", "0"], cwd=ROOT, stdout=log, stderr=log,
            env={**os.environ, "GATEPOST_MQTT_PASSWORD": PASSWORD},
            preexec_fn=(lambda: os.sched_setaffinity(0, cpus)) if cpus else None)

    def wait_subscribed(self, name: str, timeout: float = 60.0) -> None:
        """A collector is ready once its log says it stores (its subscription follows at once)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if b"storing into" in (self.work / f"{name}.log").read_bytes():
                time.sleep(1.0)  # the SUBACK
                return
            time.sleep(0.1)
        raise RuntimeError(f"{name} did not start: {(self.work / f'{name}.log').read_text()[-2000:]}")

    def close(self) -> None:
        for process in self.collectors.values():
            process.terminate()
        for process in self.collectors.values():
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
        self.broker.stop()
        self.postgres.stop()


def stored_count(db) -> int:
    """Rows stored; the bench's own connection reopens after a database restart."""
    for _ in range(20):
        try:
            return db.count()
        except Exception:
            time.sleep(0.5)
    return db.count()


def run(args) -> dict:
    from collector.db import CollectorDB
    from tests.fleet import Fleet, LightGate

    raise_file_limit(4 * args.gates + 1024)
    results: dict = {"gates": args.gates, "collectors": args.collectors}
    with tempfile.TemporaryDirectory(prefix="gatepost-fleet-") as scratch:
        bench = Bench(Path(scratch), args)
        try:
            db = CollectorDB(bench.postgres.url)
            bench.start_collector("collector-1")
            bench.wait_subscribed("collector-1")
            bench.parts = Parts(bench.broker.process.pid, bench.postgres.process.pid, bench.collectors)
            gates = [LightGate(site, gate, "127.0.0.1", bench.broker.port, username=f"{site}.{gate}",
                               password=PASSWORD, redeliver_after_s=10.0, seed=n)
                     for n, (site, gate) in enumerate(bench.names)]
            fleet = Fleet(gates)

            before, started = bench.parts.sample(), time.monotonic()
            connected = fleet.connect(timeout=300)
            seconds = time.monotonic() - started
            fleet.run_for(2.0)
            results["connect"] = {"connected": connected, "seconds": seconds,
                                  "refused": sum(1 for g in gates if g.refused),
                                  "usage": usage(before, bench.parts.sample(), seconds)}
            print(f"connected {connected} of {len(gates)} gates in {seconds:.1f} s")

            results["rush"] = rush(bench, fleet, db, args.rush)
            print(f"rush done: {results['rush']['stored']} stored")
            results["capacity_1"] = capacity(bench, fleet, db, args.backlog, "one collector")
            results["drain"] = drains(bench, fleet, db, args.backlog, args.drains)  # before a second collector joins
            for number in range(2, args.collectors + 1):
                bench.start_collector(f"collector-{number}")
                bench.wait_subscribed(f"collector-{number}")
            if args.collectors > 1:
                results["capacity_k"] = capacity(bench, fleet, db, args.backlog, f"{args.collectors} collectors")
            results["faults"] = faults(bench, fleet, db, args.rush)
            made = sum(g.made for g in gates)
            results["lost"] = {"made": made, "stored": stored_count(db), "unconfirmed": sum(len(g.pending) for g in gates)}
            fleet.close()
            if args.month:
                results["month"] = month(bench, db)
            db.close()
        finally:
            bench.close()
    return results


def rush(bench: Bench, fleet, db, seconds: float) -> dict:
    since = time.time()
    stored_before = stored_count(db)
    confirmed_before = sum(len(g.confirm_lag_s) for g in fleet.gates)
    before, started = bench.parts.sample(), time.monotonic()
    fleet.run_for(seconds, every_s=RUSH_PERIOD_S, telemetry_s=30.0)
    after, elapsed = bench.parts.sample(), time.monotonic() - started
    fleet.settle(60)
    stored_count(db)
    lag = db.lag(since=since)
    confirm = [lag_s for g in fleet.gates for lag_s in g.confirm_lag_s[confirmed_before:]]
    stored = stored_count(db) - stored_before
    return {"seconds": elapsed, "stored": stored, "events_per_s": stored / elapsed,
            "lag_s": {"p50": percentile(lag, 50), "p95": percentile(lag, 95), "max": max(lag, default=float("nan"))},
            "confirm_s": {"p50": percentile(confirm, 50), "p95": percentile(confirm, 95)},
            "usage": usage(before, after, elapsed)}


def capacity(bench: Bench, fleet, db, backlog: int, label: str) -> dict:
    """Every gate publishes its share of `backlog` events at once; the clock runs to the last row stored."""
    stored_before = stored_count(db)
    per_gate = max(1, backlog // len(fleet.gates))
    before, began = bench.parts.sample(), time.time()
    for _ in range(per_gate):
        for gate in fleet.gates:
            gate.event()
        fleet.pump(0.0)
    total = per_gate * len(fleet.gates)
    wait_stored(fleet, db, stored_before + total)
    after = bench.parts.sample()
    elapsed = db.batches(since=began)[-1][0] - began  # to the last batch's write, not to when the bench looked
    fleet.settle(60)
    stored = stored_count(db) - stored_before
    print(f"capacity with {label}: {stored} events in {elapsed:.1f} s")
    return {"label": label, "events": total, "stored": stored, "seconds": elapsed, "events_per_s": stored / elapsed,
            "usage": usage(before, after, elapsed)}


def drains(bench: Bench, fleet, db, backlog: int, runs: int) -> dict:
    """`runs` drains with the collector process on a core of its own (CPU 0) and the broker, PostgreSQL and
    the simulated gates on the others: what one collector process does with one core, which is what the
    capacity table counts, not what is left to it beside a simulator on a 2-core machine."""
    everything = set(range(os.cpu_count() or 1))
    own, others = ({0}, everything - {0}) if len(everything) > 1 else (None, everything)
    rest = bench.parts.others()
    if own:
        pin(rest, others)
    try:
        measured = [drain(bench, fleet, db, backlog, own) for _ in range(runs)]
    finally:
        pin(rest + bench.parts.of_collectors() + bench.parts.others(), everything)
    rates = [m["events_per_s"] for m in measured]
    return {"runs": measured, "events_per_s": statistics.median(rates), "min": min(rates), "max": max(rates),
            "spread": spread(rates), "pinned": bool(own),
            "usage": sorted(measured, key=lambda m: m["events_per_s"])[len(measured) // 2]["usage"]}  # the median run's


def drain(bench: Bench, fleet, db, backlog: int, cpus: set[int] | None) -> dict:
    """The collector's own pace: with it stopped, every gate publishes its share of `backlog` and the broker
    queues them in the collector's persistent session; then one collector process starts and drains the
    queue. The simulated gates are not read meanwhile (the broker still sends each its confirmations, which
    wait in its socket and are read after): reading them cost this process 38-41 % of a core, which no real
    collector shares. Sustained = rows from the first commit to the last over
    that time (the process's start-up, under a second, is reported apart)."""
    collector = bench.collectors["collector-1"]
    collector.terminate()  # a clean stop: its session (and subscription) stays with the broker
    collector.wait(timeout=30)
    stored_before = stored_count(db)
    acknowledged_before = sum(g.broker_acknowledged for g in fleet.gates)
    per_gate = max(1, backlog // len(fleet.gates))
    for _ in range(per_gate):
        for gate in fleet.gates:
            gate.event()
        fleet.pump(0.0)
    total = per_gate * len(fleet.gates)
    deadline = time.monotonic() + 300
    while sum(g.broker_acknowledged for g in fleet.gates) - acknowledged_before < total:
        if time.monotonic() > deadline:
            raise RuntimeError("the broker did not take the backlog")
        fleet.pump(0.05)
    before, began = bench.parts.sample(), time.time()
    bench.start_collector("collector-1", cpus)
    wait_stored(fleet, db, stored_before + total, read_gates=False)
    after, finished = bench.parts.sample(), time.time()
    batches = db.batches(since=began)
    for _ in range(100):  # the confirmations waiting in the gates' sockets, before any gate thinks of resending
        fleet.pump(0.01)
    fleet.settle(60)
    stored = sum(rows for _, rows in batches)
    # from the first batch's write to the last one's: every batch but the last was written in between
    sustained = (stored - batches[-1][1]) / max(batches[-1][0] - batches[0][0], 1e-9)
    print(f"drain: {stored} queued events stored in {batches[-1][0] - began:.1f} s, {sustained:.0f} events/s sustained")
    return {"events": total, "stored": stored, "seconds": batches[-1][0] - began, "startup_s": batches[0][0] - began,
            "batches": len(batches), "events_per_s": sustained, "usage": usage(before, after, finished - began)}


def wait_stored(fleet, db, rows: int, timeout: float = 600.0, *, read_gates: bool = True) -> None:
    """Until the database holds `rows`, pumping the gates unless told not to; counting is a scan, so it is
    done twice a second."""
    deadline = time.monotonic() + timeout
    while stored_count(db) < rows and time.monotonic() < deadline:
        until = time.monotonic() + 0.5
        while read_gates and time.monotonic() < until:
            fleet.pump(0.02)
        if not read_gates:
            time.sleep(0.5)


def faults(bench: Bench, fleet, db, seconds: float) -> dict:
    """A rush with a collector SIGKILLed (restarted at once) and PostgreSQL restarted, then everything settles."""
    stored_before = stored_count(db)
    made_before = sum(g.made for g in fleet.gates)
    fleet.run_for(seconds / 3, every_s=RUSH_PERIOD_S)
    victim = bench.collectors["collector-1"]
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    bench.start_collector("collector-1")
    fleet.run_for(seconds / 3, every_s=RUSH_PERIOD_S)
    bench.postgres.stop_server()
    fleet.run_for(5.0, every_s=RUSH_PERIOD_S)
    bench.postgres.start_server()
    bench.parts = Parts(bench.broker.process.pid, bench.postgres.process.pid, bench.collectors)
    fleet.run_for(seconds / 3, every_s=RUSH_PERIOD_S)
    started = time.monotonic()
    settled = fleet.settle(300)
    made = sum(g.made for g in fleet.gates) - made_before
    stored = stored_count(db) - stored_before
    print(f"faults: {made} made, {stored} stored, settled in {time.monotonic() - started:.1f} s")
    return {"made": made, "stored": stored, "settled": settled, "settle_s": time.monotonic() - started,
            "resent": sum(g.resent for g in fleet.gates)}


def month(bench: Bench, db) -> dict:
    """A month of 100 gates straight into the database, then the fleet view's API timed on it."""
    from collector.web.server import FleetServer
    from edge.passwords import hash_secret

    rng = random.Random(5)
    now = time.time()
    start = now - 30 * 86400
    total, batch = 0, []
    began = time.monotonic()
    count = 100 * 30 * 1000  # 100 gates, 30 days, 1,000 events a gate a day
    for n in range(count):
        site, gate = f"m{n % 25:03d}", f"g{n % 4 + 1}"
        when = start + (now - start) * n / count
        granted = rng.random() < 0.88
        event = {"event_id": f"m{n:08d}", "site": site, "gate": gate, "time": when, "kind": "decision",
                 "granted": granted, "source": "pipeline", "resident_id": rng.randrange(1, 3000),
                 "reason_codes": [] if granted else [rng.choice(["unknown_face", "fever", "no_code"])],
                 "latency_ms": 200.0}
        if rng.random() < 0.01:
            event = {"event_id": f"m{n:08d}", "site": site, "gate": gate, "time": when, "kind": "alarm",
                     "alarm": rng.choice(["fever", "spoof", "tailgate"])}
        batch.append(event)
        if len(batch) == 5000:
            total += db.insert_events(batch)
            batch = []
    total += db.insert_events(batch)
    load_s = time.monotonic() - began
    print(f"month loaded: {total} rows in {load_s:.0f} s")
    db.set_operator("bench", *hash_secret("bench password 1"))
    server = FleetServer(db, port=0)
    server.start()
    url = f"http://127.0.0.1:{server.port}"
    login = urllib.request.Request(url + "/api/login", data=b'{"name": "bench", "password": "bench password 1"}',
                                   headers={"Content-Type": "application/json", "Origin": url}, method="POST")
    with urllib.request.urlopen(login, timeout=10) as response:
        cookie = response.headers["Set-Cookie"].split(";")[0]
    pages = {"gates": "/api/gates", "alarms": "/api/alarms", "hourly, all, 24 h": "/api/hourly?hours=24",
             "hourly, one gate, 7 days": "/api/hourly?hours=168&site=m001&gate=g2",
             "chart svg, denials, 7 days": "/api/chart.svg?hours=168&chart=denials",
             "search: one resident": "/api/events?resident=1234",
             "search: one gate, one day": f"/api/events?site=m003&gate=g4&since={now - 86400:.0f}",
             "search: alarms": "/api/events?kind=alarm"}
    timings = {}
    for name, path in pages.items():
        samples = []
        for _ in range(5):
            started = time.perf_counter()
            with urllib.request.urlopen(urllib.request.Request(url + path, headers={"Cookie": cookie}),
                                        timeout=30) as response:
                response.read()
            samples.append((time.perf_counter() - started) * 1000)
        timings[name] = {"median_ms": statistics.median(samples), "max_ms": max(samples)}
    server.stop()
    return {"rows": db.count(), "loaded": total, "load_s": load_s, "pages": timings}


def usage_rows(figures: dict) -> list[tuple]:
    return [(name, round(u["cpu_percent"]), round(u["rss_mb"])) for name, u in figures["usage"].items()]


def main() -> int:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--gates", type=int, default=None, help="simulated gates (default 2000, quick 200)")
    p.add_argument("--collectors", type=int, default=2, help="collector processes (default 2)")
    p.add_argument("--rush", type=float, default=None, help="seconds of each rush (default 60, quick 10)")
    p.add_argument("--backlog", type=int, default=None, help="events of each capacity phase (default 40000, quick 4000)")
    p.add_argument("--drains", type=int, default=None, help="drains to measure (default 3, quick 1)")
    p.add_argument("--month", action="store_true", help="also time the fleet view on a month of 100 gates (3 M rows)")
    args = p.parse_args()
    args.gates = args.gates or (200 if args.quick else 2000)
    args.rush = args.rush or (10.0 if args.quick else 60.0)
    args.backlog = args.backlog or (4000 if args.quick else 40000)
    args.drains = args.drains or (1 if args.quick else 3)
    results = run(args)

    connect = results["connect"]
    print()
    print(table(f"Connections: {connect['connected']} of {args.gates} gates held (passwords + ACL), "
                f"in {connect['seconds']:.1f} s", usage_rows(connect), ("part", "CPU %", "RSS MB")))
    r = results["rush"]
    print()
    print(table(f"Rush: {args.gates} gates, one decision each every {RUSH_PERIOD_S} s, {r['seconds']:.0f} s",
                [("events stored / s", round(r["events_per_s"])),
                 ("lag, gate event to row committed, p50 / p95 / max s",
                  f"{r['lag_s']['p50']:.3f} / {r['lag_s']['p95']:.3f} / {r['lag_s']['max']:.3f}"),
                 ("confirmation back at the gate, p50 / p95 s",
                  f"{r['confirm_s']['p50']:.3f} / {r['confirm_s']['p95']:.3f}")], ("figure", "value")))
    print(table("", usage_rows(r), ("part", "CPU %", "RSS MB")))
    for key in ("capacity_1", "capacity_k"):
        if key in results:
            c = results[key]
            print()
            print(table(f"Capacity, {c['label']}: {c['stored']} of {c['events']} backlog events, "
                        f"{c['events_per_s']:.0f} events/s into PostgreSQL ({c['seconds']:.1f} s)",
                        usage_rows(c), ("part", "CPU %", "RSS MB")))
    d = results["drain"]
    where = "on a core of its own (the rest on the others)" if d["pinned"] else "sharing the machine"
    print()
    print(table(f"Drain, one collector process alone {where}: {d['runs'][0]['events']} events queued at the broker "
                f"each time, events/s sustained", [(n + 1, run["stored"], round(run["events_per_s"]),
                                                    round(run["startup_s"], 1)) for n, run in enumerate(d["runs"])],
                ("run", "stored", "events/s", "first row after start, s")))
    print(f"median (min-max) of {len(d['runs'])}: {d['spread']} events/s")
    print(table("the median run's usage", usage_rows(d), ("part", "CPU %", "RSS MB")))
    f, lost = results["faults"], results["lost"]
    print()
    print(table("Faults: a collector SIGKILLed mid-rush and PostgreSQL restarted", [
        ("events made during the faults", f["made"]), ("stored", f["stored"]),
        ("every gate confirmed within 300 s", "yes" if f["settled"] else "NO"),
        ("events sent again by gates (no confirmation in 10 s)", f["resent"]),
        ("whole run: made / stored / lost", f"{lost['made']} / {lost['stored']} / {lost['made'] - lost['stored']}")],
        ("figure", "value")))
    if "month" in results:
        m = results["month"]
        print()
        print(table(f"Fleet view on {m['rows']} rows (a month of 100 gates), 5 requests each",
                    [(name, round(t["median_ms"], 1), round(t["max_ms"], 1)) for name, t in m["pages"].items()],
                    ("request", "median ms", "max ms")))
    finish(args, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
