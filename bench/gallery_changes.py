"""What a change of the gallery costs a running gate: adding or removing one resident, and a bulk import.

    python bench/gallery_changes.py [--residents N] [--runs K] [--import-people M] [--no-fused] [--json PATH] [--quick]

The whole run is pinned to one core. A gallery of N residents x 3 templates (default 5,000; quick
1,000) is written to a state database; the embeddings are drawn (a centre per person, photos
spread around it, 128 dimensions like SFace), so the cost is the real code's on a gallery of that
size, not of any real population. The daemon's gallery owner (edge/face/gallery.py) follows it.

- **Add one resident** (3 templates) and **remove one**: CPU time of the store write, then of the
  owner's follow-up: loading the changed gallery, updating the pair scores by the changed
  templates, deriving the operating point and building the matcher. Every one of K changes is
  counted (median, min to max). The same owner's count of every pair from scratch, as a gate
  did after every change before, is shown beside them.
- **A visit's lesson** (a template learned from a clear visit of another resident each time): CPU
  time of the thread the visit ended on, when it teaches there (as the frame loop did before) and
  when it hands the lesson to the owner's thread (as it does now).
- **Import**: `gatepost residents import` of M people (default 1,000: the cached CFP and CelebA
  photos of `bench/face_data.py`, two photos each, as many people as the cache holds) into that
  gallery while the owner follows every second in the same process, as the daemon's does: wall
  time from the command's start to its end (models loaded, every photo found and embedded, every
  resident reviewed and stored), plus the operating points derived meanwhile. Skipped, and said
  so, without the cache.
"""

from __future__ import annotations

import csv
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from common import ROOT, add_runs, finish, parser, peak_rss_mb, spread, table

DIMENSION = 128
PHOTOS = 3
FACE_CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "gatepost" / "faces"


def drawn_resident(rng: np.random.Generator) -> list[np.ndarray]:
    centre = rng.normal(size=DIMENSION)
    photos = centre + 0.8 * rng.normal(size=(PHOTOS, DIMENSION))
    return list((photos / np.linalg.norm(photos, axis=1, keepdims=True)).astype(np.float32))


def fill(store, residents: int, rng: np.random.Generator) -> None:
    for k in range(residents):
        store.add_resident(f"drawn {k}", "", drawn_resident(rng), [1.0] * PHOTOS, ["drawn"] * PHOTOS)


def one_change(store, gallery, change, when: float) -> dict:
    started = time.thread_time()
    change()
    written = time.thread_time()
    assert gallery.refresh(now=when)
    followed = time.thread_time()
    return {"store_ms": (written - started) * 1000, "follow_ms": (followed - written) * 1000,
            "derive_ms": gallery.last_build["cpu_ms"], "pairs": gallery.last_build["pairs"]}


def changes(store, gallery, runs: int, rng: np.random.Generator) -> dict[str, list[dict]]:
    from edge.face.pair_statistics import pair_scores

    results: dict[str, list[dict]] = {"add one resident": [], "remove one resident": []}
    when = 1000.0
    for _ in range(runs):
        when += 100.0  # far apart: each change is a lone one, derived at once
        results["add one resident"].append(one_change(
            store, gallery, lambda: store.add_resident("new", "", drawn_resident(rng), [1.0] * PHOTOS,
                                                        ["drawn"] * PHOTOS), when))
        victim = int(rng.choice([r.id for r in store.residents()]))
        when += 100.0
        results["remove one resident"].append(
            one_change(store, gallery, lambda victim=victim: store.remove_resident(victim), when))
    started = time.thread_time()
    pair_scores(store.gallery())
    results["count every pair from scratch"] = [{"store_ms": 0.0, "follow_ms": (time.thread_time() - started) * 1000,
                                                  "derive_ms": (time.thread_time() - started) * 1000, "pairs": "full"}]
    return results


def visit_of(gallery, resident_id: int, rng: np.random.Generator) -> np.ndarray:
    """A clear visit of this resident: about as near their photos as they are to each other."""
    photos = gallery.matcher.gallery.enrolled(resident_id)
    probe = photos.mean(axis=0) + 0.06 * rng.normal(size=DIMENSION)
    return (probe / np.linalg.norm(probe)).astype(np.float32)


