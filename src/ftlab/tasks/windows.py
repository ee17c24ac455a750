"""Long sentences as overlapping windows (`task.long_sequence=windows`) for token
classification: a sentence longer than `max_seq_length` tokens is split by the tokenizer's
own overflow support into windows that share `window_stride` tokens, and each word is
labelled, scored and predicted in exactly one of them: the window that owns it, where its
first piece has the most context on both sides (the farthest from a window edge that cuts
the sentence). A sentence that fits is one window that owns every word, as truncation
would have encoded it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ftlab.errors import FtlabError
from ftlab.models.family import encode_words
from ftlab.tasks.chunks import MAPPING

LONG_SEQUENCE = ("truncate", "windows")
SENTENCE = "ftlab_sentence"  # the column of a window's sentence (its row in the split)


def check_windows(long_sequence: str, stride: int | None, max_length: int) -> None:
    """The config's own checks; the tokenizer's special tokens are checked by `encode_windows`."""
    if long_sequence not in LONG_SEQUENCE:
        raise FtlabError(
            f"task.long_sequence must be one of {', '.join(LONG_SEQUENCE)}, got {long_sequence!r}"
        )
    if stride is not None and not 0 <= stride < max_length:
        raise FtlabError(
            f"task.window_stride={stride} must be at least 0 and below "
            f"task.max_seq_length={max_length} (the tokens consecutive windows share)"
        )


def window_stride(stride: int | None, max_length: int) -> int:
    """`window_stride`, or (null) a quarter of `max_seq_length`."""
    return max_length // 4 if stride is None else stride


def check_room(tokenizer: Any, stride: int, max_length: int) -> None:
    """Each window needs tokens of its own beside the `stride` it shares (the tokenizer
    panics, not raises, otherwise); how many special tokens it adds depends on the model."""
    room = max_length - tokenizer.num_special_tokens_to_add()
    if stride >= room:
        raise FtlabError(
            f"task.window_stride={stride} must be below task.max_seq_length={max_length} less "
            f"the tokenizer's {max_length - room} special tokens ({room}): each window needs "
            "new tokens beside the ones it shares with the previous window"
        )


def encode_windows(tokenizer: Any, sentences: list[list[str]], max_length: int, stride: int) -> Any:
    """Token ids of every window of every pre-split sentence, with the tokenizer's
    `overflow_to_sample_mapping` (each window's sentence) and `word_ids(i)` per window."""
    check_room(tokenizer, stride, max_length)
    encoded = encode_words(
        tokenizer,
        sentences,
        truncation=True,
        max_length=max_length,
        stride=stride,
        return_overflowing_tokens=True,
    )
    if MAPPING not in encoded:
        raise FtlabError(
            "task.long_sequence=windows needs a fast tokenizer (its overflow mapping); this "
            "model's tokenizer is a slow one: choose a model with a tokenizer.json, or set "
            "task.long_sequence=truncate"
        )
    return encoded


def owned_words(encoded: Any, sentences: Sequence[int], stride: int) -> list[set[int]]:
    """Per encoded row: the words whose labels and predictions it holds.

    `sentences` is each row's sentence (rows of a sentence are consecutive, in order).
    Window k+1 repeats the last `stride` content tokens of window k, so a content token's
    place in its sentence is the window's start plus its place in the window.
    """
    owners: list[set[int]] = [set() for _ in sentences]
    row = 0
    while row < len(sentences):
        end = row
        while end < len(sentences) and sentences[end] == sentences[row]:
            end += 1
        windows = [[w for w in encoded.word_ids(i) if w is not None] for i in range(row, end)]
        for word, k in _owners(windows, stride).items():
            owners[row + k].add(word)
        row = end
    return owners


def _owners(windows: list[list[int]], stride: int) -> dict[int, int]:
    """word -> its window, for the content word ids of one sentence's windows; a window's
    first (last) edge cuts nothing in the sentence's first (last) window."""
    best: dict[int, tuple[float, int]] = {}
    first_token: dict[int, int] = {}  # word -> the place of its first piece in the sentence
    start = 0
    for k, words in enumerate(windows):
        first: dict[int, int] = {}
        last: dict[int, int] = {}
        for place, word in enumerate(words):
            first.setdefault(word, place)
            last[word] = place
        for word, place in first.items():
            if first_token.setdefault(word, start + place) < start:
                continue  # a word cut at this window's start: its first piece is earlier
            left = place if k > 0 else float("inf")
            right = len(words) - 1 - last[word] if k < len(windows) - 1 else float("inf")
            context = min(left, right)
            if word not in best or context > best[word][0]:
                best[word] = (context, k)
        start += len(words) - stride
    return {word: k for word, (_, k) in best.items()}


def window_counts(sentences: Sequence[int]) -> dict[str, int]:
    """How many sentences were split, into how many windows."""
    per_sentence: dict[int, int] = {}
    for sentence in sentences:
        per_sentence[sentence] = per_sentence.get(sentence, 0) + 1
    split = [n for n in per_sentence.values() if n > 1]
    return {"sentences": len(split), "windows": sum(split)}
