"""Find the line that makes a csv or jsonl file unreadable.

The `datasets` builders report parse failures without the file's line number; these
checks run only after a load has failed, so reading a good file costs nothing extra.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

from ftlab.errors import FtlabError


def decode_error(exc: BaseException) -> UnicodeDecodeError | None:
    """The UnicodeDecodeError behind a reader's exception, if that is what it was."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, UnicodeDecodeError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def not_decodable(path: Path, encoding: str, error: UnicodeDecodeError) -> FtlabError:
    """The one line for a file that is not text in `encoding`."""
    byte = error.object[error.start : error.start + 1].hex() if error.object else "?"
    return FtlabError(
        f"{path} is not {encoding} text (byte 0x{byte} at offset {error.start}); re-encode it "
        f"(e.g. iconv -f latin1 -t utf-8 {path.name} > fixed{path.suffix}), or set "
        "task.encoding=latin-1 (or the file's encoding) to read it as it is"
    )


def first_bad_line(path: Path, encoding: str = "utf-8") -> str | None:
    """'line N: what is wrong' for the first malformed line, or None if none is found."""
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".json"):
        return _first_bad_json_line(path, encoding)
    if suffix == ".csv":
        return _first_bad_csv_row(path, encoding)
    return None


def _first_bad_json_line(path: Path, encoding: str) -> str | None:
    with open(path, encoding=encoding) as handle:
        first = handle.read(1)
        if first == "[":  # a single JSON document, not JSON Lines
            handle.seek(0)
            try:
                json.load(handle)
            except json.JSONDecodeError as exc:
                return f"line {exc.lineno}: {exc.msg}"
            return None
        handle.seek(0)
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except json.JSONDecodeError as exc:
                return f"line {number}: {exc.msg} (column {exc.colno})"
            if not isinstance(value, dict):
                return f"line {number}: expected a JSON object, got {type(value).__name__}"
    return None


def _first_bad_csv_row(path: Path, encoding: str) -> str | None:
    with open(path, encoding=encoding, newline="") as handle:
        reader = csv.reader(handle, strict=True)
        header: list[str] | None = None
        while True:
            start = reader.line_num + 1  # a quoted field can span lines: report where the row began
            try:
                row = next(reader)
            except StopIteration:
                return None
            except csv.Error as exc:
                return f"line {start}: {exc}"
            if header is None:
                header = row
            elif row and len(row) != len(header):
                return f"line {start}: {len(row)} fields, the header has {len(header)}"
