"""Load a task's raw splits from local files, an installed package, or the Hugging Face Hub."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from datasets import Dataset, DatasetDict

from ftlab.config.paths import resolve_path
from ftlab.data.builtin import load_builtin
from ftlab.data.diagnose import decode_error, first_bad_line, not_decodable
from ftlab.errors import FtlabError

SPLIT_FILES = {"train": "train_file", "validation": "validation_file", "test": "test_file"}
TABLE_FORMATS = {".csv": "csv", ".json": "json", ".jsonl": "json", ".parquet": "parquet"}

FileReader = Callable[[Path], Dataset]
LINE_SUFFIXES = (".txt", ".text")  # plain text, one item (a document, an answer) a line
TEXT_FORMATS = ("csv", "json")  # read with an encoding (parquet is binary)


class DataSourceConfig(Protocol):
    train_file: str | None
    validation_file: str | None
    test_file: str | None
    builtin_dataset: str | None
    dataset_name: str | None
    dataset_config_name: str | None


def read_lines(path: Path, encoding: str = "utf-8") -> list[str]:
    """The non-blank lines of a plain text file in `encoding` (one line for a file that is
    not text in it)."""
    try:
        lines = path.read_text(encoding=encoding).splitlines()
    except UnicodeDecodeError as exc:
        raise not_decodable(path, encoding, exc) from exc
    return [line for line in lines if line.strip()]


def read_table_file(path: Path, encoding: str = "utf-8") -> Dataset:
    """A csv / json / jsonl / parquet file as a Dataset (via the `datasets` builders); text
    formats in `encoding` (task.encoding)."""
    from datasets import load_dataset

    builder = TABLE_FORMATS.get(path.suffix.lower())
    if builder is None:
        raise FtlabError(
            f"{path}: unsupported file type '{path.suffix}'; use one of {', '.join(TABLE_FORMATS)}"
        )
    options = {"encoding": encoding} if builder in TEXT_FORMATS else {}
    try:
        return load_dataset(builder, data_files=str(path), split="train", **options)
    except Exception as exc:  # the builders' parse errors are long and deep; keep the gist
        undecodable = decode_error(exc)
        if undecodable is not None:
            raise not_decodable(path, encoding, undecodable) from exc
        where = first_bad_line(path, encoding) or _first_line(exc.__cause__ or exc)
        raise FtlabError(f"{path}: cannot be read as {builder}: {where}") from exc


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _checked_file(option: str, value: str) -> Path:
    path = Path(resolve_path(value)).expanduser()
    if not path.is_file():
        raise FtlabError(f"task.{option}: no such file: {path}")
    if path.stat().st_size == 0:
        raise FtlabError(f"task.{option}: {path} is empty")
    return path


def local_files(source: DataSourceConfig) -> dict[str, Path]:
    """The local files the source reads, by split (none unless task.train_file is set), each
    checked to exist and hold something. Cheap: a run checks them before it loads torch."""
    if not source.train_file:
        return {}
    return {
        split: _checked_file(option, getattr(source, option))
        for split, option in SPLIT_FILES.items()
        if getattr(source, option)
    }


def load_raw_splits(
    source: DataSourceConfig, read_file: FileReader = read_table_file
) -> DatasetDict:
    """The splits the source has. Precedence: local files, then builtin data, then the Hub."""
    if source.train_file:
        return DatasetDict({split: read_file(path) for split, path in local_files(source).items()})
    if source.builtin_dataset:
        return load_builtin(source.builtin_dataset)
    if source.dataset_name:
        return load_hub_dataset(source.dataset_name, source.dataset_config_name)
    raise FtlabError(
        "the task names no data: set task.train_file=PATH, task.builtin_dataset=NAME "
        "or task.dataset_name=HUB_ID"
    )


def load_hub_dataset(name: str, config_name: str | None) -> DatasetDict:
    from datasets import load_dataset

    label = f"{name}/{config_name}" if config_name else name
    try:
        return load_dataset(name, config_name)
    except (ConnectionError, FileNotFoundError, OSError, ValueError) as exc:
        raise FtlabError(
            f"dataset '{label}' cannot be loaded from the Hugging Face Hub "
            f"({type(exc).__name__}; offline?): give local files with task.train_file=... "
            "task.validation_file=... task.test_file=..., or use an offline task "
            "(task=sentiment, task=intent, task=ner)"
        ) from exc
