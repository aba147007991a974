"""`gatepost cards`: residents' cards (numbers kept only as a keyed hash; see edge/cards.py)."""

from __future__ import annotations

import argparse
import datetime

from edge.cli import common
from edge.errors import ConfigError


def cmd_cards_add(args: argparse.Namespace) -> int:
    from edge.cards import CardBook

    if (args.resident is None) == (args.name is None):
        raise ConfigError("resident: give --resident ID (an enrolled resident) or --name (a new one known by the card)")
    with common.store(args) as store:
        book = CardBook(store, common.state_dir(args))
        if args.name is not None:
            resident_id, label = book.enrol_holder(args.name, args.unit, args.number)
            print(f"card {label} is {args.name}'s (resident {resident_id}, known by the card alone)")
            return 0
        resident = next((r for r in store.residents() if r.id == args.resident), None)
        if resident is None:
            raise ConfigError(f"resident: no resident {args.resident} (residents list)")
        label = book.enrol(args.number, resident.id)
    print(f"card {label} is {resident.name}'s")
    return 0


def cmd_cards_list(args: argparse.Namespace) -> int:
    from edge.cards import CardBook

    with common.store(args) as store:
        cards = CardBook(store, common.state_dir(args)).cards()
    if args.json:
        return common.print_json([{"card": c.label, "resident_id": c.resident_id, "name": c.resident_name,
                                   "created": c.created} for c in cards])
    for card in cards:
        created = datetime.datetime.fromtimestamp(card.created).isoformat(timespec="seconds")
        print(f"{card.label}\t{card.resident_id}\t{card.resident_name}\t{created}")
    return 0


def cmd_cards_remove(args: argparse.Namespace) -> int:
    from edge.cards import CardBook

    with common.store(args) as store:
        if not CardBook(store, common.state_dir(args)).remove(args.number):
            raise ConfigError("number: no enrolled card has this number")
    print("card removed: it opens nothing from now on")
    return 0


def register(commands) -> None:
    cards = commands.add_parser("cards", help="residents' cards (Mifare, EM) for the card reader").add_subparsers(
        dest="action", required=True)
    add = cards.add_parser("add", help="give a resident a card (the number is kept only as a keyed hash)")
    add.add_argument("--resident", type=int, help="an enrolled resident's id (residents list)")
    add.add_argument("--name", help="or a new resident known by the card alone (a child, a face that does not enrol)")
    add.add_argument("--unit", default="", help="the new resident's flat or unit (with --name)")
    add.add_argument("--number", required=True, help="the card's number as the reader gives it (digits)")
    add.set_defaults(func=cmd_cards_add)
    listing = cards.add_parser("list", help="cards by their last four digits, with their holders")
    listing.add_argument("--json", action="store_true", help="print JSON instead of a table")
    listing.set_defaults(func=cmd_cards_list)
    remove = cards.add_parser("remove", help="take a card back (lost, or the resident moved out)")
    remove.add_argument("--number", required=True, help="the card's number")
    remove.set_defaults(func=cmd_cards_remove)
