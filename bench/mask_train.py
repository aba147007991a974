"""Fit the mask classifier's few weights (edge/face/mask.py) and print them as the module states them.

    python bench/mask_train.py [--masks N] [--json PATH] [--quick]

Fitted on the MIT-licensed photos in ../shared/data/faces (78 photos of 19 people, see their labels.csv),
each photo unmasked, under N other lights, and with N drawn masks (drivers/sim/mask.py), all seen through the gate's own
detector and alignment. Only faces the detector finds are fitted on. A logistic regression with a
small ridge, by Newton's method, on standardised features. The weights in edge/face/mask.py are this
script's output with its defaults; paste a new output there only with the bench's figures beside it.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from common import finish, parser, table  # noqa: E402
from mask_data import SHARED_FACES, labelled_photos, samples  # noqa: E402

RIDGE = 1.0


def fit(x: np.ndarray, y: np.ndarray, ridge: float = RIDGE, steps: int = 50) -> tuple[np.ndarray, float]:
    """Logistic regression by Newton's method; (weights, bias) on the features as given."""
    design = np.hstack([x, np.ones((len(x), 1))])
    theta = np.zeros(design.shape[1])
    penalty = ridge * np.eye(design.shape[1])
    penalty[-1, -1] = 0.0
    for _ in range(steps):
        p = 1.0 / (1.0 + np.exp(-design @ theta))
        gradient = design.T @ (p - y) + penalty @ theta
        hessian = (design * (p * (1 - p))[:, None]).T @ design + penalty
        step = np.linalg.solve(hessian, gradient)
        theta -= step
        if np.abs(step).max() < 1e-8:
            break
    return theta[:-1], float(theta[-1])


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--masks", type=int, default=None, help="masks drawn on each photo (default 6, quick 2)")
    args = p.parse_args()
    from edge.config import FaceConfig
    from edge.face.engine import load_models
    from edge.face.mask import FEATURES

    if not SHARED_FACES.is_dir():
        raise SystemExit(f"{SHARED_FACES}: the shared photos are needed to fit the mask classifier")
    detector, _, limits = load_models(FaceConfig())
    photos = labelled_photos(SHARED_FACES)
    masks = args.masks or (2 if args.quick else 6)
    seen = [s for s in samples(photos, detector, limits, masks_per_photo=masks, bare_variants=masks)
            if s.measured is not None and not s.quality_codes]
    x = np.array([s.measured for s in seen], np.float64)
    y = np.array([s.masked for s in seen], np.float64)
    means, scales = x.mean(axis=0), x.std(axis=0) + 1e-6
    weights, bias = fit((x - means) / scales, y)
    predicted = 1.0 / (1.0 + np.exp(-(((x - means) / scales) @ weights + bias))) >= 0.5
    rows = [(name, f"{m:.3f}", f"{s:.3f}", f"{w:+.3f}") for name, m, s, w in zip(FEATURES, means, scales, weights)]
    print(table("mask classifier fitted on the shared photos", rows, ("feature", "mean", "scale", "weight")))
    masked, bare = y == 1, y == 0
    print(f"\nfaces fitted on: {int(masked.sum())} masked, {int(bare.sum())} unmasked; bias {bias:+.3f}")
    print(f"on the photos fitted on: masked called masked {predicted[masked].mean():.1%}, "
          f"unmasked called masked {predicted[bare].mean():.1%}")
    print("\nfor edge/face/mask.py:")
    print(f"MEANS = np.array([{', '.join(f'{v:.4g}' for v in means)}], np.float32)")
    print(f"SCALES = np.array([{', '.join(f'{v:.4g}' for v in scales)}], np.float32)")
    print(f"WEIGHTS = np.array([{', '.join(f'{v:.4g}' for v in weights)}], np.float32)")
    print(f"BIAS = {bias:.4g}")
    finish(args, {"means": means.tolist(), "scales": scales.tolist(), "weights": weights.tolist(), "bias": bias,
                  "masked": int(masked.sum()), "unmasked": int(bare.sum()),
                  "fitted_masked_called_masked": float(predicted[masked].mean()),
                  "fitted_unmasked_called_masked": float(predicted[bare].mean())})


if __name__ == "__main__":
    main()
