"""What the CLI learns from an import file before sending it: its format, how many records it holds, and (CSV)
the file line each row starts on, so an error the API names by row index points at a line of the file."""

import csv
import io
import json
import re
from dataclasses import dataclass
from pathlib import Path

from .exits import Exit, Failure

FORMATS = {"csv": "text/csv", "json": "application/json"}
_ROW = re.compile(r"^\[(\d+)\]\.?(.*)$")


@dataclass(frozen=True)
class ImportFile:
    path: Path
    format: str
    body: bytes
    records: int
    lines: tuple[int, ...] = ()  # CSV: the line each data row starts on, by row index

    @property
    def content_type(self) -> str:
        return FORMATS[self.format]


def format_of(path: Path, given: str | None) -> str:
    fmt = (given or path.suffix.lstrip(".")).lower()
    if fmt not in FORMATS:
        raise Failure(Exit.USAGE, f"cannot tell the format of {path.name}: name it .csv or .json, or pass --format")
    return fmt


def csv_row_lines(body: bytes) -> tuple[int, ...]:
    """Start line of each data row, counted as the correlator counts rows: the header and blank lines are not
    rows; a quoted value may span lines."""
    reader = csv.reader(io.StringIO(body.decode("utf-8-sig", errors="replace"), newline=""))
    next(reader, None)
    lines, previous_end = [], reader.line_num
    for values in reader:
        if values and values != [""]:
            lines.append(previous_end + 1)
        previous_end = reader.line_num
    return tuple(lines)


def json_records(body: bytes, name: str) -> int:
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise Failure(Exit.REFUSED, f"{name} is not valid JSON: {exc}") from None
    if not isinstance(data, list):
        raise Failure(Exit.REFUSED, f"{name} must hold a JSON array (one object per record)")
    return len(data)


def read(path: Path, given_format: str | None) -> ImportFile:
    fmt = format_of(path, given_format)
    try:
        body = path.read_bytes()
    except OSError as exc:
        raise Failure(Exit.USAGE, f"cannot read {path}: {exc.strerror or exc}") from None
    if fmt == "csv":
        lines = csv_row_lines(body)
        return ImportFile(path, fmt, body, len(lines), lines)
    return ImportFile(path, fmt, body, json_records(body, path.name))


def row_of(field: str) -> tuple[int | None, str]:
    """'[12].criticality' -> (12, 'criticality'); 'header' -> (None, 'header')."""
    match = _ROW.match(field)
    return (int(match[1]), match[2]) if match else (None, field)


def located(file: ImportFile, fields: list[tuple[str, str]], noun: str = "row") -> list[str]:
    """One line per API field error: `data.csv:14: row 12: criticality: reason` (compiler style, so an editor can
    jump to it); JSON files name the item index. Rows count from 0, as the API counts them."""
    out = []
    for field, reason in fields:
        row, rest = row_of(field)
        if row is None:
            out.append(f"{file.path}: {field}: {reason}")
            continue
        where = f"{file.path}:{file.lines[row]}" if row < len(file.lines) else str(file.path)
        what = f"{noun} {row}: {rest}: {reason}" if rest else f"{noun} {row}: {reason}"
        out.append(f"{where}: {what}")
    return out
