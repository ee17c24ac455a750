"""Text augmentation for classification training data: synonym replacement, random word
deletion and swaps (three of the four operations of EDA, Wei & Zou, 2019). A word is what the
text's spaces separate, and each CJK ideograph on its own (ftlab/data/words.py), so Chinese
text changes character by character.

`task.augment=synonym|delete|swap` or a list of them adds `task.augment_copies` changed
copies of each training text (the originals stay); each English word that WordNet has a
synonym for (stopwords aside: ftlab/data/synonyms.py) is replaced by one of them with
probability `augment_rate`, each word is deleted with probability `augment_rate`, and
`augment_rate` x the word count pairs of words swap places, in that order. Only the training
split is touched, and each copy's randomness comes from the seed, the example and the copy
number, so the same seed always gives the same data.
"""

from __future__ import annotations

import random
import re
from typing import Any

from ftlab.data import synonyms
from ftlab.data.words import is_cjk, join, units
from ftlab.errors import FtlabError

OPERATIONS = ("synonym", "delete", "swap")
# a word that synonym replacement may change: ASCII letters, with punctuation around them kept
_ENGLISH_WORD = re.compile(r"([^A-Za-z]*)([A-Za-z]+)([^A-Za-z]*)")


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
    if "synonym" in operations(augment):
        synonyms.check_available()
    if not (isinstance(rate, (int, float)) and 0 < rate < 1):
        raise FtlabError(f"task.augment_rate must be between 0 and 1, got {rate!r}")
    if not (isinstance(copies, int) and copies >= 1):
        raise FtlabError(f"task.augment_copies must be a whole number >= 1, got {copies!r}")


def augment_text(text: str, ops: list[str], rate: float, rng: random.Random) -> str:
    # text without spaces (Chinese) changes character by character, not as one "word"
    words = units(text)
    if "synonym" in ops:
        words = [_replace(word, rate, rng) for word in words]
    if "delete" in ops and len(words) > 1:
        kept = [w for w in words if rng.random() >= rate]
        words = kept or [rng.choice(words)]  # never an empty text
    if "swap" in ops and len(words) > 1:
        for _ in range(max(1, round(rate * len(words)))):
            i, j = rng.sample(range(len(words)), 2)
            words[i], words[j] = words[j], words[i]
    return join(words)


def _replace(word: str, rate: float, rng: random.Random) -> str:
    """`word`, or with probability `rate` one of its WordNet synonyms (same capitalisation)."""
    match = _ENGLISH_WORD.fullmatch(word)
    if match is None:
        return word
    before, core, after = match.groups()
    choices = synonyms.synonyms(core)
    if not choices or rng.random() >= rate:
        return word
    new = rng.choice(choices)
    if core.isupper() and len(core) > 1:
        new = new.upper()
    elif core[0].isupper():
        new = new.capitalize()
    return before + new + after


def check_english(texts: list[str]) -> None:
    """A one-line error when `texts` are mostly CJK: WordNet's synonyms are English only, so
    synonym copies of Chinese text would be the originals again (plain oversampling)."""
    words = [w for text in texts for w in units(text)]
    cjk = sum(is_cjk(w) for w in words)
    english = sum(_ENGLISH_WORD.fullmatch(w) is not None for w in words)
    if cjk > english:
        raise FtlabError(
            "task.augment=synonym replaces English words (WordNet) and the training texts "
            "are mostly Chinese/CJK, which it would leave unchanged: use task.augment=delete, "
            "swap or [delete,swap]"
        )


def augment_dataset(
    train: Any, text_columns: list[str], augment: Any, rate: float, copies: int, seed: int
) -> Any:
    """`train` followed by `copies` augmented copies of it (labels unchanged)."""
    from datasets import concatenate_datasets

    ops = operations(augment)
    if "synonym" in ops:
        # a sample decides: the first 200 texts of each column
        check_english([str(t) for c in text_columns for t in train[:200][c]])

    def copy(number: int) -> Any:
        def change(example: dict, index: int) -> dict:
            # str seeds hash deterministically (unlike hash()), across processes and runs
            rng = random.Random(f"{seed}-{number}-{index}")
            return {c: augment_text(str(example[c]), ops, rate, rng) for c in text_columns}

        return train.map(change, with_indices=True, desc=f"augmenting copy {number}")

    return concatenate_datasets([train, *(copy(n) for n in range(1, copies + 1))])
