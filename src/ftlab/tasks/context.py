"""Document context for token classification (`task.document_context=true`): each sentence
is encoded with the words of its document's neighbouring sentences around it, as the BERT
paper's CoNLL-2003 results were, while only the sentence's own words are labelled, scored
and predicted.

A sentence's context is the other sentences of its document within the same split, in
file order: the nearest words before and after it, filling `max_seq_length` tokens about
evenly on both sides (a side that runs out of words leaves its share to the other), whole
words only. Context pieces map to no word of the sentence (`word_ids` None, as special
tokens do), so alignment, scoring and prediction skip them: no window owns them. A
sentence that does not fit alone is encoded without context, in windows or truncated.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from datasets import Dataset
from datasets.fingerprint import Hasher
from transformers import BatchEncoding

from ftlab.errors import FtlabError
from ftlab.models.family import encode_words
from ftlab.tasks.chunks import MAPPING

BEFORE = "ftlab_context_before"  # the words of a sentence's document before it ...
AFTER = "ftlab_context_after"  # ... and after it (the nearest ones, at most max_seq_length)
POSITION = "ftlab_position"  # a row's place in its file, kept while splits are cut


def no_documents(where: str, document_column: str | None) -> FtlabError:
    """The one-line error of document context without document boundaries."""
    column = f"no '{document_column}' column" if document_column else "no -DOCSTART- lines"
    return FtlabError(
        f"task.document_context=true needs document boundaries, but {where} has {column}: "
        "give CoNLL files with -DOCSTART- lines, or name the document id column of json / "
        "csv / parquet rows with task.document_column=COLUMN, or set task.document_context=false"
    )


def add_context(split: Dataset, words_column: str, document_column: str, words: int) -> Dataset:
    """`BEFORE` and `AFTER` columns: per row, the `words` nearest words of the other rows of
    its document (in `POSITION` order, else the rows' order) before and after it."""
    # `[:]`: the columns as lists, read from Arrow once; a `split[name]` column read row by
    # row below costs one Arrow lookup a row (measured: 45 s of tiny tests' 185 s)
    documents = split[document_column][:]
    places = split[POSITION][:] if POSITION in split.column_names else range(len(split))
    sentences = split[words_column][:]
    members: dict[Any, list[int]] = {}
    for row in sorted(range(len(split)), key=lambda r: places[r]):
        if documents[row] is not None:  # a row without a document has no context
            members.setdefault(documents[row], []).append(row)
    before: list[list[str]] = [[] for _ in sentences]
    after: list[list[str]] = [[] for _ in sentences]
    for rows in members.values():
        for k, row in enumerate(rows):
            before[row] = _nearest([sentences[r] for r in reversed(rows[:k])], words, True)
            after[row] = _nearest([sentences[r] for r in rows[k + 1 :]], words, False)
    # The new columns are a function of the split's data and these settings (and this code),
    # so that is their fingerprint: `datasets` would otherwise hash the whole columns, which
    # took most of full CoNLL-2003's data stage. The tokenization cache keys on it.
    settings = [split._fingerprint, words_column, document_column, words, add_context, _nearest]
    fingerprint = Hasher.hash(settings)
    columns = [c for c in (BEFORE, AFTER) if c in split.column_names]
    return (
        split.remove_columns(columns, new_fingerprint=f"{fingerprint}-0")
        .add_column(BEFORE, before, new_fingerprint=f"{fingerprint}-1")
        .add_column(AFTER, after, new_fingerprint=fingerprint)
    )


def _nearest(neighbours: list[list[str]], words: int, backwards: bool) -> list[str]:
    """The `words` words of `neighbours` (nearest sentence first) nearest to the sentence,
    in reading order."""
    kept: list[str] = []
    for sentence in neighbours:
        if len(kept) >= words:
            break
        kept = sentence + kept if backwards else kept + sentence
    return kept[-words:] if backwards else kept[:words]


class ContextEncoding(BatchEncoding):
    """Token ids of sentences in context: `word_ids(i)` maps a row's tokens to its sentence's
    own words (None on context and special tokens), and `MAPPING` names each row's sentence."""

    def __init__(self, data: dict[str, list], word_ids: list[list[int | None]]) -> None:
        super().__init__(data)
        self._word_ids = word_ids

    def word_ids(self, batch_index: int = 0) -> list[int | None]:
        return self._word_ids[batch_index]


def encode_in_context(
    tokenizer: Any,
    sentences: list[list[str]],
    before: Sequence[list[str]],
    after: Sequence[list[str]],
    max_length: int,
    alone: Callable[[list[list[str]]], Any],
) -> ContextEncoding:
    """Each sentence with as much of its context as fits in `max_length` tokens; a sentence
    whose own tokens do not fit is encoded by `alone` (windows, or truncation) instead."""
    room = max_length - tokenizer.num_special_tokens_to_add()
    pieces = encode_words(
        tokenizer,
        [[*b, *s, *a] for b, s, a in zip(before, sentences, after, strict=True)],
        add_special_tokens=False,
        verbose=False,  # only counted: longer than the model's positions is no error here
    )
    fitting: dict[int, tuple[list[str], int]] = {}  # sentence -> its words in context, offset
    for i, words in enumerate(sentences):
        counts = _counts(pieces.word_ids(i), len(before[i]) + len(words) + len(after[i]))
        left, own, right = _sides(counts, len(before[i]), len(words))
        budget = room - sum(own)
        if budget < 0:
            continue
        n_left, n_right = _fill(left, right, budget)
        context_before = before[i][len(before[i]) - n_left :]
        fitting[i] = ([*context_before, *words, *after[i][:n_right]], n_left)
    in_context = list(fitting)
    rest = [i for i in range(len(sentences)) if i not in fitting]
    rows: dict[int, list[tuple[Any, int, int]]] = {}  # sentence -> (encoding, row, offset)
    sources = []
    if in_context:
        encoded = encode_words(
            tokenizer,
            [fitting[i][0] for i in in_context],
            truncation=True,
            max_length=max_length,
        )
        sources.append(encoded)
        for row, i in enumerate(in_context):
            rows[i] = [(encoded, row, fitting[i][1])]
    if rest:
        by_itself = alone([sentences[i] for i in rest])
        sources.append(by_itself)
        mapping = by_itself[MAPPING] if MAPPING in by_itself else range(len(rest))
        for row, k in enumerate(mapping):
            rows.setdefault(rest[k], []).append((by_itself, row, 0))
    keys = [key for key in sources[0] if key != MAPPING] if sources else ["input_ids"]
    data: dict[str, list] = {key: [] for key in [*keys, MAPPING]}
    word_ids = []
    for i, words in enumerate(sentences):
        for source, row, offset in rows[i]:
            for key in keys:
                data[key].append(source[key][row])
            data[MAPPING].append(i)
            word_ids.append(
                [
                    w - offset if w is not None and 0 <= w - offset < len(words) else None
                    for w in source.word_ids(row)
                ]
            )
    return ContextEncoding(data, word_ids)


def _counts(word_ids: list[int | None], n_words: int) -> list[int]:
    """Pieces per word."""
    counts = [0] * n_words
    for word in word_ids:
        if word is not None:
            counts[word] += 1
    return counts


def _sides(counts: list[int], n_before: int, n_words: int) -> tuple[list[int], ...]:
    """Pieces per word before the sentence (nearest first), of it, and after it."""
    return (
        counts[:n_before][::-1],
        counts[n_before : n_before + n_words],
        counts[n_before + n_words :],
    )


def _fill(left: list[int], right: list[int], budget: int) -> tuple[int, int]:
    """How many context words (nearest first) each side gets of `budget` tokens: half
    each, and what one side cannot use goes to the other."""
    n_left = _taken(left, budget // 2)
    n_right = _taken(right, budget - sum(left[:n_left]))
    return _taken(left, budget - sum(right[:n_right])), n_right


def _taken(counts: list[int], budget: int) -> int:
    """How many words, nearest first, fit in `budget` tokens."""
    used = 0
    for k, count in enumerate(counts):
        if used + count > budget:
            return k
        used += count
    return len(counts)
