"""Word tags onto sub-word pieces with a real WordPiece tokenizer that splits CoNLL words."""

from __future__ import annotations

from pathlib import Path

import pytest
from datasets import Dataset, DatasetDict

from ftlab.tasks.alignment import IGNORE, align_labels, continuation_ids, truncated_words
from ftlab.tasks.token_classification import TokenClassificationTask

# CoNLL-2003's first sentences; the tiny tokenizer (800 pieces, learnt on TREC questions)
# splits most of these names into several pieces
WORDS = ["EU", "rejects", "German", "call", "to", "boycott", "British", "lamb", "."]
TAGS = ["B-ORG", "O", "B-MISC", "O", "O", "O", "B-MISC", "O", "O"]
LABELS = ["B-MISC", "B-ORG", "I-MISC", "I-ORG", "O"]


@pytest.fixture(scope="module")
def tokenizer(tiny_model_dir: Path):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_model_dir)


def _word_ids(tokenizer, words: list[str], max_length: int = 128) -> list[int | None]:
    return tokenizer(
        words, is_split_into_words=True, truncation=True, max_length=max_length
    ).word_ids()


def test_the_tokenizer_really_splits_words(tokenizer) -> None:
    word_ids = _word_ids(tokenizer, WORDS)
    pieces = [word_ids.count(i) for i in range(len(WORDS))]
    assert max(pieces) >= 3 and sum(p > 1 for p in pieces) >= 3, pieces


def test_first_piece_carries_the_label_the_rest_are_ignored(tokenizer) -> None:
    word_ids = _word_ids(tokenizer, WORDS)
    ids = [LABELS.index(t) for t in TAGS]
    labels = align_labels(word_ids, ids)
    assert word_ids[0] is None and word_ids[-1] is None  # [CLS] ... [SEP]
    assert labels[0] == IGNORE and labels[-1] == IGNORE
    seen = set()
    for word, label in zip(word_ids, labels, strict=True):
        if word is None:
            continue
        if word in seen:
            assert label == IGNORE
        else:
            assert label == ids[word]
            seen.add(word)
    assert seen == set(range(len(WORDS)))
    assert [label for label in labels if label != IGNORE] == ids  # one label per word


def test_label_all_tokens_turns_b_into_i_on_later_pieces(tokenizer) -> None:
    continuation = continuation_ids(LABELS)
    assert continuation == {LABELS.index("B-MISC"): LABELS.index("I-MISC"), 1: 3}
    word_ids = _word_ids(tokenizer, WORDS)
    ids = [LABELS.index(t) for t in TAGS]
    labels = align_labels(word_ids, ids, continuation)
    german = [i for i, w in enumerate(word_ids) if w == 2]  # B-MISC, several pieces
    assert len(german) > 1
    assert labels[german[0]] == LABELS.index("B-MISC")
    assert all(labels[i] == LABELS.index("I-MISC") for i in german[1:])
    rejects = [i for i, w in enumerate(word_ids) if w == 1]  # O stays O on every piece
    assert all(labels[i] == LABELS.index("O") for i in rejects)
    assert labels[0] == IGNORE and labels[-1] == IGNORE


def test_truncation_counts_the_words_cut_off(tokenizer) -> None:
    full = _word_ids(tokenizer, WORDS)
    assert truncated_words(full, len(WORDS), max_length=128) == 0
    # keep [CLS], the pieces of the first three words, [SEP]
    first_of_call = full.index(3)
    cut = _word_ids(tokenizer, WORDS, max_length=first_of_call + 1)
    assert max(w for w in cut if w is not None) == 2
    assert truncated_words(cut, len(WORDS), max_length=first_of_call + 1) == len(WORDS) - 3


def test_task_tokenize_labels_train_on_all_pieces_but_scores_first_pieces(
    tokenizer, caplog: pytest.LogCaptureFixture
) -> None:
    rows = {"tokens": [WORDS, WORDS[:4]], "ner_tags": [TAGS, TAGS[:4]]}
    splits = DatasetDict(
        {name: Dataset.from_dict(rows) for name in ("train", "validation", "test")}
    )
    task = TokenClassificationTask(
        name="t", label_all_tokens=True, max_seq_length=8, long_sequence="truncate"
    )
    task.label_list = LABELS
    with caplog.at_level("WARNING", logger="ftlab.tasks.token_classification"):
        result = task.tokenize(splits, tokenizer)
    tokenized = result.splits
    train_labels = tokenized["train"][0]["labels"]
    eval_labels = tokenized["validation"][0]["labels"]
    assert len(train_labels) == len(eval_labels) == 8
    # continuation pieces: labelled in train, ignored in validation (scores stay per word)
    assert sum(label != IGNORE for label in train_labels) == 6
    assert sum(label != IGNORE for label in eval_labels) < 6
    cut = [
        len(words) - 1 - max(w for w in _word_ids(tokenizer, words, 8) if w is not None)
        for words in rows["tokens"]
    ]
    assert cut[0] > 0 and result.records["truncation.json"]["test"] == {
        "words": sum(cut),
        "sentences": 2,
    }
    assert any(f"test: {sum(cut)} words in 2 sentences" in r.message for r in caplog.records)
    assert "ftlab_truncated_words" not in tokenized["train"].column_names
