"""Text augmentation for classification training data: random word deletion and swaps (the
two label-preserving operations of EDA, Wei & Zou, 2019). A word is what the text's spaces
separate, and each CJK ideograph on its own (ftlab/data/words.py), so Chinese text changes
character by character.

`task.augment=delete|swap|[delete,swap]` adds `task.augment_copies` changed copies of each
training text (the originals stay); each word is deleted with probability `augment_rate`,
and `augment_rate` x the word count pairs of words swap places. Only the training split is
touched, and each copy's randomness comes from the seed, the example and the copy number,
so the same seed always gives the same data.
"""

from __future__ import annotations

import random
from typing import Any

from ftlab.data.words import join, units
from ftlab.errors import FtlabError

OPERATIONS = ("delete", "swap")


def operations(augment: Any) -> list[str]:
    """The list of operations `task.augment` names ([] for null); a one-line error otherwise."""
    if augment is None:
        return []
    ops = [augment] if isinstance(augment, str) else list(augment)
    unknown = [op for op in ops if op not in OPERATIONS]
    if unknown or not ops:
        raise FtlabError(
            f"task.augment must be {', '.join(OPERATIONS)} or a list of them, got {augment!r}"
        )
    return ops


def check_augment(augment: Any, rate: Any, copies: Any) -> None:
    operations(augment)
    if not (isinstance(rate, (int, float)) and 0 < rate < 1):
        raise FtlabError(f"task.augment_rate must be between 0 and 1, got {rate!r}")
    if not (isinstance(copies, int) and copies >= 1):
        raise FtlabError(f"task.augment_copies must be a whole number >= 1, got {copies!r}")


def augment_text(text: str, ops: list[str], rate: float, rng: random.Random) -> str:
    # text without spaces (Chinese) changes character by character, not as one "word"
    words = units(text)
    if "delete" in ops and len(words) > 1:
        kept = [w for w in words if rng.random() >= rate]
        words = kept or [rng.choice(words)]  # never an empty text
    if "swap" in ops and len(words) > 1:
        for _ in range(max(1, round(rate * len(words)))):
            i, j = rng.sample(range(len(words)), 2)
            words[i], words[j] = words[j], words[i]
    return join(words)


def augment_dataset(
    train: Any, text_columns: list[str], augment: Any, rate: float, copies: int, seed: int
) -> Any:
    """`train` followed by `copies` augmented copies of it (labels unchanged)."""
    from datasets import concatenate_datasets

    ops = operations(augment)

    def copy(number: int) -> Any:
        def change(example: dict, index: int) -> dict:
            # str seeds hash deterministically (unlike hash()), across processes and runs
            rng = random.Random(f"{seed}-{number}-{index}")
            return {c: augment_text(str(example[c]), ops, rate, rng) for c in text_columns}

        return train.map(change, with_indices=True, desc=f"augmenting copy {number}")

    return concatenate_datasets([train, *(copy(n) for n in range(1, copies + 1))])
