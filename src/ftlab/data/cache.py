"""Tokenization that a second identical run loads from disk instead of redoing."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path

from datasets import DatasetDict
from datasets.fingerprint import Hasher

log = logging.getLogger(__name__)


def cache_dir() -> Path:
    """`$FTLAB_CACHE`, else `ftlab/` inside the `datasets` cache."""
    if os.environ.get("FTLAB_CACHE"):
        return Path(os.environ["FTLAB_CACHE"])
    import datasets.config

    return Path(datasets.config.HF_DATASETS_CACHE) / "ftlab"


def cached_map(splits: DatasetDict, function: Callable, *settings: object) -> DatasetDict:
    """`Dataset.map(function, batched=True)` on each split, cached by a fingerprint.

    The key covers the split's own fingerprint (its data), the function (with what it
    captures: the tokenizer and its settings) and `settings`, so any change re-tokenizes.
    """
    directory = cache_dir()
    directory.mkdir(parents=True, exist_ok=True)
    key = Hasher.hash([function, *settings])
    result = {}
    for name, split in splits.items():
        path = directory / f"{split._fingerprint}-{key}.arrow"
        hit = path.exists()
        result[name] = split.map(
            function,
            batched=True,
            remove_columns=split.column_names,
            cache_file_name=str(path),
            load_from_cache_file=True,
            desc=f"tokenizing {name}",
        )
        log.info("%s: %d examples, tokenization %s", name, len(split), "cached" if hit else "done")
    return DatasetDict(result)
