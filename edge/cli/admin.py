"""`gatepost admin`: the administrators' signed console over MQTT."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from edge.cli import common
from edge.errors import ConfigError

CONSOLE_COMMANDS = ("status, open, residents.list, residents.add, residents.remove, events.query, config.get, "
                    "config.set, passes.list, passes.revoke, trustlist.update, api.tokens.add, api.tokens.list, "
                    "api.tokens.revoke, cards.add, cards.list, cards.remove, residents.group")


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

    with AdminClient(common.mqtt_config(args), Path(args.key), site=args.site, gate=args.gate) as admin:
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

    config = common.config(args, needs_state=False)
    empty = Gallery(np.zeros((0, 0), np.float32), np.zeros(0, np.int64), np.zeros(0, bool), {}, 0)
    engine = build_engine(config.face, empty)
    templates = [engine.template_from_photo(read_image(p), source=p)[0] for p in args.photos]
    uid = args.uid or uuid.uuid4().hex
    with AdminClient(common.mqtt_config(args), Path(args.key), site=args.site) as admin:
        admin.publish_record(resident_record(uid, args.name, args.unit, templates, config.face.pack))
    print(f"resident {args.name} ({uid}) published to every gate of site {args.site}; photos stayed here")
    return 0


def cmd_admin_unenrol(args: argparse.Namespace) -> int:
    from edge.admin import AdminClient, removal_record

    with AdminClient(common.mqtt_config(args), Path(args.key), site=args.site) as admin:
        admin.publish_record(removal_record(args.uid))
    print(f"resident {args.uid} removed from every gate of site {args.site}")
    return 0


def cmd_admin_revoke_pass(args: argparse.Namespace) -> int:
    from edge.admin import AdminClient

    with AdminClient(common.mqtt_config(args), Path(args.key), site=args.site) as admin:
        admin.revoke_pass(args.pass_id)
    print(f"pass {args.pass_id} revoked at every gate of site {args.site} (gates offline now follow on reconnect)")
    return 0


def cmd_admin_group(args: argparse.Namespace) -> int:
    from edge.admin import AdminClient, record_version
    from edge.config import read_yaml
    from edge.mqtt.site_groups import group_record

    data = read_yaml(Path(args.file)) or {}
    if not isinstance(data, dict) or not isinstance(data.get("name"), str):
        raise ConfigError(f"{args.file}: expected a mapping with the group's name")
    unknown = set(data) - {"name", "gates", "weekly", "holidays", "verification"}
    if unknown:
        raise ConfigError(f"{args.file}: unknown field {sorted(unknown)[0]!r}")
    try:
        record = group_record(data["name"], record_version(), gates=data.get("gates"), weekly=data.get("weekly"),
                              holidays={str(day): mode for day, mode in (data.get("holidays") or {}).items()},
                              verification=data.get("verification"))
    except ValueError as error:
        raise ConfigError(f"{args.file}: {error}") from None
    with AdminClient(common.mqtt_config(args), Path(args.key), site=args.site) as admin:
        admin.publish_group(record)
    print(f"access group {record['name']} set at the gates {', '.join(record['gates'])} of site {args.site}")
    return 0


def cmd_admin_remove_group(args: argparse.Namespace) -> int:
    from edge.admin import AdminClient, record_version
    from edge.mqtt.site_groups import group_record

    try:
        record = group_record(args.name, record_version(), removed=True)
    except ValueError as error:
        raise ConfigError(str(error)) from None
    with AdminClient(common.mqtt_config(args), Path(args.key), site=args.site) as admin:
        admin.publish_group(record)
    print(f"access group {args.name} removed at every gate of site {args.site}")
    return 0


def register(commands) -> None:
    admin = commands.add_parser("admin", help="the administrators' console over MQTT")
    actions = admin.add_subparsers(dest="action", required=True)
    keygen = actions.add_parser("keygen", help="make an administrator key pair")
    keygen.add_argument("--out", required=True, help="write the private key here (keep it secret)")
    keygen.add_argument("--id", required=True, help="key id the gates know this key by")
    keygen.set_defaults(func=cmd_admin_keygen)
    for name, func, text in (("send", cmd_admin_send, "sign a command, send it to a gate and print the reply"),
                             ("sign", cmd_admin_sign, "print a signed command (for mosquitto_pub)")):
        sub = actions.add_parser(name, help=text)
        sub.add_argument("name", help=f"command: {CONSOLE_COMMANDS}")
        sub.add_argument("--args", default="{}", help="command arguments as a JSON object")
        _signer(sub)
        sub.add_argument("--gate", required=True, help="the gate's gate_id")
        sub.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for the reply")
        common.broker_options(sub)
        sub.set_defaults(func=func)
    enrol = actions.add_parser("enrol", help="enrol a resident at every gate of a site (templates only leave)")
    enrol.add_argument("--name", required=True, help="the resident's name")
    enrol.add_argument("--unit", default="", help="their flat or unit")
    enrol.add_argument("--uid", help="update this resident instead of adding one")
    _signer(enrol)
    enrol.add_argument("photos", nargs="+", help="photos of their face (read here; only templates are sent)")
    common.broker_options(enrol)
    enrol.set_defaults(func=cmd_admin_enrol)
    unenrol = actions.add_parser("unenrol", help="remove a resident from every gate of a site")
    unenrol.add_argument("uid", help="the resident's uid (residents.list shows it)")
    _signer(unenrol)
    common.broker_options(unenrol)
    unenrol.set_defaults(func=cmd_admin_unenrol)
    revoke = actions.add_parser("revoke-pass", help="revoke a visitor pass at every gate of a site")
    revoke.add_argument("pass_id", help="the pass's id (printed when it was issued)")
    _signer(revoke)
    common.broker_options(revoke)
    revoke.set_defaults(func=cmd_admin_revoke_pass)
    group = actions.add_parser("group", help="set an access group (hours, holidays, verification, gates) site-wide")
    group.add_argument("file", help="YAML: name, gates (default all), weekly, holidays, verification")
    _signer(group)
    common.broker_options(group)
    group.set_defaults(func=cmd_admin_group)
    remove_group = actions.add_parser("remove-group", help="remove an access group site-wide")
    remove_group.add_argument("name", help="the group's name")
    _signer(remove_group)
    common.broker_options(remove_group)
    remove_group.set_defaults(func=cmd_admin_remove_group)


def _signer(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--key", required=True, help="the administrator's private key (admin keygen made it)")
    parser.add_argument("--site", required=True, help="the site's site_id")
