"""Read the rows to predict: a table file, plain lines, CoNLL columns, or stdin."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from datasets import Dataset

from ftlab.data.columns import rows_in_memory
from ftlab.data.conll import CONLL_SUFFIXES
from ftlab.data.sources import LINE_SUFFIXES, read_lines
from ftlab.errors import FtlabError, boundary

INPUT_FORMATS = ("auto", "lines", "table", "conll")


def _from_lines(lines: list[str], column: str, where: str) -> Dataset:
    texts = [line.rstrip("\r\n") for line in lines]
    texts = [t for t in texts if t.strip()]
    if not texts:
        raise FtlabError(f"input {where} has no text (one text a line expected)")
    return rows_in_memory({column: texts})


def _from_jsonl(lines: list[str], where: str) -> Dataset:
    rows = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError as exc:
            raise FtlabError(f"input {where}, line {number}: not a JSON object: {exc}") from exc
    if not rows:
        raise FtlabError(f"input {where} is empty")
    return Dataset.from_list(rows)


def read_input(value: str, input_format: str, task: Any) -> Dataset:
    """The rows of `input` (`-`: stdin). `lines` puts each line into the task's input text
    column; `table` and `conll` go through the task's own file reader, as training data does."""
    text_column = task.input_text_column
    if input_format not in INPUT_FORMATS:
        raise FtlabError(
            f"input_format must be one of {', '.join(INPUT_FORMATS)}, got '{input_format}'"
        )
    if value == "-":
        with boundary("reading stdin", "send UTF-8 text"):
            lines = sys.stdin.read().splitlines()
        first = next((line for line in lines if line.strip()), "")
        if input_format == "table" or (input_format == "auto" and first.startswith("{")):
            return _from_jsonl(lines, "stdin")
        return _from_lines(lines, text_column, "stdin")
    path = Path(value).expanduser()
    if not path.is_file():
        raise FtlabError(f"input={path}: no such file")
    if input_format == "lines" or (input_format == "auto" and path.suffix.lower() in LINE_SUFFIXES):
        return _from_lines(read_lines(path, task.encoding), text_column, str(path))
    if input_format == "conll" and path.suffix.lower() not in CONLL_SUFFIXES:
        raise FtlabError(
            f"input={path}: a CoNLL file needs a suffix of {', '.join(CONLL_SUFFIXES)}"
        )
    return task.read_file(path)
