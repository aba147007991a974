"""Mutation testing of the modules that decide, guard and store: how many small deliberate bugs ship green.

Runs mutmut (settings under [tool.mutmut] in pyproject.toml: the modules, and the tests that
state their rules) and reports, per module, the mutants the tests killed and those that survived.
A mutant that no selected test reaches counts as a survivor: nothing would have caught it. Lines
where every mutant is equivalent (log wording, say) carry `# pragma: no mutate` and a reason.

    python bench/mutation.py            # every module (more than 4 hours on 2 cores; the target: <= 5 % in each)
    python bench/mutation.py --quick    # the policy only
    python bench/mutation.py --list     # also name each survivor (`mutmut show NAME` shows its diff)
    python bench/mutation.py --module edge.mqtt.link   # one module again
    python bench/mutation.py --mutants 'collector.service.x_event_from*'   # only mutants whose names match
"""

from __future__ import annotations

import fnmatch
import json
import os
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from common import ROOT, finish, parser, table

QUICK_MODULES = ("edge.decision",)
TARGET_SURVIVING = 0.05  # in every module, not only over all of them
CAUGHT = {"killed", "timeout", "caught by type check", "segfault"}
MISSED = {"survived", "no tests"}


def mutmut() -> str:
    found = shutil.which("mutmut", path=str(Path(sys.executable).parent)) or shutil.which("mutmut")
    if found is None:
        sys.exit("mutmut is not installed: pip install -e '.[bench]'")
    return found


def run_mutmut(modules: tuple[str, ...] | None, patterns: tuple[str, ...] = ()) -> float:
    if (ROOT / "mutants").exists():
        shutil.rmtree(ROOT / "mutants")  # a fresh copy: results of an older tree would be mixed in
    started = time.monotonic()
    names = list(patterns) or ([f"{module}.*" for module in modules] if modules else [])
    environment = {**os.environ, "GATEPOST_SHARED": str(ROOT.parent / "shared")}  # the tests run from mutants/
    subprocess.run([mutmut(), "run", *names], cwd=ROOT, check=True, stdout=subprocess.DEVNULL, env=environment)
    return time.monotonic() - started


def statuses() -> dict[str, str]:
    from mutmut.stats import status_by_exit_code

    found: dict[str, str] = {}
    for meta in (ROOT / "mutants").rglob("*.py.meta"):
        for name, exit_code in json.loads(meta.read_text())["exit_code_by_key"].items():
            found[name] = status_by_exit_code[exit_code]
    return found


def module_of(mutant: str) -> str:
    """The module a mutant's name (or a pattern of names, `collector.db.*` too) belongs to."""
    return mutant.split(".x\u01c1", 1)[0].split(".x_", 1)[0].removesuffix(".*")


def summarise(found: dict[str, str], modules: tuple[str, ...] | None) -> list[dict]:
    by_module: dict[str, Counter] = {}
    for name, status in found.items():
        module = module_of(name)
        if modules and module not in modules:
            continue
        by_module.setdefault(module, Counter())[status] += 1
    rows = []
    for module, counts in sorted(by_module.items()):
        total = sum(counts.values())
        missed = sum(counts[s] for s in MISSED)
        checked = total - counts["not checked"]
        rows.append({"module": module, "mutants": total, "killed": sum(counts[s] for s in CAUGHT),
                     "survived": counts["survived"], "no_tests": counts["no tests"],
                     "not_checked": counts["not checked"],
                     "other": checked - missed - sum(counts[s] for s in CAUGHT),
                     "surviving_share": missed / checked if checked else 0.0})
    return rows


def main() -> None:
    arguments = parser("Mutation testing of the modules that decide, guard and store (mutmut).")
    arguments.add_argument("--list", action="store_true", help="name every surviving mutant")
    arguments.add_argument("--report-only", action="store_true", help="report the last run without running again")
    arguments.add_argument("--module", action="append", help="only this module (e.g. edge.mqtt.link); repeatable")
    arguments.add_argument("--mutants", action="append", default=[],
                           help="only mutants whose names match this glob (a module's functions); repeatable")
    args = arguments.parse_args()
    patterns = tuple(args.mutants)
    modules = tuple(sorted({module_of(p) for p in patterns})) if patterns else \
        tuple(args.module) if args.module else QUICK_MODULES if args.quick else None
    seconds = None if args.report_only else run_mutmut(modules, patterns)
    found = {name: status for name, status in statuses().items()
             if not patterns or any(fnmatch.fnmatchcase(name, p) for p in patterns)}
    rows = summarise(found, modules)
    keys = ("mutants", "killed", "survived", "no_tests", "other", "not_checked")
    total = {key: sum(row[key] for row in rows) for key in keys}
    checked = total["mutants"] - total["not_checked"]
    share = (total["survived"] + total["no_tests"]) / checked if checked else 0.0
    print(table("Mutants per module (survived: the tests passed with the bug in; no tests: none reached it; "
                "other: suspicious or interrupted)",
                [(r["module"], *(r[key] for key in keys), f"{100 * r['surviving_share']:.1f} %") for r in rows]
                + [("all", *(total[key] for key in keys), f"{100 * share:.1f} %")],
                ("module", "mutants", "killed", "survived", "no tests", "other", "not checked", "surviving")))
    if patterns:
        print("only the mutants matching: " + ", ".join(patterns) + " (the rest of each module not run)")
    over = [r["module"] for r in rows if r["surviving_share"] > TARGET_SURVIVING]
    print(f"\ntarget: at most {100 * TARGET_SURVIVING:.0f} % surviving in every module; "
          f"{'met' if not over else 'NOT met: ' + ', '.join(over)}"
          + (f"; run took {seconds / 60:.1f} min" if seconds is not None else ""))
    survivors = sorted(name for name, status in found.items()
                       if status in MISSED and (not modules or module_of(name) in modules))
    if args.list:
        print("\nsurvivors (mutmut show NAME):")
        print("\n".join(f"  {name} ({found[name]})" for name in survivors))
    finish(args, {"modules": rows, "patterns": list(patterns), "total": total, "surviving_share": share, "target": TARGET_SURVIVING, "over": over,
                  "run_s": seconds, "survivors": survivors})


if __name__ == "__main__":
    main()
