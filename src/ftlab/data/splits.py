"""Deterministic split making and subsampling (fixed seed, independent of trainer.seed)."""

from __future__ import annotations

import logging
import random
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


def group_split(
    labels: list[str], groups: list[str], percentage: float, seed: int
) -> dict[str, list[int]]:
    """Row indices of train / validation / test with every group (a law, a document) in one
    split only, each split holding about `percentage`% of every label's rows (validation and
    test each; the rest is train). Each group must carry one label.

    Per label, groups go largest first (ties in a `seed`-shuffled order) to the split
    furthest below its share. sklearn's StratifiedGroupKFold makes equal folds instead:
    with a few very large groups (one code of 1,260 articles) a 10% fold is one law, and
    a label with fewer groups than folds misses from the folds used as validation or test.
    """
    shares = {"train": 1 - 2 * percentage / 100, "validation": percentage / 100}
    shares["test"] = shares["validation"]
    members: dict[str, list[int]] = {}
    for index, group in enumerate(groups):
        members.setdefault(group, []).append(index)
    order = list(members)
    random.Random(seed).shuffle(order)
    by_label: dict[str, list[str]] = {}
    for group in order:
        by_label.setdefault(labels[members[group][0]], []).append(group)
    result: dict[str, list[int]] = {name: [] for name in shares}
    for label_groups in by_label.values():
        total = sum(len(members[g]) for g in label_groups)
        filled = dict.fromkeys(shares, 0)
        for group in sorted(label_groups, key=lambda g: -len(members[g])):  # stable: ties shuffled
            split = max(shares, key=lambda s: shares[s] * total - filled[s])
            filled[split] += len(members[group])
            result[split].extend(members[group])
    return {name: sorted(indices) for name, indices in result.items()}
