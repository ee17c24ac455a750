"""A split's column, read a batch at a time; rows made in memory."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from datasets import Dataset

BATCH_ROWS = 10_000  # rows read at once: fast, and a large corpus is never all in memory


def column_values(split: Dataset, column: str) -> Iterator[Any]:
    """Every value of `column`, in row order. Iterating `split[column]` (a lazy `Column`)
    formats one row per value: measured 40x slower than these batches on TREC's 5,381
    questions, and the checks and label lists read whole columns of every split."""
    values = split.select_columns([column])
    for start in range(0, len(values), BATCH_ROWS):
        yield from values[start : start + BATCH_ROWS][column]


def rows_in_memory(columns: Mapping[str, list]) -> Dataset:
    """`Dataset.from_dict(columns)` without hashing every value for a fingerprint: datasets
    names its cache files by that hash, ~8 ms for one short text on these cores (more than a
    small model's forward pass) and growing with the rows. Rows made in memory to predict
    are never looked up in a cache, so a random fingerprint serves."""
    from datasets.fingerprint import generate_random_fingerprint
    from datasets.table import InMemoryTable

    table = InMemoryTable.from_pydict(dict(columns))
    return Dataset(table, fingerprint=generate_random_fingerprint())
