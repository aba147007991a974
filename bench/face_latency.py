"""Face latency: per-stage milliseconds, one new face end to end, bare inference, 1:N search, RSS.

    python bench/face_latency.py [--runs N] [--json PATH] [--quick]

Each run times every frame anew (one process, models loaded once); the tables give the median
and the range of each percentile over the runs.
"""

from __future__ import annotations

import sys
import time

import cv2
import numpy as np

from common import ROOT, add_runs, finish, parser, peak_rss_mb, percentile, runs_wanted, spread, table

FACES = ROOT / "config" / "scenarios" / "faces"


def frames_with_one_face(count: int) -> list[np.ndarray]:
    """640x480 frames, each with one face from the shipped demo photos at gate distance."""
    from edge.images import read_image

    photos = sorted(FACES.glob("*/*.jpg"))
    rng = np.random.default_rng(3)
    frames = []
    for n in range(count):
        face = read_image(photos[n % len(photos)])
        scale = 300 / face.shape[0]
        face = cv2.resize(face, None, fx=scale, fy=scale)
        frame = np.full((480, 640, 3), 110, np.uint8)
        x = int(rng.integers(0, 640 - face.shape[1]))
        frame[90:90 + face.shape[0], x:x + face.shape[1]] = face[: 480 - 90]
        frames.append(frame)
    return frames


def measure(engine, frames: list[np.ndarray], vectors: np.ndarray, config, quick: bool, rng) -> dict:
    from edge.face.engine import norm_crop
    from edge.face.matcher import Matcher
    from edge.store import Gallery

    stages = {"detect": [], "align": [], "embed": [], "search": []}
    end_to_end, bare = [], []
    for n, frame in enumerate(frames):
        engine.tracker.tracks.clear()  # every frame is a new face
        started = time.perf_counter()
        result = engine.process(frame, float(n))
        end_to_end.append((time.perf_counter() - started) * 1000)
        for name in stages:
            stages[name].append(result.stage_ms[name])
        # the same frame through the bare models: detector on the frame, embedder on the same face's crop
        blob = np.ascontiguousarray(frame.transpose(2, 0, 1)[None], dtype=np.float32)
        face = result.faces[0]
        crop = norm_crop(frame, face.landmarks, 112)[:, :, ::-1].transpose(2, 0, 1)[None]
        crop = np.ascontiguousarray(crop, dtype=np.float32)
        started = time.perf_counter()
        engine.detector.session.run(None, {engine.detector.input_name: blob})
        engine.embedder.session.run(None, {engine.embedder.input_name: crop})
        bare.append((time.perf_counter() - started) * 1000)

    # one tracked face: after the first frame, only detection and tracking run
    engine.tracker.tracks.clear()
    still = frames[0]
    engine.process(still, 0.0)
    started = time.perf_counter()
    tracked_frames = 30 if quick else 150
    for n in range(tracked_frames):
        engine.process(still, 0.04 * (n + 1))
    tracked_fps = tracked_frames / (time.perf_counter() - started)

    rss_10k = peak_rss_mb()  # before the 1k/10k/100k search matrices below are built
    search = {}
    probe = vectors[0]
    for size in (1_000, 10_000, 100_000):
        templates = rng.normal(size=(size, engine.embedder.dimension)).astype(np.float32)
        templates /= np.linalg.norm(templates, axis=1, keepdims=True)
        matcher = Matcher(Gallery(templates, np.arange(size) // 3, np.zeros(size, bool), {}, 1),
                          threshold=config.match_threshold or 0.5, margin=config.match_margin)
        times = []
        for _ in range(30 if quick else 200):
            started = time.perf_counter()
            matcher.search(probe)
            times.append((time.perf_counter() - started) * 1000)
        search[size] = {"p50": percentile(times, 50), "p95": percentile(times, 95)}

    return {"stages_ms": {name: {"p50": percentile(v, 50), "p95": percentile(v, 95)} for name, v in stages.items()},
            "end_to_end_ms": {"p50": percentile(end_to_end, 50), "p95": percentile(end_to_end, 95)},
            "bare_inference_ms": {"p50": percentile(bare, 50), "p95": percentile(bare, 95)},
            "overhead_ratio_p50": percentile(end_to_end, 50) / percentile(bare, 50), "tracked_face_fps": tracked_fps,
            "search_ms": {str(k): v for k, v in search.items()}, "peak_rss_mb_10k_gallery": rss_10k}


def main() -> int:
    p = parser(__doc__.splitlines()[0])
    add_runs(p)
    args = p.parse_args()
    from edge.config import FaceConfig
    from edge.face.setup import build_engine
    from edge.store import Gallery

    config = FaceConfig()
    empty = Gallery(np.zeros((0, 0), np.float32), np.zeros(0, np.int64), np.zeros(0, bool), {}, 0)
    engine = build_engine(config, empty)
    rng = np.random.default_rng(7)
    gallery_size = 10_000
    vectors = rng.normal(size=(gallery_size, engine.embedder.dimension)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    engine.use(engine.matcher.with_gallery(Gallery(vectors, np.arange(gallery_size) // 2, np.zeros(gallery_size, bool),
                                                   {i: f"r{i}" for i in range(gallery_size // 2)}, 1)))
    count = 40 if args.quick else 200
    distinct = frames_with_one_face(20)  # reused in turn: the process holds 20 frames, not 200
    frames = [distinct[n % len(distinct)] for n in range(count)]
    for frame in frames[:5]:  # warm-up
        engine.tracker.tracks.clear()
        engine.process(frame, 0.0)

    runs = [measure(engine, frames, vectors, config, args.quick, rng) for _ in range(runs_wanted(args))]

    def both(pick) -> tuple[str, str]:
        return spread([pick(r)["p50"] for r in runs]), spread([pick(r)["p95"] for r in runs])

    rows = [(name, *both(lambda r, name=name: r["stages_ms"][name])) for name in runs[0]["stages_ms"]]
    rows.append(("one new face, frame to result", *both(lambda r: r["end_to_end_ms"])))
    rows.append(("bare inference (detector + embedder)", *both(lambda r: r["bare_inference_ms"])))
    print(table(f"Face pipeline at 640x480, {count} frames, gallery {gallery_size} templates, {len(runs)} run(s): "
                "median (min to max)", rows, ("stage", "p50 ms", "p95 ms")))
    print(f"pipeline over bare inference (p50): {spread([r['overhead_ratio_p50'] for r in runs])}x")
    print(f"one tracked face: {spread([r['tracked_face_fps'] for r in runs])} frames/s")
    print()
    print(table("1:N search", [(size, *both(lambda r, size=size: r["search_ms"][size])) for size in runs[0]["search_ms"]],
                ("templates", "p50 ms", "p95 ms")))
    rss = peak_rss_mb()
    print(f"\npeak RSS with a 10k gallery: {runs[0]['peak_rss_mb_10k_gallery']:.0f} MB; "
          f"after building the 100k search matrix: {rss:.0f} MB")
    finish(args, {"frames": count, "runs": runs, "peak_rss_mb": rss})
    return 0


if __name__ == "__main__":
    sys.exit(main())
