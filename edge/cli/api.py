"""`gatepost api`: the integrators' tokens (the API itself is served by the daemon when `api.enabled`)."""

from __future__ import annotations

import argparse
import datetime

from edge.cli import common
from edge.errors import ConfigError


def cmd_tokens_add(args: argparse.Namespace) -> int:
    from edge.api_tokens import issue

    with common.store(args) as store:
        try:
            token = issue(store, args.name, args.scope)
        except ValueError as error:
            raise ConfigError(str(error)) from None
    print(token)
    print(f"token for {args.name} ({', '.join(args.scope)}): shown once, keep it secret; "
          "`gatepost api tokens revoke ID` ends it", flush=True)
    return 0


def cmd_tokens_list(args: argparse.Namespace) -> int:
    with common.store(args) as store:
        tokens = store.tokens()
    rows = [{"id": t.token_id, "name": t.name, "scopes": list(t.scopes), "created": t.created, "revoked": t.revoked}
            for t in tokens]
    if args.json:
        return common.print_json(rows)
    for token in tokens:
        created = datetime.datetime.fromtimestamp(token.created).isoformat(timespec="seconds")
        print(f"{token.token_id}\t{token.name}\t{' '.join(token.scopes)}\t{created}\t"
              f"{'revoked' if token.revoked else 'live'}")
    return 0


def cmd_tokens_revoke(args: argparse.Namespace) -> int:
    with common.store(args) as store:
        if not store.revoke_token(args.id):
            raise ConfigError(f"id: no live token {args.id}")
    print(f"token {args.id} revoked: its next call is refused")
    return 0


def register(commands) -> None:
    from edge.api_tokens import SCOPES

    api = commands.add_parser("api", help="the integrators' HTTP API: tokens")
    groups = api.add_subparsers(dest="group", required=True)
    tokens = groups.add_parser("tokens", help="API tokens, each with its scopes").add_subparsers(
        dest="action", required=True)
    add = tokens.add_parser("add", help="make a token (printed once; only its hash is kept)")
    add.add_argument("--name", required=True, help="who holds it (the property platform), as events record it")
    add.add_argument("--scope", action="append", required=True, choices=sorted(SCOPES),
                     help="what it may do (repeatable): " + "; ".join(f"{k} {v}" for k, v in SCOPES.items()))
    add.set_defaults(func=cmd_tokens_add)
    listing = tokens.add_parser("list", help="tokens, live and revoked (never their secrets)")
    listing.add_argument("--json", action="store_true", help="print JSON instead of a table")
    listing.set_defaults(func=cmd_tokens_list)
    revoke = tokens.add_parser("revoke", help="end a token at once")
    revoke.add_argument("id", help="the token's id (the part after gp_, before the second _)")
    revoke.set_defaults(func=cmd_tokens_revoke)
