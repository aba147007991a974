"""1:N identification as NIST FRVT measures it: FNIR at fixed FPIR by gallery size, and the gate's own point.

    python bench/face_identification.py [--data DIR ...] [--enrol K ...] [--seeds S] [--no-fused] [--json PATH] [--quick]

Each DIR holds a `labels.csv` (image, identity[, pose]); by default the project's shared photos
and, when prepared (bench/face_data.py), the CFP and CelebA development sets in the cache.
Per seed, a fifth of the people (and everyone with too few usable photos) are strangers; of
the rest, galleries of growing size are enrolled with K photos each. Every other photo of an
enrolled person is a mated search, every photo of a stranger a non-mated one. A photo the
quality gate refuses counts as a miss when mated (NIST's failure to extract) and as a correct
refusal when not. Profile photos are left out by default (`--poses`): the gate waits for a
frontal face. FNIR at an FPIR the non-mated searches cannot resolve (fewer than 3 / FPIR of
them) is printed as n/a, never extrapolated. The gate's own operating point is derived from
each enrolled gallery alone, exactly as a gate derives it, and then measured. A resident with two
photos or more is searched as the gate searches them, with their photos' mean too
(edge/face/fused.py; `--no-fused`: the photos alone).
"""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from common import ROOT, finish, parser, peak_rss_mb, table
from face_data import cache_dir
from face_embeddings import FaceSet, concat, label_conflicts, load_set, same_people
from face_visits import MISS_CAUSES, gallery_rows

if TYPE_CHECKING:
    from edge.store import Gallery

FPIRS = (1e-2, 1e-3, 1e-4)
GALLERY_SIZES = (100, 250, 500, 1000, 2000, 5000)
STRANGER_SHARE = 0.2


def default_data() -> list[Path]:
    candidates = [ROOT.parent / "shared" / "data" / "faces", cache_dir() / "cfp", cache_dir() / "celeba"]
    return [path for path in candidates if (path / "labels.csv").is_file()]


def development_faces(data: list[str] | None, poses: str, *, quick: bool, program: str):
    """The development sets' photos embedded (cached), with label errors and other poses left out and one person
    under two labels merged: (faces, folders, label conflicts, other poses' photos, aliases); None, with a line
    saying why, when a data folder is missing."""
    folders = [Path(d) for d in data] if data else default_data()
    missing = [str(f) for f in folders if not (f / "labels.csv").is_file()]
    if missing or not folders:
        print(f"{program}: no labels.csv in {', '.join(missing) or 'any data folder'}; see bench/face_data.py",
              file=sys.stderr)
        return None
    from edge.config import FaceConfig
    from edge.face.setup import build_engine
    from edge.store import Gallery
    from models import MODELS_DIR

    engine = build_engine(FaceConfig(), Gallery(np.zeros((0, 0), np.float32), np.zeros(0, np.int64),
                                                np.zeros(0, bool), {}, 0))
    faces = concat([load_set(folder, engine, models_dir=MODELS_DIR, limit=600 if quick else None)
                    for folder in folders])
    conflicts = label_conflicts(faces)
    wanted = poses.split(",")
    profile = faces.select(~np.isin(faces.poses, wanted))
    faces = faces.select(np.isin(faces.poses, wanted) & ~conflicts)
    aliases = same_people(faces)
    faces = FaceSet(np.array([aliases.get(i, i) for i in faces.identities]), faces.images, faces.poses,
                    faces.embeddings, faces.refused)
    return faces, folders, conflicts, profile, aliases


