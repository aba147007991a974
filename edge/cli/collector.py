"""`gatepost collector`: the cloud collector, its queries and the operators' fleet view."""

from __future__ import annotations

import argparse
import json
import logging
import os

from collector.identity import CLIENT_ID, GROUP
from edge.cli import common
from edge.cli.logs import setup_logging
from edge.errors import ConfigError

log = logging.getLogger("gatepost")
DB_HELP = "sqlite:///PATH or postgresql://... (default sqlite:///collector.db)"


def cmd_collector_run(args: argparse.Namespace) -> int:
    from collector.database_url import database_address
    from collector.db import CollectorDB
    from collector.service import Collector
    from edge.shutdown import install_signal_handlers

    setup_logging("INFO")
    stop = install_signal_handlers()
    db = CollectorDB(args.db)
    collector = Collector(common.mqtt_config(args), db, group=args.group, client_id=args.client_id,
                          keep_days=args.keep_days or None)
    collector.start()
    log.info("collector %s storing into %s", args.client_id, database_address(args.db))
    stop.wait()
    log.info("stopping (%s)", stop.reason())
    collector.stop()
    db.close()
    return stop.exit_status()


def cmd_collector_events(args: argparse.Namespace) -> int:
    from collector.db import CollectorDB

    db = CollectorDB(args.db)
    for event in db.events(site=args.site, gate=args.gate, kind=args.kind, since=args.since, limit=args.limit):
        print(json.dumps(event, ensure_ascii=False, sort_keys=True))
    db.close()
    return 0


def cmd_collector_stats(args: argparse.Namespace) -> int:
    import datetime

    from collector.db import CollectorDB
    from collector.stats import hourly, with_stage_timings

    db = CollectorDB(args.db)
    rows = hourly(db.events(site=args.site, gate=args.gate, since=args.since, limit=10_000_000))
    rows = with_stage_timings(rows, db.stage_timings(site=args.site, gate=args.gate, since=args.since))
    db.close()
    if args.json:
        print(json.dumps([{"site": r.site, "gate": r.gate, "hour": r.hour, "entries": r.entries,
                           "denials": dict(r.denials), "fevers": r.fevers, "p95_decision_ms": r.p95_decision_ms,
                           "stage_ms": r.stage_ms} for r in rows], indent=2))
        return 0
    print(f"{'site/gate':<28} {'hour (UTC)':<17} {'entries':>7} {'fevers':>6} {'p95 ms':>7}  "
          f"{'stages p50/p95 ms':<36}  denials by reason")
    for r in rows:
        hour = datetime.datetime.fromtimestamp(r.hour, datetime.timezone.utc).strftime("%Y-%m-%d %H:00")
        p95 = f"{r.p95_decision_ms:.0f}" if r.p95_decision_ms is not None else "-"
        stages = " ".join(f"{name} {t['p50']:.0f}/{t['p95']:.0f}" for name, t in r.stage_ms.items()
                          if name != "decision") or "-"
        denials = ", ".join(f"{k} {v}" for k, v in r.denials.most_common()) or "-"
        print(f"{r.site + '/' + r.gate:<28} {hour:<17} {r.entries:>7} {r.fevers:>6} {p95:>7}  {stages:<36}  {denials}")
    return 0


def cmd_collector_web(args: argparse.Namespace) -> int:
    from collector.database_url import database_address
    from collector.db import CollectorDB
    from collector.web.server import FleetServer
    from edge.shutdown import install_signal_handlers

    setup_logging("INFO")
    stop = install_signal_handlers()
    db = CollectorDB(args.db)
    if bool(args.tls_cert) != bool(args.tls_key):
        raise ConfigError("--tls-cert and --tls-key go together")
    server = FleetServer(db, host=args.host, port=args.port, language=args.language,
                         allowed_hosts=tuple(args.allowed_host or ()), public_url=args.public_url or "",
                         tls=(args.tls_cert, args.tls_key) if args.tls_cert else None)
    server.start()
    if server.error:
        db.close()
        raise ConfigError(server.error)
    log.info("fleet view on http://%s:%d/ (database %s)", args.host, server.port, database_address(args.db))
    stop.wait()
    log.info("stopping (%s)", stop.reason())
    server.stop()
    db.close()
    return stop.exit_status()


