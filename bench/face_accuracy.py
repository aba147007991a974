"""Face accuracy on a labelled folder: verification (TAR at FAR, EER) and open-set identification.

    python bench/face_accuracy.py [--data DIR] [--json PATH] [--quick]

DIR holds `labels.csv` with `image,identity` columns (paths relative to it); the default is the
project's shared set of 78 photos of 19 people.
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import numpy as np

from common import ROOT, finish, parser, peak_rss_mb, table

DEFAULT_DATA = ROOT.parent / "shared" / "data" / "faces"


def load_embeddings(data: Path, engine, limit: int | None):
    from edge.images import read_image
    from edge.errors import EnrolmentError

    with open(data / "labels.csv") as handle:
        rows = list(csv.DictReader(handle))
    if limit:
        rows = rows[:limit]
    items, refused = [], []
    for row in rows:
        path = data / row["image"]
        try:
            embedding, _ = engine.template_from_photo(read_image(path), source=row["image"])
        except EnrolmentError as error:
            refused.append(str(error))
            continue
        items.append((row["identity"], row["image"], embedding))
    return items, refused


def verification(items) -> dict:
    identities = np.array([i for i, _, _ in items])
    matrix = np.stack([e for _, _, e in items])
    scores = matrix @ matrix.T
    upper = np.triu_indices(len(items), 1)
    same = identities[upper[0]] == identities[upper[1]]
    genuine, impostor = scores[upper][same], scores[upper][~same]
    result = {"genuine_pairs": int(genuine.size), "impostor_pairs": int(impostor.size)}
    for far in (1e-2, 1e-3):
        threshold = float(np.quantile(impostor, 1 - far)) if impostor.size else 1.0
        result[f"tar_at_far_{far:g}"] = float((genuine > threshold).mean()) if genuine.size else float("nan")
        result[f"threshold_at_far_{far:g}"] = threshold
    thresholds = np.linspace(-0.2, 1.0, 1201)
    far_curve = np.array([(impostor >= t).mean() for t in thresholds])
    frr_curve = np.array([(genuine < t).mean() for t in thresholds])
    k = int(np.argmin(np.abs(far_curve - frr_curve)))
    result["eer"] = float((far_curve[k] + frr_curve[k]) / 2)
    result["eer_threshold"] = float(thresholds[k])
    result["max_impostor"] = float(impostor.max()) if impostor.size else float("nan")
    result["min_genuine"] = float(genuine.min()) if genuine.size else float("nan")
    return result


def identification(items, config) -> dict:
    """First photo of every other person enrolled; all other photos probed."""
    from edge.face.gallery import build_matcher
    from edge.store import Gallery

    people = sorted({i for i, _, _ in items})
    enrolled = set(people[::2])
    gallery_rows, probes, seen = [], [], set()
    for identity, image, embedding in items:
        if identity in enrolled and identity not in seen:
            seen.add(identity)
            gallery_rows.append((identity, embedding))
        else:
            probes.append((identity, image, embedding))
    ids = {name: n for n, name in enumerate(people, 1)}
    gallery = Gallery(np.stack([e for _, e in gallery_rows]), np.array([ids[i] for i, _ in gallery_rows]),
                      np.zeros(len(gallery_rows), bool), {ids[i]: i for i, _ in gallery_rows}, 1)
    matcher = build_matcher(gallery, config)  # the operating point a gate with this gallery derives
    counts = {"enrolled_probes": 0, "identified": 0, "missed": 0, "wrong_resident": 0,
              "stranger_probes": 0, "strangers_unknown": 0, "false_accepts": 0}
    errors = []
    for identity, image, embedding in probes:
        match = matcher.search(embedding)
        if identity in enrolled:
            counts["enrolled_probes"] += 1
            if match.name == identity:
                counts["identified"] += 1
            elif match.known:
                counts["wrong_resident"] += 1
                errors.append(f"{image}: {identity} taken for {match.name}")
            else:
                counts["missed"] += 1
                errors.append(f"{image}: {identity} not identified ({match.reason}, {match.similarity:.3f})")
        else:
            counts["stranger_probes"] += 1
            if match.known:
                counts["false_accepts"] += 1
                errors.append(f"{image}: stranger {identity} taken for {match.name}")
            else:
                counts["strangers_unknown"] += 1
    counts["errors"] = errors
    counts["threshold"], counts["threshold_source"] = matcher.threshold, matcher.point.source
    return counts


def main() -> int:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--data", default=str(DEFAULT_DATA), help="folder with labels.csv")
    args = p.parse_args()
    data = Path(args.data)
    if not (data / "labels.csv").is_file():
        print(f"face_accuracy: {data / 'labels.csv'} not found; pass --data DIR", file=sys.stderr)
        return 1
    from edge.config import FaceConfig
    from edge.face.setup import build_engine
    from edge.store import Gallery

    config = FaceConfig()
    engine = build_engine(config, Gallery(np.zeros((0, 0), np.float32), np.zeros(0, np.int64), np.zeros(0, bool), {}, 0))
    items, refused = load_embeddings(data, engine, 40 if args.quick else None)
    ver = verification(items)
    ident = identification(items, config)
    print(table(f"Verification on {data} ({len(items)} photos embedded, {len(refused)} refused by the quality gate)",
                [(k, v) for k, v in ver.items()], ("figure", "value")))
    print()
    print(table(f"Open-set identification at the derived threshold {ident['threshold']:.3f} "
                f"({ident['threshold_source']}), margin {config.match_margin}",
                [(k, v) for k, v in ident.items() if k != "errors"], ("figure", "count")))
    for line in ident["errors"]:
        print("  " + line)
    for line in refused:
        print("  refused " + line)
    print(f"\npeak RSS {peak_rss_mb():.0f} MB")
    finish(args, {"data": str(data), "photos": len(items), "refused": refused, "verification": ver,
                  "identification": ident, "margin": config.match_margin})
    return 0


if __name__ == "__main__":
    sys.exit(main())
