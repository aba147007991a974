"""`gatepost passes`: the site's pass key, passes issued and printed, revoked at this gate."""

from __future__ import annotations

import argparse
import sys
from dataclasses import asdict
from pathlib import Path

from edge.cli import common
from edge.errors import ConfigError


def _configured_site(args: argparse.Namespace) -> str:
    found = common.where(args, needs_state=False)
    if found.config_path is None:
        raise ConfigError("site: give --site SITE_ID, or -c FILE to take the config's site.site_id")
    return common.config(args, needs_state=False).site.site_id


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
    site = args.site or _configured_site(args)
    start = time.time() if args.valid_from is None else args.valid_from
    token, claims = issue_pass(private, key_id, site=site, gates=args.gates.split(","),
                               holder=args.holder, valid_from=start, valid_until=start + args.hours * 3600,
                               uses=args.uses, kind=args.kind, group=args.group)
    print(token)
    if args.png:
        segno.make(token, error="m", micro=False).save(args.png, scale=8, border=4)
        print(f"printable QR written to {args.png} (pass {claims.pid} for {claims.holder})", file=sys.stderr)
    return 0


def cmd_passes_revoke(args: argparse.Namespace) -> int:
    with common.store(args) as store:
        store.revoke_pass(args.pass_id)
    print(f"pass {args.pass_id} revoked at this gate (`gatepost admin revoke-pass` revokes it at every gate of a site)")
    return 0


def cmd_passes_list(args: argparse.Namespace) -> int:
    import datetime

    with common.store(args) as store:
        passes = store.passes()
    if args.json:
        return common.print_json([asdict(item) for item in passes])
    for item in passes:
        until = datetime.datetime.fromtimestamp(item.valid_until, datetime.timezone.utc).strftime("%Y-%m-%d %H:%M")
        state = "revoked" if item.revoked else f"{item.uses}/{item.max_uses} used"
        print(f"{item.pass_id}\t{item.holder}\tuntil {until} UTC\t{state}")
    return 0


def register(commands) -> None:
    passes = commands.add_parser("passes", help="visitor and courier passes")
    actions = passes.add_subparsers(dest="action", required=True)
    keygen = actions.add_parser("keygen", help="make the site's pass-signing key")
    keygen.add_argument("--out", required=True, help="write the private key here (keep it secret)")
    keygen.add_argument("--id", required=True, help="key id the gates know this key by")
    keygen.set_defaults(func=cmd_passes_keygen)
    issue = actions.add_parser("issue", help="sign a pass; print it and optionally write a printable QR")
    issue.add_argument("--key", required=True, help="the site's pass-signing key (passes keygen made it)")
    issue.add_argument("--holder", required=True, help="who the pass is for, as the gate records it")
    issue.add_argument("--site", help="the site's site_id (default: the config's)")
    issue.add_argument("--gates", default="*", help="comma-separated gate ids, or * for every gate of the site")
    issue.add_argument("--hours", type=float, default=24.0, help="validity from --valid-from (default 24)")
    issue.add_argument("--valid-from", type=common.moment,
                       help="ISO time (2026-12-05T08:30, local time) or unix seconds (default: now)")
    issue.add_argument("--uses", type=int, default=1, help="passages allowed (default 1)")
    issue.add_argument("--kind", default="visitor", choices=["visitor", "courier", "contractor", "staff"],
                       help="who holds it (default visitor)")
    issue.add_argument("--group", help="access group whose hours the pass is held to (checks.schedule.groups)")
    issue.add_argument("--png", help="write the QR code as a PNG to print")
    issue.set_defaults(func=cmd_passes_issue)
    revoke = actions.add_parser("revoke", help="revoke a pass at this gate")
    revoke.add_argument("pass_id", help="the pass's id (passes list shows it)")
    revoke.set_defaults(func=cmd_passes_revoke)
    listing = actions.add_parser("list", help="passes this gate has seen or revoked")
    listing.add_argument("--json", action="store_true", help="print JSON instead of a table")
    listing.set_defaults(func=cmd_passes_list)