def per_resident(scores: np.ndarray, owners: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each probe's best score against each resident (residents sorted), from scores against templates."""
    order = np.argsort(owners, kind="stable")
    residents, start = np.unique(owners[order], return_index=True)
    return residents, np.maximum.reduceat(scores[:, order], start, axis=1)


def top_two(residents: np.ndarray, matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per probe: best resident, their score, and the runner-up resident's score."""
    if matrix.shape[1] == 1:
        return residents[np.zeros(len(matrix), int)], matrix[:, 0], np.full(len(matrix), -1.0)
    two = np.argpartition(-matrix, 1, axis=1)[:, :2]
    first = np.take_along_axis(matrix, two, axis=1)
    best_index = np.where(first[:, 1] > first[:, 0], two[:, 1], two[:, 0])
    return residents[best_index], first.max(axis=1), first.min(axis=1)


class Searches:
    """Mated and non-mated searches of one gallery, reduced to what any threshold needs.

    Non-mated searches are the strangers' photos and, as FRVT does when strangers are few, every
    mated photo searched again with its own person left out of the gallery (leave-one-out).
    """

    def __init__(self, faces: FaceSet, gallery: np.ndarray, mated: np.ndarray, nonmated: np.ndarray,
                 fused: tuple[np.ndarray, np.ndarray] | None = None) -> None:
        owners, embeddings = gallery_rows(faces, gallery, fused)
        usable_mated = mated & ~faces.refused
        usable_non = nonmated & ~faces.refused
        self.mated_total = int(mated.sum())
        self.mated_refused = int((mated & faces.refused).sum())
        self.nonmated_total = int(nonmated.sum()) + self.mated_total
        self.nonmated_refused = int((nonmated & faces.refused).sum()) + self.mated_refused
        residents, matrix = per_resident(faces.embeddings[usable_mated] @ embeddings.T, owners)
        who, self.mated_best, self.mated_second = top_two(residents, matrix)
        self.mated_right = who == faces.identities[usable_mated]
        own = residents[None, :] == faces.identities[usable_mated][:, None]
        _, loo_best, loo_second = top_two(residents, np.where(own, -2.0, matrix))
        _, non_best, non_second = top_two(*per_resident(faces.embeddings[usable_non] @ embeddings.T, owners))
        self.non_best = np.concatenate([non_best, loo_best])
        self.non_second = np.concatenate([non_second, loo_second])

    def fpir(self, threshold: float, margin: float) -> float:
        accepted = (self.non_best >= threshold) & (self.non_best - self.non_second >= margin)
        return float(accepted.sum() / max(1, self.nonmated_total))

    def fnir(self, threshold: float, margin: float) -> float:
        hit = self.mated_right & (self.mated_best >= threshold) & (self.mated_best - self.mated_second >= margin)
        return 1.0 - float(hit.sum() / max(1, self.mated_total))

    def threshold_at(self, fpir: float, margin: float) -> float | None:
        """The lowest threshold whose measured FPIR is at most `fpir`; None if the searches cannot tell."""
        if self.nonmated_total < 3 / fpir:
            return None
        candidates = np.sort(self.non_best[self.non_best - self.non_second >= margin])[::-1]
        allowed = int(math.floor(fpir * self.nonmated_total))
        if allowed >= len(candidates):
            return -1.0
        return float(np.nextafter(np.float32(candidates[allowed]), np.float32(2.0)))


def fused_templates(faces: FaceSet, gallery: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Each resident's fused template as the gate makes it (edge/face/fused.py): (owners, embeddings), or None."""
    from edge.face.fused import with_fused
    from edge.store import Gallery

    people, owners = np.unique(faces.identities[gallery], return_inverse=True)
    plain = Gallery(faces.embeddings[gallery], owners.astype(np.int64), np.zeros(len(owners), bool), {}, 1)
    fused = with_fused(plain)
    added = slice(len(owners), len(fused.owners))
    return (people[fused.owners[added]], fused.embeddings[added]) if len(fused.owners) > len(owners) else None


def split(faces: FaceSet, rng: np.random.Generator, enrol: int) -> tuple[list[str], list[str]]:
    """People who can be enrolled with `enrol` photos and still be searched, and the strangers."""
    usable: dict[str, int] = {}
    for identity, refused in zip(faces.identities, faces.refused):
        usable[identity] = usable.get(identity, 0) + (not refused)
    people = sorted(usable)
    rng.shuffle(people)
    can_enrol = [p for p in people if usable[p] >= enrol + 1]
    strangers = can_enrol[:int(len(can_enrol) * STRANGER_SHARE)] + [p for p in people if usable[p] < enrol + 1]
    return can_enrol[int(len(can_enrol) * STRANGER_SHARE):], strangers


class PairTail:
    """Every pair of photos of different people in the set: an empirical FPIR for any gallery, no model.

    A stranger searched against T templates is let in when any score clears the threshold, so
    FPIR <= 1 - (1 - p)^T with p the share of different-people pairs at or above it.
    """

    def __init__(self, faces: FaceSet, thresholds: list[float]) -> None:
        usable = np.flatnonzero(~faces.refused)
        embeddings, identities = faces.embeddings[usable], faces.identities[usable]
        self.thresholds = sorted(set(round(t, 4) for t in thresholds))
        counts = np.zeros(len(self.thresholds), np.int64)
        pairs = 0
        for start in range(0, len(usable), 2048):
            block = embeddings[start:start + 2048] @ embeddings.T
            different = identities[start:start + 2048, None] != identities[None, :]
            upper = np.arange(start, start + len(block))[:, None] < np.arange(len(usable))[None, :]
            scores = block[different & upper]
            pairs += scores.size
            counts += np.array([(scores >= t).sum() for t in self.thresholds])
        self.pairs = pairs
        self.share = dict(zip(self.thresholds, counts / max(1, pairs)))

    def fpir(self, threshold: float, templates: int) -> float:
        return 1.0 - (1.0 - self.share[round(threshold, 4)]) ** templates


def run_seed(faces: FaceSet, seed: int, enrol: int, sizes: list[int], config, default_model,
             targets: list[float], visit: int = 3) -> list[dict]:
    from edge.face.operating_point import operating_point
    from edge.face.pair_statistics import pair_scores
    from edge.store import Gallery

    rng = np.random.default_rng(seed)
    residents, strangers = split(faces, rng, enrol)
    stranger_set = set(strangers)
    nonmated = np.array([i in stranger_set for i in faces.identities])
    rows = []
    for size in sizes:
        enrolled = residents[:size]
        chosen = np.zeros(len(faces.identities), bool)
        for person in enrolled:
            candidates = np.flatnonzero((faces.identities == person) & ~faces.refused)
            chosen[rng.choice(candidates, enrol, replace=False)] = True
        enrolled_set = set(enrolled)
        mated = np.array([i in enrolled_set for i in faces.identities]) & ~chosen
        fused = fused_templates(faces, chosen) if config.fused_template else None
        searches = Searches(faces, chosen, mated, nonmated, fused)
        ids = {name: n for n, name in enumerate(enrolled, 1)}
        owners, embeddings = gallery_rows(faces, chosen, fused)
        gallery = Gallery(embeddings, np.array([ids[i] for i in owners]), np.zeros(len(owners), bool),
                          {n: name for name, n in ids.items()}, 1)
        margin = config.match_margin
        row = {"seed": seed, "enrol": enrol, "residents": len(enrolled), "templates": len(owners),
               "mated": searches.mated_total, "nonmated": searches.nonmated_total,
               "refused": searches.mated_refused + searches.nonmated_refused, "margin": margin}
        for fpir in FPIRS:
            threshold = searches.threshold_at(fpir, margin)
            row[f"threshold_at_{fpir:g}"] = threshold
            row[f"fnir_at_{fpir:g}"] = None if threshold is None else searches.fnir(threshold, margin)
        scores = pair_scores(gallery)
        row["gate"] = {}
        for target in targets:
            point = operating_point(scores, target_fpir=target, default=default_model)
            row["gate"][f"{target:g}"] = {
                "threshold": point.threshold, "source": point.source, "estimated_fpir": point.estimated_fpir,
                "fpir_low": point.fpir_low, "fpir_high": point.fpir_high, "gallery_weight": point.gallery_weight,
                "fpir": searches.fpir(point.threshold, margin), "fnir": searches.fnir(point.threshold, margin)}
        row["fixed_0.42"] = {"threshold": 0.42, "fpir": searches.fpir(0.42, margin),
                             "fnir": searches.fnir(0.42, margin)}
        row["det"] = det_curve(searches, margin)
        if visit:
            row["visits"] = visit_figures(faces, chosen, gallery, enrolled, strangers, mated, nonmated, visit, rng,
                                          config, {t: row["gate"][f"{t:g}"]["threshold"] for t in targets}, fused)
        rows.append(row)
    return rows


def visit_figures(faces: FaceSet, chosen: np.ndarray, gallery: Gallery, enrolled: list[str], strangers: list[str],
                  mated: np.ndarray, nonmated: np.ndarray, k: int, rng, config, thresholds: dict[float, float],
                  fused: tuple[np.ndarray, np.ndarray] | None = None) -> dict:
    """Per visit of k photos, at the gate's own thresholds: FNIR, FPIR, residents let in as somebody else, DET, and
    the visit's photos put through enrolment as a new person (a resident's: refused as a duplicate, as it should be;
    a stranger's: refused as a duplicate, as it should not be)."""
    from edge.face.matcher import Matcher
    from face_visits import VisitSearches, group_visits

    searches = VisitSearches(faces, chosen, group_visits(faces, enrolled, mated, k, rng),
                             group_visits(faces, strangers, nonmated, k, rng), fused)
    rule = (config.match_margin, config.single_frame_margin, config.evidence_frames)
    figures: dict = {"k": k, "mated": searches.mated_total, "nonmated": searches.nonmated_total}
    for target, threshold in thresholds.items():
        again, new = searches.enrolments_refused(faces, Matcher(gallery, threshold=threshold, margin=config.match_margin,
                                                                lookalike_margin=config.lookalike_margin))
        figures[f"{target:g}"] = {"threshold": threshold, "fnir": searches.fnir(threshold, *rule),
                                  "fpir": searches.fpir(threshold, *rule),
                                  "wrong_resident": searches.wrong_resident(threshold, *rule),
                                  "duplicates_refused": again, "new_people_refused": new,
                                  "misses": searches.misses(threshold, *rule)}
    figures["det"] = searches.det(*rule)
    return figures


def det_curve(searches: Searches, margin: float) -> list[tuple[float, float]]:
    points = []
    for threshold in np.linspace(0.2, 0.8, 121):
        points.append((searches.fpir(float(threshold), margin), searches.fnir(float(threshold), margin)))
    return points


def spread(values: list[float | None], *, percent: bool) -> str:
    """Mean ± half the range over seeds; n/a when any seed could not measure it."""
    if not values or any(v is None for v in values):
        return "n/a"
    scale, unit, digits = (100.0, " %", 2) if percent else (1.0, "", 3)
    mean = scale * float(np.mean(values))
    half = scale * (max(values) - min(values)) / 2  # type: ignore[type-var]
    return f"{mean:.{digits}f}{unit} ±{half:.{digits}f}" if len(values) > 1 else f"{mean:.{digits}f}{unit}"


def visit_table(groups: dict[tuple[int, int], list[dict]], targets: list[float], k: int) -> str:
    lines = []
    for (enrol, size), group in sorted(groups.items()):
        for target in [f"{t:g}" for t in targets]:
            figures = [r["visits"][target] for r in group]
            lines.append((enrol, size, target, f"{group[0]['visits']['mated']}/{group[0]['visits']['nonmated']}",
                          spread([f["threshold"] for f in figures], percent=False),
                          spread([f["fnir"] for f in figures], percent=True),
                          spread([f["fpir"] for f in figures], percent=True),
                          sum(f["wrong_resident"] for f in figures),
                          spread([f["duplicates_refused"] for f in figures], percent=True),
                          spread([f["new_people_refused"] for f in figures], percent=True)))
    return table(f"Per visit of {k} photos as the gate judges it (agreeing frames, or the visit template), at the "
                 "gate's own threshold; mean ± half range over seeds", lines,
                 ("enrol", "residents", "target FPIR", "visits mated/non-mated", "threshold", "FNIR per visit",
                  "FPIR per visit", "let in as another resident (all seeds)",
                  "same person enrolled again: refused", "new person: refused"))


def miss_table(groups: dict[tuple[int, int], list[dict]], target: float, k: int) -> str:
    """Why residents' visits were missed, at the largest gallery of each enrolment, all seeds together."""
    largest = {enrol: max(size for e, size in groups if e == enrol) for enrol, _ in groups}
    key = f"{target:g}"
    totals = {enrol: sum(r["visits"]["mated"] for r in groups[(enrol, size)]) for enrol, size in largest.items()}
    causes = {enrol: _summed([r["visits"][key]["misses"] for r in groups[(enrol, size)]])
              for enrol, size in largest.items()}
    names = [name for name in MISS_CAUSES if any(name in counts for counts in causes.values())]
    lines = [(name, *(f"{counts.get(name, 0)} ({100 * counts.get(name, 0) / max(1, totals[enrol]):.2f} %)"
                      for enrol, counts in sorted(causes.items()))) for name in names]
    lines.append(("all misses", *(f"{sum(counts.values())} ({100 * sum(counts.values()) / max(1, totals[enrol]):.2f} %)"
                                  for enrol, counts in sorted(causes.items()))))
    return table(f"Residents' visits of {k} photos missed at target {key}, by why (all seeds; share of mated visits)",
                 lines, ("why", *(f"{enrol} photo(s), {largest[enrol]} residents" for enrol in sorted(causes))))


def _summed(counts: list[dict[str, int]]) -> dict[str, int]:
    total: dict[str, int] = {}
    for each in counts:
        for name, count in each.items():
            total[name] = total.get(name, 0) + count
    return total


def plot(rows: list[dict], path: Path, key: str | None = None) -> bool:
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("no DET plot: matplotlib is not installed (pip install -e .[bench])")
        return False
    figure, axis = plt.subplots(figsize=(7, 5))
    for (enrol, size), group in sorted(_groups(rows).items()):
        curves = [r[key]["det"] if key else r["det"] for r in group]
        fpir = np.mean([[p[0] for p in curve] for curve in curves], axis=0)
        fnir = np.mean([[p[1] for p in curve] for curve in curves], axis=0)
        keep = fpir > 0
        axis.plot(fpir[keep], fnir[keep], label=f"{size} residents, {enrol} photo(s) each")
    axis.set_xscale("log")
    axis.set_yscale("log")
    axis.set_xlabel("FPIR (strangers let in as somebody)")
    axis.set_ylabel("FNIR (residents missed)")
    axis.set_title("gatepost face identification: DET by gallery size" + (", per visit" if key else ""))
    axis.grid(True, which="both", alpha=0.3)
    axis.legend(fontsize=8)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110, bbox_inches="tight")
    return True


def _groups(rows: list[dict]) -> dict[tuple[int, int], list[dict]]:
    groups: dict[tuple[int, int], list[dict]] = {}
    for row in rows:
        groups.setdefault((row["enrol"], row["residents"]), []).append(row)
    return groups


def face_set_arguments(p) -> None:
    """The arguments every bench on the development face sets takes: which photos, how many enrolled, fused or not."""
    p.add_argument("--data", action="append", help="folder with labels.csv (repeatable)")
    p.add_argument("--enrol", type=int, action="append", help="photos enrolled per resident (repeatable; default 1 and 3)")
    p.add_argument("--poses", default="frontal,wild", help="poses searched and enrolled (default frontal,wild)")
    p.add_argument("--no-fused", action="store_true",
                   help="face.fused_template off: each resident's enrolment photos searched one by one only")


def main() -> int:
    p = parser(__doc__.splitlines()[0])
    face_set_arguments(p)
    p.add_argument("--seeds", type=int, default=3, help="repetitions with other splits (default 3)")
    p.add_argument("--visit", type=int, default=3,
                   help="photos per visit for the per-visit figures (0: none; see bench/face_visits.py)")
    p.add_argument("--targets", default="0.001,0.0001",
                   help="false-accept targets the gate derives its threshold for (default 0.001,0.0001)")
    p.add_argument("--plot", default=str(ROOT / "test-artifacts" / "face_identification_det.png"))
    args = p.parse_args()
    loaded = development_faces(args.data, args.poses, quick=args.quick, program="face_identification")
    if loaded is None:
        return 1
    faces, folders, conflicts, profile, aliases = loaded
    from edge.config import FaceConfig
    from edge.face.gallery import default_law

    config = FaceConfig(fused_template=not args.no_fused)
    enrols = args.enrol or [1, 3]
    targets = [float(t) for t in args.targets.split(",")]
    seeds = 1 if args.quick else args.seeds
    people = len(set(faces.identities))
    rows = []
    for enrol in enrols:
        largest = int(len(split(faces, np.random.default_rng(0), enrol)[0]))
        sizes = [s for s in GALLERY_SIZES if s < largest] + [largest]
        for seed in range(seeds):
            rows += run_seed(faces, seed, enrol, sizes, config, default_law(config), targets, args.visit)
    print(f"{len(faces.images)} photos of {people} people from {', '.join(str(f) for f in folders)}; "
          f"{int(faces.refused.sum())} refused by the quality gate; poses {args.poses}; {seeds} seed(s)")
    print(f"left out: {int(conflicts.sum())} photos whose identical bytes carry two identities (label errors); "
          f"{len(profile.images)} photos of other poses, of which the quality gate refuses "
          f"{int(profile.refused.sum())}")
    print(f"merged as one person under two labels ({len(aliases)}): "
          + ", ".join(f"{a} = {b}" for a, b in sorted(aliases.items())) + "\n")
    groups = _groups(rows)
    lines = []
    for (enrol, size), group in sorted(groups.items()):
        lines.append((enrol, size, f"{group[0]['mated']}/{group[0]['nonmated']}",
                      *(spread([r[f"fnir_at_{f:g}"] for r in group], percent=True) for f in FPIRS),
                      *(spread([r[f"threshold_at_{f:g}"] for r in group], percent=False) for f in FPIRS[:2])))
    print(table("1:N identification as FRVT measures it: FNIR at fixed FPIR (measured on the searches; "
                "mean ± half range over seeds)", lines,
                ("enrol", "residents", "searches mated/non-mated", "FNIR@FPIR 1%", "FNIR@0.1%", "FNIR@0.01%",
                 "threshold@1%", "threshold@0.1%")))
    pair_tail = PairTail(faces, [g["threshold"] for r in rows for g in r["gate"].values()] + [0.42])
    lines = []
    for (enrol, size), group in sorted(groups.items()):
        for target in [f"{t:g}" for t in targets] + ["fixed 0.42"]:
            points = [r["gate"][target] if target in r["gate"] else r["fixed_0.42"] for r in group]
            pair = [pair_tail.fpir(p["threshold"], r["templates"]) for p, r in zip(points, group)]
            estimate = "-" if target == "fixed 0.42" else (
                f"{spread([p.get('estimated_fpir') for p in points], percent=True)} "
                f"[{100 * min(p['fpir_low'] for p in points):.3f}-{100 * max(p['fpir_high'] for p in points):.3f} %]")
            lines.append((enrol, size, target, spread([p["threshold"] for p in points], percent=False), estimate,
                          spread([p["fpir"] for p in points], percent=True), spread(pair, percent=True),
                          spread([p["fnir"] for p in points], percent=True)))
    print()
    print(table("The gate's own operating point: threshold derived from each enrolled gallery alone "
                "(face.max_false_accept = target), then measured", lines,
                ("enrol", "residents", "target FPIR", "threshold", "gate's estimate [its range]", "FPIR searches",
                 f"FPIR all {pair_tail.pairs:,} pairs", "FNIR")))
    print("\nn/a: fewer than 3/FPIR non-mated searches, so that FPIR cannot be measured on the searches.")
    print("FPIR all pairs: 1-(1-p)^templates, p = share of photo pairs of different people at or above the threshold.")
    if args.visit:
        print()
        print(visit_table(groups, targets, args.visit))
        print()
        print(miss_table(groups, min(targets), args.visit))
    if plot(rows, Path(args.plot)):
        print(f"DET plot: {args.plot}")
    if args.visit and plot(rows, Path(args.plot).with_name(Path(args.plot).stem + "_visits.png"), key="visits"):
        print(f"DET plot per visit: {Path(args.plot).with_name(Path(args.plot).stem + '_visits.png')}")
    print(f"peak RSS {peak_rss_mb():.0f} MB")
    for row in rows:
        row.pop("det", None)
        if "visits" in row:
            row["visits"].pop("det", None)
    finish(args, {"data": [str(f) for f in folders], "photos": len(faces.images), "people": people,
                  "label_conflicts_left_out": int(conflicts.sum()), "merged_identities": aliases,
                  "other_poses_left_out": len(profile.images), "refused": int(faces.refused.sum()),
                  "poses": args.poses, "seeds": seeds, "targets": targets, "margin": config.match_margin,
                  "different_people_pairs": pair_tail.pairs, "runs": rows})
    return 0


if __name__ == "__main__":
    sys.exit(main())
