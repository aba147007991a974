"""`gatepost residents`: enrolment (one person, or a property office's roster), templates, look-alikes."""

from __future__ import annotations

import argparse
import sys
from dataclasses import asdict
from pathlib import Path

from edge.cli import common
from edge.errors import ConfigError


def _engine_and_gallery(args: argparse.Namespace):
    """The face engine and the gallery's owner over this state's database (no follower thread: one process, one go)."""
    from edge.face.gallery import FaceGallery
    from edge.face.setup import build_engine
    from edge.store import Store

    config = common.config(args)
    store = Store(common.state_dir(args))
    gallery = FaceGallery(store, config.face)
    engine = build_engine(config.face, gallery, focal_px=config.hardware.camera.focal_px)
    return engine, gallery, store


def cmd_residents_add(args: argparse.Namespace) -> int:
    from edge.face.photos import enrol_photos

    engine, gallery, store = _engine_and_gallery(args)
    with store:
        resident_id, checked = enrol_photos(engine, gallery, args.name, args.unit, [Path(p) for p in args.photos],
                                            lookalike_of=tuple(args.lookalike_of or ()))
    print(f"enrolled {args.name} (unit {args.unit or '-'}) as resident {resident_id} with "
          f"{len(checked.kept)} of {len(args.photos)} photo(s)")
    for warning in checked.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    return 0


def cmd_residents_import(args: argparse.Namespace) -> int:
    """A roster (CSV or XLSX) or a folder of folders: each row enrolled or refused with its reason, the rest kept."""
    from tqdm import tqdm

    from edge.errors import EnrolmentError
    from edge.face.photos import enrol_photos

    roster = _roster(Path(args.source), Path(args.photos) if args.photos else None, args.unit)
    ready = [row for row in roster.rows if not row.refused]
    refused = [f"{row.label}: {row.refused}" for row in roster.refused]
    enrolled = 0
    if ready:
        engine, gallery, store = _engine_and_gallery(args)
        with store:
            for row in tqdm(ready, desc="enrolling", unit="person", file=sys.stderr):
                try:
                    _, checked = enrol_photos(engine, gallery, row.name, row.unit or args.unit, list(row.photos))
                except EnrolmentError as error:
                    refused.append(f"{row.label}: {error}")
                    continue
                enrolled += 1
                for warning in checked.warnings:
                    print(f"warning: {row.label}: {warning}", file=sys.stderr)
    for line in refused:
        print(f"refused {line}", file=sys.stderr)
    print(f"enrolled {enrolled} of {len(roster.rows)} people" + (f"; {len(refused)} refused (above)" if refused else ""))
    return 0 if not refused else common.EXIT_PARTLY


ROSTER_NAMES = ("roster.csv", "roster.xlsx", "labels.csv")


def _roster(source: Path, photos: Path | None, unit: str):
    """A roster file; a folder holding one (roster.csv, roster.xlsx, labels.csv); or a folder of folders, one per
    person and named after them."""
    from edge.roster import IMAGE_SUFFIXES, Roster, RosterRow, read_roster

    if source.is_file():
        return read_roster(source, photos)
    if not source.is_dir():
        raise ConfigError(f"{source}: no such file or folder")
    for name in ROSTER_NAMES:
        if (source / name).is_file():
            return read_roster(source / name, photos or source)
    people = sorted(p for p in source.iterdir() if p.is_dir())
    if not people:
        raise ConfigError(f"{source}: no roster ({', '.join(ROSTER_NAMES)}) and no sub-folders (one per person)")
    rows = []
    for line, person in enumerate(people, start=1):
        found = tuple(sorted(p for p in person.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES))
        rows.append(RosterRow(line, person.name, unit, found, refused="" if found else "no photos",
                              folder=person.name))
    return Roster(rows)


def cmd_residents_list(args: argparse.Namespace) -> int:
    with common.store(args) as store:
        residents = store.residents()
    if args.json:
        return common.print_json([{"id": r.id, "uid": r.uid, "name": r.name, "unit": r.unit, "templates": r.templates}
                            for r in residents])
    for resident in residents:
        print(f"{resident.id}\t{resident.name}\t{resident.unit}\t{resident.templates} template(s)")
    return 0