def lessons(store, gallery, runs: int, rng: np.random.Generator) -> dict[str, list[float]]:
    """What a clear visit's lesson costs the thread its visit ended on: taught there, as the frame loop did before
    this release, and handed to the owner's thread (`teach`), as it does now. Each run is another resident's visit
    (one lesson a resident a day)."""
    from edge.face.lessons import Lesson

    taught: list = []
    results: dict[str, list[float]] = {"taught on the loop (before)": [], "handed over (now)": []}
    people = rng.permutation([r.id for r in store.residents()])[:2 * runs]
    gallery.start()
    try:
        for n, resident_id in enumerate(people.tolist()):
            probe = visit_of(gallery, resident_id, rng)
            match = gallery.matcher.search(probe)
            lesson = Lesson(f"v{n}", resident_id, probe, frames=5, match_similarity=match.similarity,
                            runner_up=match.runner_up, then=taught.append)
            started = time.thread_time()
            if n % 2 == 0:
                assert gallery.adapt(lesson.visit_id, resident_id, probe, frames=5, match_similarity=match.similarity,
                                     runner_up=match.runner_up) is not None, "the drawn visit taught nothing"
                name = "taught on the loop (before)"
            else:
                gallery.teach(lesson)
                name = "handed over (now)"
            spent = (time.thread_time() - started) * 1000
            assert gallery.lessons.finish(10.0)
            results[name].append(spent)
    finally:
        gallery.close()
    assert len(taught) == runs, f"{len(taught)} of {runs} handed-over lessons taught"
    return results


def import_folder(directory: Path, people: int) -> int:
    """Two photos per person from the cached public sets, as `residents import` reads them; the people found."""
    found = 0
    for name in ("cfp", "celeba"):
        labels = FACE_CACHE / name / "labels.csv"
        if not labels.exists():
            continue
        photos: dict[str, list[str]] = {}
        for row in csv.DictReader(labels.open()):
            if row["pose"] != "profile":
                photos.setdefault(row["identity"], []).append(row["image"])
        for images in photos.values():
            if found >= people or len(images) < 2:
                continue
            person = directory / f"{found:04d}"
            person.mkdir()
            for image in images[:2]:
                (person / Path(image).name).symlink_to(FACE_CACHE / name / image)
            found += 1
    return found


