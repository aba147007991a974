"""`gatepost thermal`: registering the cameras, the site's learned offset, clinical rechecks."""

from __future__ import annotations

import argparse
import json
import os
from dataclasses import asdict
from pathlib import Path

from edge.cli import common
from edge.errors import ConfigError


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

        config, path = common.config(args), common.where(args).config_path
        set_value((read_yaml(path) or {}) if path else {}, config, "hardware.thermal.homography", rows)
        print(f"written to {overrides_path(config.state_dir)} (hardware.thermal.homography; the daemon reads it at start)")
    else:
        print(yaml.safe_dump({"hardware": {"thermal": {"homography": rows}}}, sort_keys=False), end="")
    return 0


def _site_calibration(args: argparse.Namespace, store):
    from edge.thermal_calibration import SiteCalibration

    return SiteCalibration(store, common.config(args).hardware.thermal.recheck)


def cmd_thermal_calibration(args: argparse.Namespace) -> int:
    """The site's offset learned from rechecks: in force now, its history, and (--revert N) undoing a change."""
    import datetime

    from edge.thermal_calibration import RecheckRefused

    with common.store(args) as store:
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

    config = common.config(args)
    with common.store(args) as store:
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


def register(commands) -> None:
    thermal = commands.add_parser("thermal", help="thermal camera tools")
    actions = thermal.add_subparsers(dest="action", required=True)
    calibrate = actions.add_parser("calibrate", help="register the colour camera onto the thermal image")
    calibrate.add_argument("--points", help="CSV with rgb_x, rgb_y, thermal_x, thermal_y (4 rows or more)")
    calibrate.add_argument("--targets", help="folder of heated-target frame pairs: NAME.png + NAME.npy (°C)")
    calibrate.add_argument("--write", action="store_true", help="keep the homography in the state directory's "
                                                                "overrides (the operator's file is not touched)")
    calibrate.set_defaults(func=cmd_thermal_calibrate)
    calibration = actions.add_parser("calibration", help="the site's temperature offset learned from rechecks: in "
                                                         "force, history, revert")
    calibration.add_argument("--revert", type=int, metavar="CHANGE",
                             help="undo this change (a new change in the history)")
    calibration.add_argument("--actor", default=os.environ.get("USER", "cli"), help="who, for the history")
    calibration.add_argument("--json", action="store_true", help="print the offset and history as JSON")
    calibration.set_defaults(func=cmd_thermal_calibration)
    recheck = actions.add_parser("recheck", help="record a clinical thermometer reading of a visit's person")
    recheck.add_argument("visit_id", help="the visit, as its decision event names it")
    recheck.add_argument("temperature_c", type=float, help="the clinical reading, °C")
    recheck.add_argument("--actor", default=os.environ.get("USER", "cli"), help="who measured, for the history")
    recheck.set_defaults(func=cmd_thermal_recheck)
