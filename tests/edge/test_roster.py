"""A property office's roster (CSV, XLSX, or the image,identity labels of a face set): each row enrolled or
refused with its reason, the rest kept, a group photo giving its person's face."""

import subprocess
import sys

import cv2
import numpy as np
import pytest

from edge.errors import ConfigError
from edge.images import read_image
from edge.roster import read_roster
from tests.conftest import ROOT, SCENARIOS

FACES = SCENARIOS / "faces"


def gatepost(*args):
    return subprocess.run([sys.executable, "-m", "edge.cli", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)


def photos_folder(tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    for person in ("resident_a", "resident_b", "resident_c"):
        for name in ("01.jpg", "02.jpg"):
            (folder / f"{person}-{name}").write_bytes((FACES / person / name).read_bytes())
    chen, bob = read_image(FACES / "resident_c/03.jpg"), read_image(FACES / "resident_b/03.jpg")
    height = min(chen.shape[0], bob.shape[0])
    group = np.hstack([chen[:height], bob[:height]])
    cv2.imwrite(str(folder / "group.jpg"), group)
    return folder


def test_a_csv_roster_enrols_the_good_rows_and_names_each_refusal(tmp_path):
    folder = photos_folder(tmp_path)
    roster = tmp_path / "roster.csv"
    roster.write_text("姓名,房号,电话,照片\n"
                      "Alice,3-201,13800000000,resident_a-01.jpg;resident_a-02.jpg\n"
                      "Bob,5-1102,,resident_b-01.jpg|resident_b-02.jpg\n"
                      "Chen,7-301,,resident_c-01.jpg;group.jpg\n"
                      ",9-9,,resident_a-01.jpg\n"
                      "Dai,1-1,,missing.jpg\n"
                      "Escape,1-2,,../../etc/passwd\n", encoding="utf-8")
    state = tmp_path / "state"
    result = gatepost("residents", "--state-dir", str(state), "import", str(roster), "--photos", str(folder))
    assert result.returncode == 3, result.stderr  # partly done
    assert "enrolled 3 of 6 people" in result.stdout
    refused = [line for line in result.stderr.splitlines() if line.startswith("refused ")]
    assert refused == ["refused row 5 (no name): name: empty",
                       "refused row 6 (Dai): photos: not found: missing.jpg",
                       "refused row 7 (Escape): photos: not found: ../../etc/passwd"]
    listed = gatepost("residents", "--state-dir", str(state), "list", "--json")
    people = {p["name"]: p for p in __import__("json").loads(listed.stdout)}
    assert people["Alice"]["unit"] == "3-201" and people["Chen"]["templates"] == 2  # the group photo gave Chen
    assert "13800000000" not in (state / "gatepost.db").read_bytes().decode("latin-1")  # phones are not kept


def test_an_xlsx_roster_and_labels_of_one_photo_per_row(tmp_path):
    from openpyxl import Workbook

    folder = photos_folder(tmp_path)
    book = Workbook()
    sheet = book.active
    sheet.append(["Name", "Unit", "Photos"])
    sheet.append(["Alice", 3201, "resident_a-01.jpg"])
    book.save(tmp_path / "roster.xlsx")
    rows = read_roster(tmp_path / "roster.xlsx", folder).rows
    assert [(r.name, r.unit, len(r.photos)) for r in rows] == [("Alice", "3201", 1)]

    (folder / "labels.csv").write_text("image,identity,source\nresident_b-01.jpg,bob,x\nresident_b-02.jpg,bob,x\n"
                                       "resident_a-01.jpg,alice,x\n")
    rows = read_roster(folder / "labels.csv").rows
    assert [(r.name, len(r.photos)) for r in rows] == [("bob", 2), ("alice", 1)]


def test_a_file_that_is_not_a_roster_is_refused_in_one_line(tmp_path):
    bad = tmp_path / "roster.csv"
    bad.write_text("who,where\nAlice,3-201\n")
    with pytest.raises(ConfigError, match="no 'name' column"):
        read_roster(bad)
    fake = tmp_path / "roster.xlsx"
    fake.write_bytes(b"PK\x03\x04 not really a workbook")
    with pytest.raises(ConfigError, match="not a readable XLSX"):
        read_roster(fake)
