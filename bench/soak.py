"""Soak: a visitor every 1.5 s for an hour while faults come and go; nothing may be lost.

    python bench/soak.py [--minutes M] [--fault-every S] [--fault-length S] [--runs N] [--json PATH] [--quick]

A supervisor (this script) runs a private Mosquitto, a collector, an emulated LCUS relay board on
a pty, and `gatepost run` on a simulated rush. On a schedule it stops and restarts the broker,
drops the camera stream, freezes the thermal sensor and unplugs and replugs the relay board, in
turn, and in the last slot SIGKILLs the daemon (then, like systemd's ExecStopPost and
Restart=always, drives the relay off and starts it again): one daemon process lives through
nearly the whole soak, so its memory growth covers all of it. Per fault it prints the time to
detect, the time to recover after the fault ended, the decisions made meanwhile, the relay pulses
between the fault's start and its recovery and whether each had a granted decision recorded just
before; then events lost (daemon store against collector), event messages the collector received
more than once, and the daemon's memory. With `--runs N` it soaks N times, each from scratch, and
adds a table of the median and range over the runs.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import yaml

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
for path in (str(ROOT), str(HERE)):
    if path not in sys.path:
        sys.path.insert(0, path)

from common import finish, parser, spread, table  # noqa: E402

FAULTS = ("broker", "camera", "thermal", "relay", "kill")


@dataclass
class FaultRecord:
    kind: str
    at: float  # seconds into the soak
    started: float  # wall clock
    ended: float | None = None
    detected: float | None = None
    recovered: float | None = None
    decisions: int = 0
    pulses: int = 0  # relay switched on between the fault's start and its recovery
    opened_without_decision: bool = False  # one of those pulses had no granted decision recorded just before

    def row(self) -> tuple:
        detect = None if self.detected is None else self.detected - self.started
        recover = None if self.recovered is None or self.ended is None else max(0.0, self.recovered - self.ended)
        return (self.kind, round(self.at, 1), _fmt(detect), _fmt(recover), self.decisions, self.pulses,
                "no" if self.opened_without_decision else "yes")


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


@dataclass
class Soak:
    workdir: Path
    minutes: float
    fault_every: float
    fault_length: float
    records: list[FaultRecord] = field(default_factory=list)
    rss: list[tuple[int, float, float]] = field(default_factory=list)  # (pid, time, MB)
    boards: list = field(default_factory=list)  # every relay board plugged in, for its log

    def run(self) -> dict:
        from collector.db import CollectorDB
        from collector.service import Collector
        from edge.config import MqttConfig
        from tests.broker import Broker
        from tests.emulators import LcusBoard

        from gate_latency import build_rush

        import numpy as np

        work = self.workdir
        broker = Broker(work / "broker").start()
        db = CollectorDB(f"sqlite:///{work}/collector.db")
        collector = Collector(MqttConfig(host="127.0.0.1", port=broker.port), db, client_id="soak-collector")
        collector.start()
        board = LcusBoard(channels=1)
        self.boards.append(board)
        relay_link = work / "relay-port"
        os.symlink(board.port, relay_link)
        visitors = int(self.minutes * 60 / 1.5) + 10
        scenario = build_rush(visitors, np.random.default_rng(3), work)
        data = yaml.safe_load(scenario.read_text())
        config = {"state_dir": str(work / "state"), "ui": {"enabled": False},
                  "mqtt": {"port": broker.port, "telemetry_interval_s": 5, "redeliver_after_s": 5},
                  "hardware": {"relay": {"driver": "lcus", "port": str(relay_link)}},
                  "simulation": {"scenario": str(scenario), "realtime": True, "loop": True}}
        for key, value in data.pop("config", {}).items():
            config.setdefault(key, {}).update(value)
        scenario.write_text(yaml.safe_dump(data, sort_keys=False))
        config_path = work / "gate.yaml"
        config_path.write_text(yaml.safe_dump(config))
        cli = [sys.executable, "-m", "edge.cli", "-c", str(config_path)]
        log = open(work / "daemon.log", "a")

        def start_daemon():
            return subprocess.Popen(cli + ["run"], cwd=ROOT, stdout=log, stderr=log)

        def status() -> dict | None:
            from edge.control import send
            from edge.errors import GatepostError

            try:
                return send(work / "state", {"command": "status"}, timeout=1.0)
            except GatepostError:
                return None

        def sim(**flags) -> None:
            from edge.control import send

            send(work / "state", {"command": "sim", **flags}, timeout=2.0)

        daemon = start_daemon()
        deadline = time.time() + 120
        while status() is None and time.time() < deadline:
            time.sleep(0.2)
        begin = time.time()
        end = begin + self.minutes * 60
        schedule = self._schedule(begin, end)
        active: FaultRecord | None = None
        try:
            while time.time() < end:
                now = time.time()
                if daemon.poll() is not None:  # the supervisor's job: relay off, then start again
                    subprocess.run(cli + ["relay-off"], cwd=ROOT, capture_output=True)
                    daemon = start_daemon()
                current = status()
                if current is not None:
                    try:
                        self.rss.append((daemon.pid, now, psutil.Process(daemon.pid).memory_info().rss / 2**20))
                    except psutil.Error:
                        pass
                if active is None and schedule and now >= schedule[0][0]:
                    _, kind = schedule.pop(0)
                    active = FaultRecord(kind, now - begin, now)
                    self._inject(kind, True, broker=broker, board=board, daemon=daemon, sim=sim)
                    if kind == "kill":
                        active.detected = time.time()
                        active.ended = active.detected
                        daemon.wait()
                elif active is not None:
                    self._observe(active, current, now)
                    if active.ended is None and now >= active.started + self.fault_length:
                        if active.kind == "relay":  # plugged back in: a new pty behind the same path
                            board = LcusBoard(channels=1)
                            self.boards.append(board)
                            os.replace(self._new_link(board, work), relay_link)
                        else:
                            self._inject(active.kind, False, broker=broker, board=board, daemon=daemon, sim=sim)
                        active.ended = time.time()
                    if active.recovered is not None or (active.ended and now > active.ended + 60):
                        self.records.append(active)
                        active = None
                time.sleep(0.2)
            if active is not None:
                self.records.append(active)
        finally:
            daemon.send_signal(signal.SIGTERM)
            try:
                daemon.wait(timeout=60)
            except subprocess.TimeoutExpired:
                daemon.kill()
            log.close()
        from edge.store import Store

        with Store(work / "state") as store:
            recorded = {e["event_id"]: e for e in store.events(limit=10_000_000)}
            left_in_outbox = store.outbox_size()
        settle = time.time() + 60
        while time.time() < settle and db.count() < len(recorded):
            time.sleep(0.2)
        stored = {e["event_id"] for e in db.events(limit=10_000_000)}
        events_received = collector.events_received  # event messages only, not telemetry or status
        collector.stop()
        db.close()
        broker.stop()
        for plugged in self.boards:
            plugged.close()
        self._count_decisions(recorded)
        self._check_locked(recorded)
        lost = [event_id for event_id in recorded if event_id not in stored]
        return {"minutes": self.minutes, "events_recorded": len(recorded), "events_lost": len(lost),
                "left_in_outbox": left_in_outbox, "faults": [vars(r) | {"row": r.row()} for r in self.records],
                "rss": self._rss_summary(), "events_delivered_twice": max(0, events_received - len(stored))}

    def _schedule(self, begin: float, end: float) -> list[tuple[float, str]]:
        """The device faults in turn, and the kill in the last slot: one daemon lives through (nearly)
        the whole soak, so its memory growth is measured over the whole of it."""
        times = []
        t = begin + min(20.0, self.fault_every)
        while t + self.fault_length + 5 < end:
            times.append(t)
            t += self.fault_every
        kinds = [FAULTS[i % (len(FAULTS) - 1)] for i in range(len(times) - 1)] + ["kill"] if times else []
        return list(zip(times, kinds))

    @staticmethod
    def _new_link(board, work: Path) -> Path:
        temporary = work / "relay-port.new"
        if temporary.is_symlink():
            temporary.unlink()
        os.symlink(board.port, temporary)
        return temporary

    def _inject(self, kind: str, on: bool, *, broker, board, daemon, sim) -> None:
        if kind == "broker":
            broker.stop() if on else broker.start()
        elif kind == "camera":
            sim(camera_dropped=on)
        elif kind == "thermal":
            sim(thermal_frozen=on)
        elif kind == "relay" and on:
            board.unplug()
        elif kind == "kill" and on:
            os.kill(daemon.pid, signal.SIGKILL)

    def _observe(self, record: FaultRecord, current: dict | None, now: float) -> None:
        device = {"broker": "mqtt", "camera": "camera", "thermal": "thermal", "relay": "relay"}.get(record.kind)
        if record.kind == "kill":
            if current is not None and record.recovered is None:
                record.recovered = now
            return
        if current is None:
            return
        faulty = device in current["faults"]
        if faulty and record.detected is None:
            record.detected = now
        if record.ended is not None and not faulty and record.detected is not None and record.recovered is None:
            record.recovered = now

    def _check_locked(self, recorded: dict) -> None:
        """For every fault: each time the board saw the relay switched on, from the fault's start to its
        recovery, a granted decision must have been recorded just before (the gate never opens undecided)."""
        switched_on = [when for board in self.boards for (channel, on), when in zip(board.log.states, board.log.times)
                       if on]
        grants = sorted(e["time"] for e in recorded.values() if e["kind"] == "decision" and e.get("granted"))
        for record in self.records:
            until = max(filter(None, (record.recovered, record.ended, record.started)))
            pulses = [t for t in switched_on if record.started <= t <= until]
            record.pulses = len(pulses)
            record.opened_without_decision = any(not any(t - 1.0 <= g <= t + 0.05 for g in grants) for t in pulses)

    def _count_decisions(self, recorded: dict) -> None:
        decisions = sorted(e["time"] for e in recorded.values() if e["kind"] == "decision" and e.get("source") == "pipeline")
        for record in self.records:
            until = record.ended or record.started
            record.decisions = sum(1 for t in decisions if record.started <= t <= until)

    def _rss_summary(self) -> dict:
        by_pid: dict[int, list[tuple[float, float]]] = {}
        for pid, when, mb in self.rss:
            by_pid.setdefault(pid, []).append((when, mb))
        longest = max(by_pid.values(), key=lambda samples: samples[-1][0] - samples[0][0]) if by_pid else []
        if not longest:
            return {}
        life = longest[-1][0] - longest[0][0]
        warm = min(60.0, 0.1 * life)  # model arenas and frame caches fill in the first minute
        start = [mb for when, mb in longest if when >= longest[0][0] + warm] or [longest[0][1]]
        return {"start_mb": start[0], "end_mb": longest[-1][1],
                "growth_percent": 100.0 * (longest[-1][1] - start[0]) / start[0],
                "process_minutes": (longest[-1][0] - longest[0][0]) / 60}


def run_soak(workdir: Path, *, minutes: float, fault_every: float, fault_length: float) -> dict:
    return Soak(workdir, minutes, fault_every, fault_length).run()


def main() -> int:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--minutes", type=float, default=None, help="length (default 60, quick 0.75)")
    p.add_argument("--fault-every", type=float, default=None, help="seconds between faults (default 120, quick 7)")
    p.add_argument("--fault-length", type=float, default=None, help="how long each fault lasts (default 8, quick 3)")
    p.add_argument("--runs", type=int, default=1, help="soaks one after another, each from scratch (default 1)")
    args = p.parse_args()
    minutes = args.minutes or (0.75 if args.quick else 60.0)
    fault_every = args.fault_every or (7.0 if args.quick else 120.0)
    args.fault_length = args.fault_length or (3.0 if args.quick else 8.0)
    results = []
    for number in range(args.runs):
        with tempfile.TemporaryDirectory(prefix="gatepost-soak-") as scratch:
            result = run_soak(Path(scratch), minutes=minutes, fault_every=fault_every, fault_length=args.fault_length)
        results.append(result)
        print_run(result, f"Soak {number + 1} of {args.runs}: {minutes:g} min, a visitor every 1.5 s, a fault "
                          f"every {fault_every:g} s lasting {args.fault_length:g} s")
    if len(results) > 1:
        print_spread(results)
    finish(args, results[0] if len(results) == 1 else {"runs": results})
    return 0


def print_run(result: dict, title: str) -> None:
    print(table(title, [f["row"] for f in result["faults"]],
                ("fault", "at s", "detect s", "recover s", "decisions", "pulses", "every pulse had a decision")))
    rss = result["rss"]
    print(f"\nevents recorded {result['events_recorded']}, lost {result['events_lost']}, "
          f"event messages delivered more than once (stored once) {result['events_delivered_twice']}")
    if rss:
        print(f"daemon RSS {rss['start_mb']:.0f} MB -> {rss['end_mb']:.0f} MB ({rss['growth_percent']:+.1f} %) "
              f"over {rss['process_minutes']:.1f} min of its longest-lived process")
    print()


def print_spread(results: list[dict]) -> None:
    def seconds(fault: dict, end: str, start: str) -> float | None:
        return None if fault[end] is None or fault[start] is None else max(0.0, fault[end] - fault[start])

    rows = []
    for kind in FAULTS:
        faults = [f for r in results for f in r["faults"] if f["kind"] == kind]
        if faults:
            rows.append((kind, len(faults), spread([seconds(f, "detected", "started") for f in faults]),
                         spread([seconds(f, "recovered", "ended") for f in faults]),
                         sum(1 for f in faults if f["opened_without_decision"])))
    print(table(f"Faults over {len(results)} soaks: median (min to max)", rows,
                ("fault", "times", "detect s", "recover s", "pulses without a decision")))
    figures = [("events recorded", "events_recorded"), ("events lost", "events_lost"),
               ("delivered more than once", "events_delivered_twice")]
    rows = [(label, spread([r[key] for r in results])) for label, key in figures]
    rows.append(("daemon RSS growth, %", spread([r["rss"]["growth_percent"] for r in results if r["rss"]])))
    print(table(f"Over {len(results)} soaks: median (min to max)", rows, ("figure", "value")))


if __name__ == "__main__":
    sys.exit(main())
