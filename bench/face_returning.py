"""Returning residents: what templates learned from visits are worth, on the development sets.

    python bench/face_returning.py [--data DIR ...] [--enrol K ...] [--seeds S] [--visit K] [--adaptive-templates N]
                                   [--adapt-margin M] [--no-fused] [--json PATH] [--quick]

Per seed the people are split as bench/face_identification.py splits them (a fifth of them
strangers, and everyone with too few usable photos). Every resident is enrolled with K photos;
their other photos, shuffled, are their visits of `--visit` photos, in that order: the first is
their first visit, the rest are returns. Visits are played in rounds (every resident's first,
then every second, ...) through the gate's own code: each photo searched by the matcher
`build_matcher` gives the gallery as it stands (its operating point derived from it; each
resident's enrolment photos also searched as their mean, as the gate does, unless `--no-fused`),
the frames and the visit template judged by `verdict` and `visit_verdict`, and a visit let in as
its own resident may teach a template by `teaching_score`, the gallery's rule (a wide margin, anchored
to the enrolment photos; at most `adaptive_templates` kept, the oldest replaced). After each
round the operating point is derived again, as the gallery's owner does after a change. The same
visits are judged a second time against the enrolment photos alone. Strangers' visits are
judged against both galleries as they stand at the end.

Not played: the time between visits (one template a resident per `adapt_every_s`: each round
stands for a day or more), a guard's "not this person", masks, and temperature (a resident the
face check names is taken as let in). A refused photo is a frame the gate could not search.
"""

from __future__ import annotations

import sys

import numpy as np

from common import finish, parser, table
from face_embeddings import FaceSet
from face_identification import development_faces, face_set_arguments, spread, split
from face_visits import group_visits

ARMS = ("enrolment photos only", "templates learned from visits")
FIXED_THRESHOLDS = (0.44, 0.48)  # where strangers' photos let in are counted in tens, not ones


def plan(faces: FaceSet, rng, residents: list[str], enrol: int, k: int) -> tuple[np.ndarray, dict[int, list]]:
    """Each resident's enrolment photos (a mask) and their visits in order (resident number: photo indices)."""
    chosen = np.zeros(len(faces.identities), bool)
    visits: dict[int, list[np.ndarray]] = {}
    for number, person in enumerate(residents, 1):
        photos = np.flatnonzero(faces.identities == person)
        enrolled = rng.choice(photos[~faces.refused[photos]], enrol, replace=False)
        chosen[enrolled] = True
        rest = np.setdiff1d(photos, enrolled)
        rng.shuffle(rest)
        visits[number] = [rest[i:i + k] for i in range(0, len(rest) - k + 1, k)]
    return chosen, visits


def gallery_of(faces: FaceSet, chosen: np.ndarray, residents: list[str], learned: dict[int, list[np.ndarray]],
               fused: bool = True):
    """The enrolment photos' templates, then the learned ones; with `fused`, as the gate searches them (each resident's
    enrolment photos also as their mean, edge/face/fused.py)."""
    from edge.face.fused import with_fused
    from edge.store import Gallery

    ids = {name: n for n, name in enumerate(residents, 1)}
    owners = [ids[i] for i in faces.identities[chosen]]
    extra = [(owner, template) for owner, kept in learned.items() for template in kept]
    embeddings = np.vstack([faces.embeddings[chosen]] + [t[None, :] for _, t in extra]).astype(np.float32)
    adaptive = np.array([False] * len(owners) + [True] * len(extra))
    owners += [owner for owner, _ in extra]
    gallery = Gallery(embeddings, np.array(owners, np.int64), np.zeros(len(owners), bool),
                      {n: name for name, n in ids.items()}, 1, adaptive=adaptive)
    return with_fused(gallery) if fused else gallery


def judge(matcher, faces: FaceSet, visit: np.ndarray, config):
    """The gate's verdict on a visit's frames and its template: (match or None when no frame was usable, template)."""
    from edge.face.engine import visit_verdict
    from edge.face.matcher import verdict

    usable = visit[~faces.refused[visit]]
    if not len(usable):
        return None, None
    frames = [matcher.search(faces.embeddings[i]) for i in usable]
    per_frame = verdict(frames, evidence_frames=config.evidence_frames, single_frame_margin=config.single_frame_margin)
    template = faces.embeddings[usable].mean(axis=0)
    template = (template / max(float(np.linalg.norm(template)), 1e-12)).astype(np.float32)
    fused = matcher.search(template) if len(usable) >= 2 else None
    return visit_verdict(per_frame, fused, len(usable), evidence_frames=config.evidence_frames), template


def _marks(match, resident: int) -> tuple[bool, bool]:
    """(let in as themselves, let in as somebody else)."""
    named = match.resident_id if match is not None else None
    return named == resident, named is not None and named != resident


