"""The EU DCC test suite through gatepost's decoder and verifier: matched / total per field.

    python bench/dcc_suite.py [--data DIR] [--json PATH] [--quick] [--show N]
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from common import ROOT, finish, parser, table

DEFAULT = ROOT.parent / "shared" / "data" / "dcc-testdata"


def main() -> int:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--data", default=str(DEFAULT), help="dgc-testdata checkout")
    p.add_argument("--show", type=int, default=5, help="mismatches listed per field")
    args = p.parse_args()
    root = Path(args.data)
    if not root.is_dir():
        print(f"dcc_suite: {root} not found; pass --data DIR", file=sys.stderr)
        return 1
    from edge.qr.dcc_suite import run_suite
    from edge.qr.decode import FrameDecoder

    started = time.perf_counter()
    result = run_suite(root, FrameDecoder())
    elapsed = time.perf_counter() - started
    rows = []
    for name, tally in result["fields"].items():
        share = f"{100 * tally.matched / tally.total:.1f} %" if tally.total else "-"
        rows.append((name, f"{tally.matched}/{tally.total}", share, f"{tally.known_matched}/{tally.known_total}",
                     tally.untestable))
    print(table(f"EU DCC test suite: {result['cases']} cases in {elapsed:.1f} s",
                rows, ("field", "matched", "share", "known issues matched", "untestable")))
    for name, tally in result["fields"].items():
        for line in tally.mismatches[: args.show]:
            print(f"  {name}: {line}")
    finish(args, {"cases": result["cases"], "seconds": elapsed, "unreadable_files": result["unreadable_files"],
                  "fields": {name: {"matched": t.matched, "total": t.total, "known_matched": t.known_matched,
                                    "known_total": t.known_total, "untestable": t.untestable,
                                    "mismatches": t.mismatches}
                             for name, t in result["fields"].items()}})
    return 0


if __name__ == "__main__":
    sys.exit(main())
