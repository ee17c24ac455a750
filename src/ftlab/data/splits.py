"""Deterministic split making and subsampling (fixed seed, independent of trainer.seed)."""

from __future__ import annotations

import logging
from collections.abc import Callable

from datasets import DatasetDict

from ftlab.errors import FtlabError

log = logging.getLogger(__name__)


def add_missing_splits(splits: DatasetDict, percentage: float, seed: int) -> DatasetDict:
    """Cut a missing validation and/or test split from train, `percentage`% of train each."""
    missing = [name for name in ("validation", "test") if name not in splits]
    if not missing:
        return splits
    size = len(splits["train"])
    # at least one example per made split, and at least one left to train on
    held_out = max(len(missing), round(size * len(missing) * percentage / 100))
    if size - held_out < 1:
        raise FtlabError(
            f"train has {size} examples, too few to cut {' and '.join(missing)} from it; "
            f"give task.{missing[0]}_file=PATH or more training data"
        )
    parts = splits["train"].train_test_split(test_size=held_out, seed=seed)
    result = DatasetDict({k: v for k, v in splits.items()})
    result["train"] = parts["train"]
    if len(missing) == 1:
        result[missing[0]] = parts["test"]
    else:
        halves = parts["test"].train_test_split(test_size=0.5, seed=seed)
        result["validation"], result["test"] = halves["train"], halves["test"]
    log.info(
        "made %s from %.0f%% of train each (seed %d): %s",
        " and ".join(missing),
        percentage,
        seed,
        ", ".join(f"{k}={len(v)}" for k, v in result.items()),
    )
    return DatasetDict({k: result[k] for k in ("train", "validation", "test")})


def subsample(
    splits: DatasetDict,
    seed: int,
    max_train_samples: int | None = None,
    max_eval_samples: int | None = None,
    train_samples_per_class: int | None = None,
    class_of: Callable[[dict], str] | None = None,
) -> DatasetDict:
    """Shuffle with `seed` and keep the first examples: the same subset on every run.

    `train_samples_per_class` keeps that many training examples of each class
    (`class_of(example)` names it; multi-label examples count for their first label).
    """
    result = DatasetDict(dict(splits))
    if train_samples_per_class:
        shuffled = result["train"].shuffle(seed=seed)
        counts: dict[str, int] = {}
        keep = []
        for index, example in enumerate(shuffled):
            cls = class_of(example)
            if counts.get(cls, 0) < train_samples_per_class:
                counts[cls] = counts.get(cls, 0) + 1
                keep.append(index)
        result["train"] = shuffled.select(keep)
    if max_train_samples is not None and max_train_samples < len(result["train"]):
        result["train"] = result["train"].shuffle(seed=seed).select(range(max_train_samples))
    if max_eval_samples is not None:
        for name in ("validation", "test"):
            if max_eval_samples < len(result[name]):
                result[name] = result[name].shuffle(seed=seed).select(range(max_eval_samples))
    return result