def play(faces: FaceSet, seed: int, enrol: int, k: int, config, law) -> dict:
    from edge.face.gallery import build_matcher, teaching_score

    rng = np.random.default_rng(seed)
    residents, strangers = split(faces, rng, enrol)
    chosen, visits = plan(faces, rng, residents, enrol, k)
    learned: dict[int, list[np.ndarray]] = {}
    fused = config.fused_template
    enrolled_only = gallery_of(faces, chosen, residents, learned, fused)
    base = learning = build_matcher(enrolled_only, config, law=law)
    outcomes: list[tuple[int, bool, bool, bool, bool]] = []  # (round, then right and wrong: enrolment only, learning)
    taught = 0
    for turn in range(max((len(v) for v in visits.values()), default=0)):
        for resident, theirs in visits.items():
            if turn >= len(theirs):
                continue
            only, _ = judge(base, faces, theirs[turn], config)
            match, template = judge(learning, faces, theirs[turn], config)
            outcomes.append((turn, *_marks(only, resident), *_marks(match, resident)))
            if match is not None and match.resident_id == resident and teaching_score(
                    learning, config, resident, template, frames=match.frames, match_similarity=match.similarity,
                    runner_up=match.runner_up) is not None:
                kept = learned.setdefault(resident, [])
                kept.append(template)
                del kept[:-config.adaptive_templates]
                taught += 1
        learning = build_matcher(gallery_of(faces, chosen, residents, learned, fused), config, law=law)
    stranger_set = set(strangers)
    theirs = group_visits(faces, strangers, np.array([i in stranger_set for i in faces.identities]), k, rng)
    let_in = [sum(1 for visit in theirs if (m := judge(matcher, faces, visit, config)[0]) is not None and m.known)
              for matcher in (base, learning)]
    figures = summary(seed, enrol, residents, outcomes, taught, learned, (base, learning), len(theirs), let_in)
    photos = np.flatnonzero(np.isin(faces.identities, strangers) & ~faces.refused)
    figures["stranger_photos"] = len(photos)
    figures["stranger_photos_let_in"] = {
        f"{threshold:g}": [photos_let_in(gallery, faces, photos, threshold, config)
                           for gallery in (enrolled_only, learning.gallery)] for threshold in FIXED_THRESHOLDS}
    figures["stranger_photos_let_in"]["own"] = [sum(1 for i in photos if matcher.search(faces.embeddings[i]).known)
                                                for matcher in (base, learning)]
    return figures


def photos_let_in(gallery, faces: FaceSet, photos: np.ndarray, threshold: float, config) -> int:
    """Strangers' photos, one search each, that the matcher at a fixed threshold names as a resident."""
    from edge.face.matcher import Matcher

    matcher = Matcher(gallery, threshold=threshold, margin=config.match_margin)
    return sum(1 for i in photos if matcher.search(faces.embeddings[i]).known)


def summary(seed, enrol, residents, outcomes, taught, learned, matchers, stranger_visits, let_in) -> dict:
    first = [o for o in outcomes if o[0] == 0]
    back = [o for o in outcomes if o[0] > 0]
    by_round: dict[int, list] = {}
    for turn, right_base, _, right_learning, _ in back:
        by_round.setdefault(turn, []).append((right_base, right_learning))
    return {"seed": seed, "enrol": enrol, "residents": len(residents), "first_visits": len(first),
            "returning_visits": len(back), "first_missed": _share(first, 1, missed=True),
            "returning_missed": [_share(back, 1, missed=True), _share(back, 3, missed=True)],
            "wrong_resident": [sum(o[2] for o in outcomes), sum(o[4] for o in outcomes)],
            "templates_learned": taught, "templates_kept": sum(len(v) for v in learned.values()),
            "templates_enrolled": int(len(matchers[0].gallery.owners)),
            "residents_taught": len(learned), "thresholds": [m.threshold for m in matchers],
            "stranger_visits": stranger_visits, "strangers_let_in": let_in,
            "by_round": {turn + 1: {"visits": len(pairs), "missed": [1 - float(np.mean([p[0] for p in pairs])),
                                                                      1 - float(np.mean([p[1] for p in pairs]))]}
                         for turn, pairs in sorted(by_round.items())}}


def _share(outcomes: list[tuple], column: int, *, missed: bool) -> float | None:
    if not outcomes:
        return None
    right = float(np.mean([o[column] for o in outcomes]))
    return 1.0 - right if missed else right


def _difference(before: float | None, after: float | None) -> float | None:
    """after - before; None where a seed had no returning visit to measure either on (a small set)."""
    return None if before is None or after is None else after - before


