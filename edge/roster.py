"""A property office's roster (CSV or XLSX) read into people to enrol: each row's name, unit, optional phone and
photos, or the reason it is refused. Reading is bounded: rows, columns and cell lengths have limits.

Columns, by header (case and spacing ignored; the Chinese headers offices use are accepted too):
- `name` (required), `unit`, `phone` (read, never stored: the gate does not need it);
- `photos`: paths separated by `;` or `|`, relative to the roster's folder (or `--photos DIR`);
- `folder`: a folder of that person's photos. A row with neither uses the folder named after the person.
Rows with the same name and unit are one person (a roster of one photo per row, as `image,identity` labels are).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path

from edge.errors import ConfigError

MAX_ROWS = 20_000
MAX_CELL = 1_000
MAX_BYTES = 20_000_000
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}
HEADERS = {
    "name": "name", "姓名": "name", "unit": "unit", "room": "unit", "房号": "unit", "单元": "unit",
    "phone": "phone", "电话": "phone", "手机": "phone", "photos": "photos", "photo": "photos", "照片": "photos",
    "image": "photos", "identity": "name",
    "folder": "folder", "目录": "folder",
}


@dataclass(frozen=True)
class RosterRow:
    line: int  # as the office's spreadsheet numbers it (the header is line 1)
    name: str
    unit: str
    photos: tuple[Path, ...] = ()
    refused: str = ""  # why this row cannot be enrolled; empty when it can
    folder: str = ""  # read from a folder of folders: that folder's name, which labels it

    @property
    def label(self) -> str:
        return self.folder or f"row {self.line} ({self.name or 'no name'})"


@dataclass
class Roster:
    rows: list[RosterRow] = field(default_factory=list)

    @property
    def refused(self) -> list[RosterRow]:
        return [row for row in self.rows if row.refused]


def read_roster(path: Path, photos_root: Path | None = None) -> Roster:
    """Every row, each with its photos or the reason it is refused; ConfigError for a file that is not a roster."""
    if not path.is_file():
        raise ConfigError(f"{path}: no such file")
    if path.stat().st_size > MAX_BYTES:
        raise ConfigError(f"{path}: larger than {MAX_BYTES // 1_000_000} MB; split the roster")
    table = _xlsx_rows(path) if path.suffix.lower() in (".xlsx", ".xlsm") else _csv_rows(path)
    header, *body = table or [[]]
    columns = _columns(path, header)
    if len(body) > MAX_ROWS:
        raise ConfigError(f"{path}: more than {MAX_ROWS} rows; split the roster")
    root = photos_root or path.parent
    roster = Roster()
    people: dict[tuple[str, str], int] = {}  # (name, unit) -> its row's index
    for offset, cells in enumerate(body[:MAX_ROWS], start=2):
        if not any(cell.strip() for cell in cells):
            continue
        row = _row(offset, {key: cells[index].strip() if index < len(cells) else "" for key, index in columns.items()},
                   root)
        key = (row.name, row.unit)
        if not row.refused and key in people:
            first = roster.rows[people[key]]
            roster.rows[people[key]] = RosterRow(first.line, first.name, first.unit, first.photos + row.photos)
            continue
        if not row.refused:
            people[key] = len(roster.rows)
        roster.rows.append(row)
    return roster


def _columns(path: Path, header: list[str]) -> dict[str, int]:
    columns: dict[str, int] = {}
    for index, cell in enumerate(header):
        key = HEADERS.get(cell.strip().lower().replace(" ", "_"))
        if key and key not in columns:
            columns[key] = index
    if "name" not in columns:
        raise ConfigError(f"{path}: line 1 has no 'name' column (columns: name, unit, phone, photos, folder)")
    return columns


def _row(line: int, cells: dict[str, str], root: Path) -> RosterRow:
    name, unit = cells.get("name", ""), cells.get("unit", "")
    if not name:
        return RosterRow(line, name, unit, refused="name: empty")
    for key, value in cells.items():
        if len(value) > MAX_CELL:
            return RosterRow(line, name[:40], unit, refused=f"{key}: longer than {MAX_CELL} characters")
    listed = [part.strip() for part in cells.get("photos", "").replace("|", ";").split(";") if part.strip()]
    if listed:
        photos = [_inside(root, part) for part in listed]
        missing = [part for part, photo in zip(listed, photos) if photo is None or not photo.is_file()]
        if missing:
            return RosterRow(line, name, unit, refused=f"photos: not found: {', '.join(missing[:3])}")
        return RosterRow(line, name, unit, tuple(p for p in photos if p is not None))
    folder = _inside(root, cells.get("folder") or name)
    if folder is None or not folder.is_dir():
        return RosterRow(line, name, unit, refused=f"photos: none listed and no folder {cells.get('folder') or name!r}")
    found = tuple(sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES))
    if not found:
        return RosterRow(line, name, unit, refused=f"photos: folder {folder.name!r} holds none")
    return RosterRow(line, name, unit, found)


def _inside(root: Path, relative: str) -> Path | None:
    """A path the roster names, kept inside its folder (a roster is a file from outside)."""
    candidate = (root / relative).resolve()
    return candidate if candidate.is_relative_to(root.resolve()) else None


def _csv_rows(path: Path) -> list[list[str]]:
    raw = path.read_bytes()
    for encoding in ("utf-8-sig", "gb18030"):  # Excel in a Chinese office saves CSV as GB18030
        try:
            text = raw.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise ConfigError(f"{path}: neither UTF-8 nor GB18030 text")
    try:
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel  # type: ignore[assignment]
    reader = csv.reader(io.StringIO(text), dialect)
    rows = []
    try:
        for cells in reader:
            rows.append(cells[:32])
            if len(rows) > MAX_ROWS + 1:
                break
    except csv.Error as error:
        raise ConfigError(f"{path}: line {reader.line_num}: {error}") from None
    return rows


def _xlsx_rows(path: Path) -> list[list[str]]:
    from openpyxl import load_workbook

    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except Exception as error:  # openpyxl raises many kinds for a file that is not a workbook
        raise ConfigError(f"{path}: not a readable XLSX workbook ({type(error).__name__})") from None
    try:
        sheet = book.worksheets[0]
        rows = []
        for values in sheet.iter_rows(max_row=MAX_ROWS + 2, max_col=32, values_only=True):
            rows.append([_cell(value) for value in values])
        return rows
    finally:
        book.close()


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # a unit number typed into a spreadsheet
    return str(value)