def bulk_import(state: Path, store, gallery, people: int, scratch: Path) -> dict | None:
    folder = scratch / "import"
    folder.mkdir()
    found = import_folder(folder, people)
    if not found:
        print("import skipped: no cached face sets (python bench/face_data.py, see README)", file=sys.stderr)
        return None
    builds: list[dict] = []
    stop = threading.Event()

    def follow() -> None:
        seen = gallery.last_build  # the owner's start-up count is not the import's
        while not stop.wait(1.0):
            gallery.refresh()
            if gallery.last_build and gallery.last_build is not seen:
                seen = gallery.last_build
                builds.append(seen)

    follower = threading.Thread(target=follow, daemon=True)
    follower.start()
    before = len(store.residents())
    started = time.perf_counter()
    settings = scratch / "face.yaml"  # the import reviews each person against the gallery as this owner builds it
    settings.write_text(f"face:\n  fused_template: {'true' if gallery.config.fused_template else 'false'}\n")
    command = [sys.executable, "-m", "edge.cli", "-c", str(settings), "residents", "import", str(folder),
               "--state-dir", str(state)]
    done = subprocess.run(["taskset", "-c", "0", *command], cwd=ROOT, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    from edge.face.gallery import SETTLE_S

    version = store.gallery_version
    deadline = time.monotonic() + 3 * SETTLE_S + 1.0  # the owner derives the batch's point once it has settled
    while not (builds and builds[-1]["version"] == version) and time.monotonic() < deadline:
        stop.wait(0.05)
    stop.set()
    follower.join()
    enrolled = len(store.residents()) - before
    if done.returncode not in (0, 3):
        print(done.stderr[-2000:], file=sys.stderr)
    return {"people": found, "enrolled": enrolled, "seconds": seconds, "per_person_ms": 1000 * seconds / found,
            "operating_points_derived": len(builds), "derive_cpu_ms": sum(b["cpu_ms"] for b in builds),
            "pairs": sorted({b["pairs"] for b in builds}), "refused_by_reason": refusals(done.stderr)}


def refusals(stderr: str) -> dict[str, int]:
    """The import's "refused LABEL: REASON" lines counted by reason, its numbers and names left out."""
    counts: dict[str, int] = {}
    for line in stderr.splitlines():
        if line.startswith("refused "):
            reason = re.sub(r"\S*/\S*:?|\([^)]*\)|'[^']*'|\d[\d.]*", "#", line.split(": ", 1)[-1])
            reason = " ".join(reason.split()[:8])
            counts[reason] = counts.get(reason, 0) + 1
    return dict(sorted(counts.items(), key=lambda item: -item[1]))


def main() -> int:
    arguments = parser(__doc__.splitlines()[0])
    arguments.add_argument("--residents", type=int, default=None, help="residents in the gallery (default 5,000, "
                                                                         "quick 1,000)")
    arguments.add_argument("--import-people", type=int, default=None, help="people imported (default 1,000; "
                                                                             "quick 0: no import)")
    arguments.add_argument("--no-fused", action="store_true",
                           help="face.fused_template off: residents' photos searched one by one only, as before")
    add_runs(arguments, default=10)
    args = arguments.parse_args()
    residents = args.residents or (1000 if args.quick else 5000)
    people = args.import_people if args.import_people is not None else (0 if args.quick else 1000)
    runs = args.runs or (5 if args.quick else args.default_runs)
    os.sched_setaffinity(0, {0})
    from edge.config import FaceConfig
    from edge.face.gallery import FaceGallery
    from edge.store import Store

    rng = np.random.default_rng(7)
    with tempfile.TemporaryDirectory(prefix="gatepost-gallery-") as scratch:
        state = Path(scratch) / "state"
        with Store(state) as store:
            started = time.perf_counter()
            fill(store, residents, rng)
            print(f"  {residents} residents written in {time.perf_counter() - started:.0f} s", file=sys.stderr)
            gallery = FaceGallery(store, FaceConfig(fused_template=not args.no_fused))
            started = time.thread_time()
            gallery.refresh(now=0.0)
            first_ms = (time.thread_time() - started) * 1000
            results = changes(store, gallery, runs, rng)
            taught = lessons(store, gallery, runs, rng)
            imported = None
            if people:  # a fresh owner on the wall clock, as a daemon running when the import starts
                daemon = FaceGallery(store, FaceConfig(fused_template=not args.no_fused))
                daemon.refresh()
                imported = bulk_import(state, store, daemon, people, Path(scratch))
    rows = [("gate starts: load and count every pair", "", spread([first_ms]), "", "full")]
    for name, group in results.items():
        rows.append((name, spread([g["store_ms"] for g in group]), spread([g["follow_ms"] for g in group]),
                     spread([g["derive_ms"] for g in group]), ", ".join(sorted({g["pairs"] for g in group}))))
    print(table(f"Gallery changes at {residents:,} residents x {PHOTOS} templates, one core: CPU ms, "
                f"median (min to max) of {runs} changes each",
                rows, ("change", "store write ms", "gate follows ms", "of which pairs + point ms", "pairs counted")))
    print(table(f"A clear visit's lesson (a learned template) at that gallery: CPU ms of the thread the visit ended "
                f"on, median (min to max) of {runs} visits each",
                [(name, spread(values)) for name, values in taught.items()], ("lesson", "visit's thread ms")))
    if imported:
        print(table(f"Import of {imported['people']} people (2 photos each) into that gallery, one core",
                    [(imported["people"], imported["enrolled"], f"{imported['seconds']:.0f}",
                      f"{imported['per_person_ms']:.0f}", imported["operating_points_derived"],
                      f"{imported['derive_cpu_ms']:.0f}")],
                    ("people", "enrolled", "seconds", "ms per person", "points derived meanwhile",
                     "their CPU ms")))
        for reason, count in imported["refused_by_reason"].items():
            print(f"  refused {count}: {reason}")
        if imported["people"] < people:
            print(f"(the cache holds {imported['people']} people with two photos; "
                  f"{people} at this rate: {imported['per_person_ms'] * people / 1000:.0f} s, a projection)")
    print(f"peak RSS {peak_rss_mb():.0f} MB")
    return finish(args, {"residents": residents, "templates_per_resident": PHOTOS, "first_build_ms": first_ms,
                         "changes": results, "lessons_ms": taught, "import": imported, "peak_rss_mb": peak_rss_mb()})


if __name__ == "__main__":
    sys.exit(main())
