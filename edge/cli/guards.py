"""`gatepost guards`: who may log in at the touchscreen."""

from __future__ import annotations

import argparse

from edge.cli import common
from edge.errors import ConfigError


def cmd_guards_add(args: argparse.Namespace) -> int:
    import getpass

    from edge.store import Store
    from edge.guards import GuardBook

    config = common.config(args)
    pin = args.pin or getpass.getpass("PIN (4-12 digits): ")
    with Store(common.state_dir(args)) as store:
        book = GuardBook(store, max_failures=config.ui.max_pin_failures, lockout_s=config.ui.lockout_s)
        try:
            book.add(args.id, args.name, pin)
        except ValueError as error:
            raise ConfigError(str(error)) from None
    print(f"guard {args.id} ({args.name}) can log in at the touchscreen")
    return 0


def cmd_guards_remove(args: argparse.Namespace) -> int:
    with common.store(args) as store:
        if not store.remove_guard(args.id):
            raise ConfigError(f"id: no guard {args.id}")
    print(f"guard {args.id} removed; their touchscreen sessions end at their next request")
    return 0


def cmd_guards_list(args: argparse.Namespace) -> int:
    with common.store(args) as store:
        guards = [{"guard_id": g.guard_id, "name": g.name} for g in store.guards()]  # never the PIN hash
    if args.json:
        return common.print_json(guards)
    for guard in guards:
        print(f"{guard['guard_id']}\t{guard['name']}")
    return 0


def register(commands) -> None:
    guards = commands.add_parser("guards", help="guards who use the touchscreen")
    actions = guards.add_subparsers(dest="action", required=True)
    add = actions.add_parser("add", help="add a guard, or change their name or PIN")
    add.add_argument("--id", required=True, help="the guard's id, typed at the touchscreen's login")
    add.add_argument("--name", required=True, help="the guard's name, as events record it")
    add.add_argument("--pin", help="4-12 digits (asked for when left out; stored only as a hash)")
    add.set_defaults(func=cmd_guards_add)
    listing = actions.add_parser("list", help="list guards")
    listing.add_argument("--json", action="store_true", help="print JSON instead of a table")
    listing.set_defaults(func=cmd_guards_list)
    remove = actions.add_parser("remove", help="remove a guard (their PIN and sessions stop working)")
    remove.add_argument("--id", required=True, help="the guard's id")
    remove.set_defaults(func=cmd_guards_remove)