def report(runs: list[dict], k: int) -> None:
    lines = []
    for enrol in sorted({r["enrol"] for r in runs}):
        group = [r for r in runs if r["enrol"] == enrol]
        lines.append((enrol, group[0]["residents"], f"{group[0]['first_visits']}/{group[0]['returning_visits']}",
                      spread([r["first_missed"] for r in group], percent=True),
                      spread([r["returning_missed"][0] for r in group], percent=True),
                      spread([r["returning_missed"][1] for r in group], percent=True),
                      spread([_difference(*r["returning_missed"]) for r in group], percent=True),
                      f"{sum(r['wrong_resident'][0] for r in group)} / {sum(r['wrong_resident'][1] for r in group)}",
                      f"{sum(r['strangers_let_in'][0] for r in group)} / {sum(r['strangers_let_in'][1] for r in group)}"
                      f" of {sum(r['stranger_visits'] for r in group)}",
                      spread([r["thresholds"][0] for r in group], percent=False),
                      spread([r["thresholds"][1] for r in group], percent=False),
                      f"{np.mean([r['templates_kept'] / r['residents'] for r in group]):.2f}"))
    print(table(f"Residents' visits of {k} photos, judged by the gate's own code at the default target; mean ± half "
                "range over seeds (counts: all seeds)", lines,
                ("enrol", "residents", "visits first/returning (a seed)", "first visits missed",
                 "returning missed: enrolment only", "returning missed: learning", "learning's difference (paired)",
                 "let in as another (only / learning)",
                 "strangers' visits let in (only / learning)", "threshold: enrolment only", "threshold: learning, end",
                 "learned templates a resident, end")))
    lines = []
    for enrol in sorted({r["enrol"] for r in runs}):
        group = [r for r in runs if r["enrol"] == enrol]
        for threshold in [f"{t:g}" for t in FIXED_THRESHOLDS] + ["own"]:
            counts = [r["stranger_photos_let_in"][threshold] for r in group]
            templates = [(r["templates_enrolled"] + r["templates_kept"]) / r["templates_enrolled"] for r in group]
            lines.append((enrol, threshold, f"{sum(c[0] for c in counts)} / {sum(c[1] for c in counts)} of "
                                            f"{sum(r['stranger_photos'] for r in group)}",
                          f"{sum(c[1] for c in counts) / max(1, sum(c[0] for c in counts)):.2f}x",
                          f"{np.mean(templates):.2f}x"))
    print()
    print(table("Strangers' photos let in, one search each (all seeds), at a fixed threshold and at each gallery's "
                "own (own): what the templates learned by the end add", lines,
                ("enrol", "threshold", "let in: enrolment only / learning", "learning's factor",
                 "templates' factor (what counting them predicts)")))
    rounds = sorted({turn for r in runs for turn in r["by_round"]})
    lines = []
    for enrol in sorted({r["enrol"] for r in runs}):
        group = [r for r in runs if r["enrol"] == enrol]
        for turn in rounds:
            cells = [r["by_round"][turn] for r in group if turn in r["by_round"]]
            if sum(c["visits"] for c in cells) < 100:
                continue
            lines.append((enrol, turn, sum(c["visits"] for c in cells),
                          spread([c["missed"][0] for c in cells], percent=True),
                          spread([c["missed"][1] for c in cells], percent=True)))
    print()
    print(table("Returning visits missed by visit number (rounds of 100 visits or more, all seeds)", lines,
                ("enrol", "visit", "visits", "missed: enrolment only", "missed: learning")))


def main() -> int:
    p = parser(__doc__.splitlines()[0])
    face_set_arguments(p)
    p.add_argument("--seeds", type=int, default=3, help="repetitions with other splits and orders (default 3)")
    p.add_argument("--visit", type=int, default=3, help="photos per visit (default 3)")
    p.add_argument("--adaptive-templates", type=int, help="face.adaptive_templates (default: the gate's default)")
    p.add_argument("--adapt-margin", type=float, help="face.adapt_margin (default: the gate's default)")
    args = p.parse_args()
    loaded = development_faces(args.data, args.poses, quick=args.quick, program="face_returning")
    if loaded is None:
        return 1
    faces, folders = loaded[0], loaded[1]
    from edge.config import FaceConfig
    from edge.face.gallery import default_law

    chosen = {"adaptive_templates": args.adaptive_templates, "adapt_margin": args.adapt_margin,
              "fused_template": False if args.no_fused else None}
    config = FaceConfig(**{name: value for name, value in chosen.items() if value is not None})
    seeds = 1 if args.quick else args.seeds
    runs = [play(faces, seed, enrol, args.visit, config, default_law(config))
            for enrol in (args.enrol or [1, 3]) for seed in range(seeds)]
    print(f"{len(faces.images)} photos of {len(set(faces.identities))} people from "
          f"{', '.join(str(f) for f in folders)}; {seeds} seed(s); target {config.max_false_accept:g}; "
          f"at most {config.adaptive_templates} learned templates a resident, adapt_margin {config.adapt_margin:g}"
          f"; enrolment photos also searched as their mean: {'yes' if config.fused_template else 'no'}\n")
    report(runs, args.visit)
    finish(args, {"data": [str(f) for f in folders], "photos": len(faces.images), "seeds": seeds, "visit": args.visit,
                  "target": config.max_false_accept, "adaptive_templates": config.adaptive_templates,
                  "adapt_margin": config.adapt_margin, "fused_template": config.fused_template,
                  "arms": ARMS, "runs": runs})
    return 0


if __name__ == "__main__":
    sys.exit(main())