def cmd_residents_lookalikes(args: argparse.Namespace) -> int:
    """Pairs of residents whose photos score above the operating threshold against each other."""
    engine, gallery, store = _engine_and_gallery(args)
    with store:
        matcher = gallery.matcher
        names = matcher.gallery.names
        point = matcher.point
        if args.json:
            return common.print_json({"operating_point": point.as_dict(), "margin": matcher.lookalike_margin, "pairs": [
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

    with common.store(args) as store:
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
    fused = _fused(templates) if common.config(args).face.fused_template else []
    if args.json:
        return common.print_json([{**asdict(t), "origin": _origin(t)} for t in templates] + fused)
    for template in templates:
        when = datetime.datetime.fromtimestamp(template.created).isoformat(timespec="seconds")
        print(f"{template.id}\t{template.resident_id}\t{template.name}\t{_origin(template)}\t{when}\t{template.source}")
    for row in fused:
        when = datetime.datetime.fromtimestamp(row["created"]).isoformat(timespec="seconds")
        print(f"-\t{row['resident_id']}\t{row['name']}\tfused\t{when}\tthe mean of enrolment templates "
              f"{', '.join(map(str, row['from']))}, searched too (face.fused_template)")
    return 0


def _origin(template) -> str:
    return "not this person" if template.negative else ("learned" if template.adaptive else "enrolled")


def _fused(templates) -> list[dict]:
    """Each resident's fused template as the gate searches it: derived from their enrolment templates, never stored
    (edge/face/fused.py), so it has no id of its own and goes when they do."""
    from edge.face.fused import FUSED_FROM

    enrolled: dict[int, list] = {}
    for template in templates:
        if not template.negative and not template.adaptive:
            enrolled.setdefault(template.resident_id, []).append(template)
    return [{"id": None, "resident_id": resident_id, "name": photos[0].name, "origin": "fused",
             "created": max(t.created for t in photos), "from": [t.id for t in photos]}
            for resident_id, photos in enrolled.items() if len(photos) >= FUSED_FROM]


def cmd_residents_remove(args: argparse.Namespace) -> int:
    with common.store(args) as store:
        if not store.remove_resident(args.id):
            raise ConfigError(f"id: no resident {args.id}")
    print(f"removed resident {args.id} and their templates")
    return 0


def cmd_residents_group(args: argparse.Namespace) -> int:
    groups = common.config(args).checks.schedule.groups
    if args.group is not None and args.group not in groups:
        print(f"gatepost: group {args.group!r} is not in this gate's checks.schedule.groups "
              f"({', '.join(groups) or 'none'}): this gate will refuse them", file=sys.stderr)
    with common.store(args) as store:
        if not store.set_access_group(args.id, args.group):
            raise ConfigError(f"id: no resident {args.id}")
    print(f"resident {args.id}: " + (f"access group {args.group}" if args.group else "in no access group (always)"))
    return 0


def cmd_residents_number(args: argparse.Namespace) -> int:
    from edge.controller_feed import frame_of

    bits = common.config(args).hardware.wiegand_output.bits
    if args.number is not None:
        try:
            frame_of(args.number, bits)
        except ValueError as error:
            raise ConfigError(str(error)) from None
    with common.store(args) as store:
        if not store.set_controller_number(args.id, args.number):
            raise ConfigError(f"id: no resident {args.id}")
    print(f"resident {args.id}: " + (f"sent to the access controller as {args.number} (Wiegand {bits})"
                                     if args.number is not None else "not sent to the access controller"))
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


def register(commands) -> None:
    residents = commands.add_parser("residents", help="enrol and manage residents")
    actions = residents.add_subparsers(dest="action", required=True)
    add = actions.add_parser("add", help="enrol one resident from photos (refused if they are a resident already)")
    add.add_argument("--name", required=True, help="the resident's name, as guards and the fleet view show it")
    add.add_argument("--unit", default="", help="their flat or unit")
    add.add_argument("--lookalike-of", type=int, action="append", metavar="ID",
                     help="a resident they are known to resemble (a twin): enrolled anyway, the pair held to a "
                          "stricter margin (repeatable)")
    add.add_argument("photos", nargs="+", help="photos of their face (three or more recognise best; a group photo "
                                               "gives the face that matches the others)")
    add.set_defaults(func=cmd_residents_add)
    imp = actions.add_parser("import", help="enrol many: a roster (CSV or XLSX: name, unit, phone, photos or "
                                            "folder) or a folder of one sub-folder of photos per person")
    imp.add_argument("source", help="roster.csv / roster.xlsx, a folder holding one, or a folder of folders")
    imp.add_argument("--photos", help="folder the roster's photo paths are relative to (default: the roster's)")
    imp.add_argument("--unit", default="", help="unit for rows (or folders) that name none")
    imp.set_defaults(func=cmd_residents_import)
    listing = actions.add_parser("list", help="list residents")
    listing.add_argument("--json", action="store_true", help="print JSON instead of a table")
    listing.set_defaults(func=cmd_residents_list)
    lookalikes = actions.add_parser("lookalikes", help="pairs of residents who look alike to the face check")
    lookalikes.add_argument("--json", action="store_true", help="print JSON instead of a table")
    lookalikes.set_defaults(func=cmd_residents_lookalikes)
    templates = actions.add_parser("templates", help="templates with their origin (enrolled, learned from a visit, "
                                                     "not this person, fused) and date; remove one")
    templates.add_argument("--id", type=int, help="only this resident's")
    templates.add_argument("--remove", type=int, metavar="TEMPLATE", help="remove this template")
    templates.add_argument("--json", action="store_true", help="print as JSON")
    templates.set_defaults(func=cmd_residents_templates)
    remove = actions.add_parser("remove", help="remove a resident and their templates")
    remove.add_argument("id", type=int, help="the resident's id (residents list shows it)")
    remove.set_defaults(func=cmd_residents_remove)
    group = actions.add_parser("group", help="put a resident in an access group (checks.schedule), or in none")
    group.add_argument("id", type=int, help="the resident's id (residents list shows it)")
    group.add_argument("group", nargs="?", default=None, help="the group's name (none given: in no group, always)")
    group.set_defaults(func=cmd_residents_group)
    number = actions.add_parser("number", help="the number a Wiegand output sends when the resident is let in "
                                               "(hardware.wiegand_output), or none")
    number.add_argument("id", type=int, help="the resident's id (residents list shows it)")
    number.add_argument("number", nargs="?", type=int, default=None,
                        help="facility x 65536 + card, as the controller knows it (none given: not sent)")
    number.set_defaults(func=cmd_residents_number)
    negative = actions.add_parser("not-this-person", help="keep a wrongly matched face as a negative template")
    negative.add_argument("id", type=int, help="the resident the face was wrongly matched to")
    negative.add_argument("photo", help="a photo of the face that is not them")
    negative.set_defaults(func=cmd_residents_not_this_person)
