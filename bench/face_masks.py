"""Masked faces on the development sets: found, judged, called masked, recognised, and the stricter point they need.

    python bench/face_masks.py [--residents N] [--probes N] [--seeds N] [--json PATH] [--quick]

The photos are the development sets' (bench/face_data.py: CFP and CelebA, research use only, never
shipped; the mask classifier was fitted on other photos, ../shared/data/faces). Per seed, N residents are
enrolled with one unmasked photo each (their cached embeddings, as the identification bench does), and
the gate derives its operating point for them at the default target (1e-4). Then photos of residents
(other than the enrolled one) and of strangers get a drawn mask (drivers/sim/mask.py: surgical, cloth,
KN95) and go through the gate's detector, quality gate, alignment, embedder and mask classifier.

Reported per seed, then median (min-max) over seeds:
- masked faces found by the detector and passing the quality gate, and why the rest fail;
- the classifier: masked faces called masked, unmasked faces (the same photos bare) called masked;
- masked residents recognised at the gate's threshold and at the threshold plus the margin that holds
  masked strangers to the unmasked strangers' false-match rate (the `face.mask_margin` it suggests);
- masked strangers' per-pair false matches at both.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from common import finish, parser, spread, table  # noqa: E402
from face_data import cache_dir  # noqa: E402
from face_embeddings import FaceSet, concat, load_set  # noqa: E402
from mask_data import samples  # noqa: E402

TARGET = 1e-4


def masked_margin(unmasked_impostors: np.ndarray, masked_impostors: np.ndarray, threshold: float) -> float:
    """How far above `threshold` masked strangers' pair scores must be cut to match unmasked ones' false matches."""
    rate = max(float(np.mean(unmasked_impostors >= threshold)), 1.0 / max(len(masked_impostors), 1))
    cut = float(np.quantile(masked_impostors, 1.0 - rate))
    return max(0.0, cut - threshold)


def run_seed(faces: FaceSet, seed: int, residents: int, probes: int, detector, embedder, limits, default_model) -> dict:
    from edge.face.operating_point import operating_point
    from edge.face.pair_statistics import pair_scores
    from edge.store import Gallery

    rng = np.random.default_rng(seed)
    people = sorted(set(faces.identities[~faces.refused].tolist()))
    rng.shuffle(people)
    with_two = [p for p in people if ((faces.identities == p) & ~faces.refused).sum() >= 2]
    enrolled, strangers = with_two[:residents], [p for p in people if p not in set(with_two[:residents])]
    chosen, probe_rows = [], []
    for person in enrolled:
        rows = rng.permutation(np.flatnonzero((faces.identities == person) & ~faces.refused))
        chosen.append(rows[0])
        probe_rows.append(rows[1])
    stranger_rows = [int(rng.choice(np.flatnonzero(faces.identities == p))) for p in strangers[:probes]]
    ids = {name: n for n, name in enumerate(enrolled, 1)}
    gallery = Gallery(faces.embeddings[chosen], np.array([ids[faces.identities[i]] for i in chosen]),
                      np.zeros(len(chosen), bool), {n: name for name, n in ids.items()}, 1)
    threshold = operating_point(pair_scores(gallery), target_fpir=TARGET, default=default_model).threshold
    mated = samples([(Path(faces.images[i]), str(faces.identities[i])) for i in probe_rows[:probes]], detector,
                    limits, embedder=embedder, seed=seed)
    strange = samples([(Path(faces.images[i]), str(faces.identities[i])) for i in stranger_rows], detector, limits,
                      embedder=embedder, seed=seed + 1000)
    everyone = mated + strange
    masked = [s for s in everyone if s.masked]
    bare = [s for s in everyone if not s.masked]
    from edge.face.mask import THRESHOLD, probability_of

    def called(group):
        usable = [s for s in group if s.measured is not None and not s.quality_codes]
        return sum(probability_of(s.measured) >= THRESHOLD for s in usable) / max(len(usable), 1)

    searchable = lambda group: [s for s in group if s.embedding is not None and not s.quality_codes]  # noqa: E731
    unmasked_impostors = np.concatenate([_impostor_scores(s, gallery, ids) for s in searchable(bare)])
    masked_impostors = np.concatenate([_impostor_scores(s, gallery, ids) for s in searchable(masked)])
    margin = masked_margin(unmasked_impostors, masked_impostors, threshold)
    masked_mated = [s for s in searchable(masked) if s.identity in ids]
    bare_mated = [s for s in searchable(bare) if s.identity in ids]
    codes: dict[str, int] = {}
    for s in masked:
        for code in s.quality_codes:
            codes[code] = codes.get(code, 0) + 1
    return {
        "seed": seed, "residents": len(enrolled), "threshold": threshold, "masked_faces": len(masked),
        "masked_found": sum(s.found for s in masked) / max(len(masked), 1),
        "masked_quality_ok": sum(s.found and not s.quality_codes for s in masked) / max(len(masked), 1),
        "bare_quality_ok": sum(s.found and not s.quality_codes for s in bare) / max(len(bare), 1),
        "masked_quality_codes": codes,
        "masked_called_masked": called(masked), "bare_called_masked": called(bare),
        "by_kind": {kind: called([s for s in masked if s.kind == kind]) for kind in ("surgical", "cloth", "kn95")},
        "margin": margin,
        "masked_fnir": _fnir(masked_mated, gallery, ids, threshold),
        "masked_fnir_with_margin": _fnir(masked_mated, gallery, ids, threshold + margin),
        "bare_fnir": _fnir(bare_mated, gallery, ids, threshold),
        "bare_pair_fmr": float(np.mean(unmasked_impostors >= threshold)),
        "masked_pair_fmr": float(np.mean(masked_impostors >= threshold)),
        "masked_pair_fmr_with_margin": float(np.mean(masked_impostors >= threshold + margin)),
        "impostor_pairs": [len(unmasked_impostors), len(masked_impostors)],
    }


def _impostor_scores(sample, gallery, ids) -> np.ndarray:
    own = ids.get(sample.identity)
    scores = gallery.embeddings @ sample.embedding
    return scores[gallery.owners != own] if own is not None else scores


def _fnir(group, gallery, ids, threshold: float) -> float | None:
    if not group:
        return None
    missed = 0
    for s in group:
        scores = gallery.embeddings @ s.embedding
        best = int(gallery.owners[int(np.argmax(scores))])
        missed += not (best == ids[s.identity] and float(scores.max()) >= threshold)
    return missed / len(group)


def main() -> int:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--residents", type=int, default=None, help="residents enrolled per seed (default 600, quick 200)")
    p.add_argument("--probes", type=int, default=None,
                   help="masked residents and masked strangers per seed (default 400, quick 60)")
    p.add_argument("--seeds", type=int, default=None, help="seeds (default 3, quick 1)")
    args = p.parse_args()
    folders = [cache_dir() / name for name in ("cfp", "celeba") if (cache_dir() / name / "labels.csv").is_file()]
    if not folders:
        print("face_masks: no development sets in the cache; see bench/face_data.py", file=sys.stderr)
        return 1
    from edge.config import FaceConfig
    from edge.face.engine import load_models
    from edge.face.gallery import default_law
    from edge.face.setup import build_engine
    from edge.store import Gallery
    from models import MODELS_DIR

    config = FaceConfig()
    empty = Gallery(np.zeros((0, 0), np.float32), np.zeros(0, np.int64), np.zeros(0, bool), {}, 0)
    engine = build_engine(config, empty)
    faces = concat([load_set(folder, engine, models_dir=MODELS_DIR, progress=False) for folder in folders])
    faces = faces.select(faces.poses != "profile")
    detector, embedder, limits = load_models(config)
    residents = args.residents or (200 if args.quick else 600)
    probes = args.probes or (60 if args.quick else 400)
    runs = [run_seed(faces, seed, residents, probes, detector, embedder, limits, default_law(config))
            for seed in range(args.seeds or (1 if args.quick else 3))]
    pct = lambda key: spread([100 * r[key] for r in runs if r[key] is not None]) + " %"  # noqa: E731
    rows = [
        ("masked faces found by the detector", pct("masked_found")),
        ("masked faces passing the quality gate (bare: " + pct("bare_quality_ok") + ")", pct("masked_quality_ok")),
        ("masked faces called masked", pct("masked_called_masked")),
        ("  surgical / cloth / KN95", " / ".join(spread([100 * r["by_kind"][k] for r in runs]) + " %"
                                                for k in ("surgical", "cloth", "kn95"))),
        ("bare faces called masked", pct("bare_called_masked")),
        ("gate threshold (1e-4)", spread([r["threshold"] for r in runs])),
        ("margin holding masked strangers to bare ones' pair rate", spread([r["margin"] for r in runs])),
        ("bare residents missed at the threshold", pct("bare_fnir")),
        ("masked residents missed at the threshold", pct("masked_fnir")),
        ("masked residents missed at threshold + margin", pct("masked_fnir_with_margin")),
        ("strangers' pair false matches, bare / masked", pct("bare_pair_fmr") + " / " + pct("masked_pair_fmr")),
        ("masked, at threshold + margin", pct("masked_pair_fmr_with_margin")),
    ]
    print(f"{residents} residents, {probes} masked residents and {probes} masked strangers per seed, "
          f"{len(runs)} seed(s); one photo per search\n")
    print(table("masked faces, median (min-max) over seeds", rows, ("figure", "value")))
    codes: dict[str, int] = {}
    for r in runs:
        for code, count in r["masked_quality_codes"].items():
            codes[code] = codes.get(code, 0) + count
    print("\nwhy masked faces fail the quality gate (all seeds): "
          + (", ".join(f"{code} {count}" for code, count in sorted(codes.items(), key=lambda kv: -kv[1])) or "none"))
    finish(args, {"runs": runs})
    return 0


if __name__ == "__main__":
    sys.exit(main())
