"""Prepare the public face sets that the identification benchmark uses, outside the repository.

    python bench/face_data.py cfp PATH [--out DIR]
    python bench/face_data.py celeba PATH [--out DIR]

PATH is a clone of the public repository (a work tree or a bare git directory):
- cfp:    sburrel/AIDL2019_PROJECT_SBD at commit 3c4e16d0 (Celebrities in Frontal-Profile,
          500 people x 10 frontal + 4 profile photos, `dataset-cfp/Data/Images`)
- celeba: matush97/faceRecognition at commit e7ba6c09 (a CelebA subset, `Celeb/` with
          `identity_CelebA.txt`)
Both are for research use only: they are read for benchmarks, never shipped or committed.
Each set lands in DIR/<name>/ (default: $XDG_CACHE_HOME/gatepost/faces) with a `labels.csv`
(image, identity, pose) that `bench/face_identification.py` reads.
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import subprocess
import sys
import tarfile
from pathlib import Path

COMMITS = {"cfp": "3c4e16d0", "celeba": "e7ba6c09"}
FOLDERS = {"cfp": ["dataset-cfp/Data/Images", "dataset-cfp/Data/list_name.txt"],
           "celeba": ["Celeb", "identity_CelebA.txt"]}


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "gatepost" / "faces"


def extract(repo: Path, commit: str, paths: list[str], into: Path) -> None:
    """`git archive` of the named paths at the named commit, unpacked under `into`."""
    archive = subprocess.run(["git", "-C", str(repo), "archive", "--format=tar", commit, *paths],
                             check=True, capture_output=True).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")


def cfp_rows(root: Path) -> list[tuple[str, str, str]]:
    names = (root / "dataset-cfp/Data/list_name.txt").read_text().splitlines()
    rows = []
    for folder in sorted((root / "dataset-cfp/Data/Images").iterdir()):
        identity = names[int(folder.name) - 1].strip() or folder.name
        for pose in ("frontal", "profile"):
            for image in sorted((folder / pose).glob("*.jpg")):
                rows.append((str(image.relative_to(root)), f"cfp:{identity}", pose))
    return rows


def celeba_rows(root: Path) -> list[tuple[str, str, str]]:
    present = {p.name for p in (root / "Celeb").glob("*.jpg")}
    rows = []
    with open(root / "identity_CelebA.txt") as handle:
        for line in handle:
            parts = line.split()
            if len(parts) == 2 and parts[0] in present:
                rows.append((f"Celeb/{parts[0]}", f"celeba:{parts[1]}", "wild"))
    return sorted(rows, key=lambda row: (row[1], row[0]))


def prepare(kind: str, repo: Path, out: Path) -> Path:
    target = out / kind
    target.mkdir(parents=True, exist_ok=True)
    extract(repo, COMMITS[kind], FOLDERS[kind], target)
    rows = cfp_rows(target) if kind == "cfp" else celeba_rows(target)
    with open(target / "labels.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["image", "identity", "pose"])
        writer.writerows(rows)
    people = len({row[1] for row in rows})
    print(f"{kind}: {len(rows)} photos of {people} people in {target}")
    return target


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("kind", choices=sorted(COMMITS))
    p.add_argument("repo", help="clone of the public repository (work tree or git directory)")
    p.add_argument("--out", default=str(cache_dir()), help="cache folder (default %(default)s)")
    args = p.parse_args()
    try:
        prepare(args.kind, Path(args.repo), Path(args.out))
    except subprocess.CalledProcessError as error:
        print(f"face_data: git archive failed in {args.repo}: {error.stderr.decode().strip()}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
