"""Word labels onto sub-word tokens and back, through a fast tokenizer's `word_ids()`.

A word split into several pieces is labelled on its first piece; the other pieces and the
special tokens get IGNORE, so the loss and the scores see each word once.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

# the label id that torch's cross-entropy (and DataCollatorForTokenClassification) ignores
IGNORE = -100
OUTSIDE = "O"


def continuation_ids(label_list: Sequence[str], inside: str = "I") -> dict[int, int]:
    """For `label_all_tokens`: the id a piece after a word's first one gets, where it
    differs (B-X becomes I-X, or BMES's M-X: the entity goes on, it does not start again)."""
    ids = {label: i for i, label in enumerate(label_list)}
    return {
        i: ids[f"{inside}-{label[2:]}"]
        for i, label in enumerate(label_list)
        if label.startswith("B-") and f"{inside}-{label[2:]}" in ids
    }


def align_labels(
    word_ids: Sequence[int | None],
    word_labels: Sequence[int],
    continuation: dict[int, int] | None = None,
    owned: Collection[int] | None = None,
) -> list[int]:
    """One label id per token: the word's label on its first piece, IGNORE on special
    tokens, and on further pieces IGNORE, or with `continuation` (label_all_tokens)
    the word's label mapped through it. With `owned` (a window of a long sentence), the
    pieces of the other words are IGNORE too: another window labels them."""
    labels = []
    previous = None
    for word in word_ids:
        if word is None or (owned is not None and word not in owned):
            labels.append(IGNORE)
        elif word != previous:
            labels.append(word_labels[word])
        elif continuation is None:
            labels.append(IGNORE)
        else:
            label = word_labels[word]
            labels.append(continuation.get(label, label))
        previous = word
    return labels


def truncated_words(word_ids: Sequence[int | None], n_words: int, max_length: int) -> int:
    """How many words at the end of a sentence truncation to `max_length` tokens cut off."""
    if len(word_ids) < max_length:
        return 0  # not truncated (a word may still have no token: see first_pieces)
    last = max((w for w in word_ids if w is not None), default=-1)
    return n_words - 1 - last


def first_pieces(
    word_ids: Sequence[int | None], owned: Collection[int] | None = None
) -> dict[int, int]:
    """word index -> the position of its first token (words without a token are absent;
    with `owned`, only those words)."""
    positions: dict[int, int] = {}
    for position, word in enumerate(word_ids):
        if word is not None and word not in positions and (owned is None or word in owned):
            positions[word] = position
    return positions
