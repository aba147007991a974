"""`gatepost`: the daemon and the tools around it. Errors print one line each and exit non-zero.

Each command group lives in its own module and registers its own arguments; this one only puts them together.
"""

from __future__ import annotations

import argparse
import sys

from edge.cli.common import DEFAULT_CONFIG
from edge.errors import GatepostError
from edge.shutdown import EXIT_INTERRUPTED

EXIT_CODES = """exit codes:
  0    done
  1    refused or failed: the one-line message says why (configuration, device, state database, ...)
  2    the command line itself is wrong (usage)
  3    partly done: some items were refused (residents import), listed on stderr
  130  interrupted (Ctrl-C)

Commands that act on a gate say on stderr which config and state folder they used. Without -c they take
$GATEPOST_CONFIG, then the installed /etc/gatepost/gatepost.yaml, then the one running daemon."""


def build_parser() -> argparse.ArgumentParser:
    from edge import __version__
    from edge.cli import admin, api, cards, collector, gate, guards, passes, residents, thermal

    parser = argparse.ArgumentParser(prog="gatepost", description="Checkpoint gate daemon and tools.",
                                     epilog=EXIT_CODES, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"gatepost {__version__}")
    parser.add_argument("-c", "--config", help=f"YAML configuration (default: $GATEPOST_CONFIG, {DEFAULT_CONFIG}, "
                                               "or the running daemon's)")
    parser.add_argument("--state-dir", help="state folder (default: the config's state_dir); also accepted after "
                                            "any command")
    commands = parser.add_subparsers(dest="command", required=True)
    for group in (gate, residents, thermal, guards, passes, cards, admin, api, collector):
        group.register(commands)
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
                    sub.add_argument("--state-dir", default=argparse.SUPPRESS,
                                     help="state folder (default: the config's state_dir)")
                _state_dir_everywhere(sub)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except GatepostError as error:
        print(f"gatepost: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("gatepost: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