def cmd_collector_operator_add(args: argparse.Namespace) -> int:
    import getpass

    from collector.db import CollectorDB
    from edge.passwords import hash_secret

    password = os.environ.get("GATEPOST_OPERATOR_PASSWORD") or getpass.getpass("password (12 or more characters): ")
    if len(password) < 12:
        raise ConfigError("password: 12 characters at least")
    db = CollectorDB(args.db)
    db.set_operator(args.name, *hash_secret(password))
    db.close()
    print(f"operator {args.name} can log in to the fleet view")
    return 0


def register(commands) -> None:
    collector = commands.add_parser("collector", help="the cloud collector")
    actions = collector.add_subparsers(dest="action", required=True)
    run = actions.add_parser("run", help="store events from every gate (Ctrl-C or SIGTERM stops it)")
    run.add_argument("--db", default="sqlite:///collector.db", help=DB_HELP)
    run.add_argument("--group", default=GROUP, help="shared-subscription group")
    run.add_argument("--client-id", default=CLIENT_ID,
                     help="this collector's MQTT client id (unique per collector)")
    run.add_argument("--keep-days", type=float, default=90.0,
                     help="drop events older than this (whole days on PostgreSQL; 0 keeps all; default 90)")
    common.broker_options(run, protocol="3.1.1",
                          protocol_help="the collector's MQTT version (default 3.1.1: it needs nothing of v5, and "
                                        "paho's parsing of v5 properties on every message cost it two fifths of its "
                                        "throughput)")
    run.set_defaults(func=cmd_collector_run)
    web = actions.add_parser("web", help="the operators' fleet view (a web page)")
    web.add_argument("--db", default="sqlite:///collector.db", help=DB_HELP)
    web.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    web.add_argument("--port", type=int, default=8090, help="port to listen on (default 8090)")
    web.add_argument("--language", choices=["zh", "en"], default="zh", help="the page's language (default zh)")
    web.add_argument("--allowed-host", action="append",
                     help="a Host header to accept besides the listening address (a reverse proxy's name)")
    web.add_argument("--public-url", help="the https:// address operators use through a TLS reverse proxy (its Origin "
                                          "and Host are accepted; the session cookie is marked Secure)")
    web.add_argument("--tls-cert", help="certificate (PEM) to serve HTTPS with; required to listen off loopback")
    web.add_argument("--tls-key", help="the certificate's private key (PEM)")
    web.set_defaults(func=cmd_collector_web)
    operators = actions.add_parser("operators", help="administrators of the fleet view")
    operator_actions = operators.add_subparsers(dest="operator_action", required=True)
    operator_add = operator_actions.add_parser("add", help="add an operator, or set their password "
                                                          "(from $GATEPOST_OPERATOR_PASSWORD, else asked)")
    operator_add.add_argument("--db", default="sqlite:///collector.db", help=DB_HELP)
    operator_add.add_argument("--name", required=True, help="the operator's login name")
    operator_add.set_defaults(func=cmd_collector_operator_add)
    for name, func in (("events", cmd_collector_events), ("stats", cmd_collector_stats)):
        sub = actions.add_parser(name, help=f"query stored {name}")
        sub.add_argument("--db", default="sqlite:///collector.db", help=DB_HELP)
        sub.add_argument("--site", help="only this site")
        sub.add_argument("--gate", help="only this gate")
        sub.add_argument("--since", type=common.moment, default=0.0,
                         help="from this time: ISO (2026-12-05 or 2026-12-05T08:30, local time) or unix seconds")
        if name == "events":
            sub.add_argument("--kind", help="only this kind: decision, alarm, passage, action")
            sub.add_argument("--limit", type=int, default=100, help="at most this many (default 100)")
        else:
            sub.add_argument("--json", action="store_true", help="print JSON instead of a table")
        sub.set_defaults(func=func)
