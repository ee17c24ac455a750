"""Token classification (named-entity recognition): one tag per word, scored per entity.

Reads like Hugging Face's run_ner.py: load (CoNLL columns, json/jsonl, the Hub, builtin
CoNLL-2003) -> tag list -> tokenize words and align tags to sub-word pieces -> collator ->
seqeval metrics -> word-level predictions in CoNLL format.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from datasets import DatasetDict

from ftlab.data.cache import cached_map
from ftlab.data.conll import CONLL_SUFFIXES, read_conll
from ftlab.data.sources import read_table_file
from ftlab.data.splits import subsample
from ftlab.errors import FtlabError
from ftlab.metrics import load_metric
from ftlab.records import write_json
from ftlab.tasks.alignment import (
    IGNORE,
    OUTSIDE,
    align_labels,
    continuation_ids,
    first_pieces,
    truncated_words,
)
from ftlab.tasks.base import Task
from ftlab.tasks.labels import as_names, check_known, label_names, name_converter

log = logging.getLogger(__name__)

SEQEVAL_MODES = ("default", "strict")
# a per-sentence count that tokenize() sums and drops (kept in the cached data so a cache
# hit still knows what truncation cut)
_TRUNCATED = "ftlab_truncated_words"


def encode_words(tokenizer: Any, sentences: list[list[str]], max_length: int) -> Any:
    """Pre-split words to token ids, truncated to `max_length`; `word_ids(i)` maps back."""
    return tokenizer(sentences, is_split_into_words=True, truncation=True, max_length=max_length)


@dataclass
class TokenClassificationTask(Task):
    """Word-level tags (BIO / IOB2: B-PER, I-PER, O ...), scored per entity with seqeval."""

    tokens_column: str = "tokens"
    tags_column: str = "ner_tags"
    token_column_index: int = 0  # CoNLL files: the column with the token ...
    tag_column_index: int = -1  # ... and the one with its tag (negative counts from the end)
    labels: list[str] | None = None
    label_all_tokens: bool = False
    seqeval_mode: str = "default"
    seqeval_scheme: str = "IOB2"
    main_metric: str = "f1"
    # filled by prepare() and tokenize()
    label_list: list[str] = field(init=False, default_factory=list)
    truncated: dict[str, dict[str, int]] = field(init=False, default_factory=dict)

    model_class = "AutoModelForTokenClassification"

    def __post_init__(self) -> None:
        if self.seqeval_mode not in SEQEVAL_MODES:
            raise FtlabError(
                f"task.seqeval_mode must be one of {', '.join(SEQEVAL_MODES)}, "
                f"got '{self.seqeval_mode}'"
            )

    # -- data -------------------------------------------------------------------------
    def read_file(self, path: Path) -> Any:
        """CoNLL column files (.conll, .txt, .tsv ...), else csv / json / jsonl / parquet."""
        if path.suffix.lower() in CONLL_SUFFIXES:
            return read_conll(
                path,
                self.token_column_index,
                self.tag_column_index,
                tokens_column=self.tokens_column,
                tags_column=self.tags_column,
            )
        return read_table_file(path)

    def prepare(self) -> DatasetDict:
        """Load, check columns, tags and lengths, subsample: the raw splits training will use."""
        splits = self.load_splits(
            {"tokens_column": [self.tokens_column], "tags_column": [self.tags_column]}
        )
        self._check_lengths(splits)
        # a sentence's tags are a list per row, like a multi-label row's labels
        self.label_list = label_names(splits, self.tags_column, True, self.labels)
        check_known(splits, self.tags_column, True, self.label_list)
        return subsample(
            splits,
            self.shuffle_seed,
            max_train_samples=self.max_train_samples,
            max_eval_samples=self.max_eval_samples,
        )

    def _check_lengths(self, splits: DatasetDict) -> None:
        for split_name, split in splits.items():
            rows = zip(split[self.tokens_column], split[self.tags_column], strict=True)
            for row, (tokens, tags) in enumerate(rows):
                if len(tokens) != len(tags):
                    raise FtlabError(
                        f"{split_name} split, row {row}: {len(tokens)} tokens but {len(tags)} "
                        f"tags in '{self.tags_column}'; every token needs one tag"
                    )

    @property
    def label2id(self) -> dict[str, int]:
        return {label: i for i, label in enumerate(self.label_list)}

    def tokenize(self, splits: DatasetDict, tokenizer: Any) -> DatasetDict:
        """Token ids and aligned `labels` (no padding: the collator pads each batch), cached.

        `label_all_tokens` labels every piece of the training words; validation and test
        are always labelled on first pieces, so their scores stay per word.
        """
        self._tokenizer = tokenizer  # write_predictions maps test tokens back to words
        tokens_column, tags_column, max_length = (
            self.tokens_column,
            self.tags_column,
            self.max_seq_length,
        )
        label2id, name = self.label2id, name_converter(splits["train"], tags_column)

        def encoder(continuation: dict[int, int] | None) -> Any:
            def encode(batch: dict[str, list]) -> dict[str, list]:
                encoded = encode_words(tokenizer, batch[tokens_column], max_length)
                labels, cut = [], []
                for i, tags in enumerate(batch[tags_column]):
                    word_ids = encoded.word_ids(i)
                    word_labels = [label2id[name(tag)] for tag in tags]
                    labels.append(align_labels(word_ids, word_labels, continuation))
                    cut.append(truncated_words(word_ids, len(tags), max_length))
                encoded["labels"] = labels
                encoded[_TRUNCATED] = cut
                return encoded

            return encode

        continuation = continuation_ids(self.label_list) if self.label_all_tokens else None
        train = DatasetDict({"train": splits["train"]})
        evaluation = DatasetDict({k: v for k, v in splits.items() if k != "train"})
        tokenized = {
            **cached_map(train, encoder(continuation), "token-classification", max_length),
            **cached_map(evaluation, encoder(None), "token-classification", max_length),
        }
        return DatasetDict({k: self._count_truncated(k, v) for k, v in tokenized.items()})

    def _count_truncated(self, split_name: str, split: Any) -> Any:
        counts = split[_TRUNCATED]
        self.truncated[split_name] = {
            "words": int(sum(counts)),
            "sentences": sum(1 for c in counts if c),
        }
        if self.truncated[split_name]["words"]:
            log.warning(
                "%s: %d words in %d sentences lie beyond max_seq_length=%d tokens: they are "
                "not trained or scored in the Trainer's metrics; in predictions.conll they are "
                "predicted '%s' (raise task.max_seq_length to keep them)",
                split_name,
                self.truncated[split_name]["words"],
                self.truncated[split_name]["sentences"],
                self.max_seq_length,
                OUTSIDE,
            )
        return split.remove_columns(_TRUNCATED)

    def model_kwargs(self) -> dict[str, Any]:
        return {
            "num_labels": len(self.label_list),
            "id2label": dict(enumerate(self.label_list)),
            "label2id": self.label2id,
        }

    def data_collator(self, tokenizer: Any, pad_to_multiple_of: int | None = None) -> Any:
        from transformers import DataCollatorForTokenClassification

        # pads `labels` with IGNORE (-100) as well as the inputs
        return DataCollatorForTokenClassification(
            tokenizer, pad_to_multiple_of=pad_to_multiple_of, label_pad_token_id=IGNORE
        )

    # -- scoring ----------------------------------------------------------------------
    def seqeval(self, predictions: list[list[str]], references: list[list[str]]) -> dict:
        """The seqeval module's full report, in `seqeval_mode` (strict: `seqeval_scheme`)."""
        options = (
            {"mode": "strict", "scheme": self.seqeval_scheme}
            if self.seqeval_mode == "strict"
            else {}
        )
        return load_metric("seqeval").compute(
            predictions=predictions, references=references, **options
        )

    def compute_metrics(self, eval_prediction: Any) -> dict[str, float]:
        """Entity precision, recall, F1 (overall and f1_<TYPE>) and tag accuracy, per word
        (first pieces); the Trainer prefixes them: eval_f1, test_f1_PER ..."""
        logits, label_ids = eval_prediction.predictions, eval_prediction.label_ids
        if isinstance(logits, tuple):
            logits = logits[0]
        predicted = logits.argmax(axis=-1)
        predictions, references = [], []
        for predicted_row, gold_row in zip(predicted, label_ids, strict=True):
            scored = gold_row != IGNORE
            predictions.append([self.label_list[i] for i in predicted_row[scored]])
            references.append([self.label_list[i] for i in gold_row[scored]])
        return self.entity_scores(self.seqeval(predictions, references))

    @staticmethod
    def entity_scores(report: dict) -> dict[str, float]:
        """The headline numbers of a seqeval report: overall P/R/F1, tag accuracy, f1_<TYPE>."""
        scores = {
            "precision": report["overall_precision"],
            "recall": report["overall_recall"],
            "f1": report["overall_f1"],
            "accuracy": report["overall_accuracy"],
        }
        for entity_type, row in report.items():
            if isinstance(row, dict) and not entity_type.endswith(" avg"):
                scores[f"f1_{entity_type}"] = row["f1"]
        return scores

    def word_predictions(self, raw: Any, logits: np.ndarray) -> list[list[str]]:
        """One predicted tag per word (its first piece's); words without a token (cut off
        by truncation) are predicted 'O'."""
        sentences = list(raw[self.tokens_column])
        encoded = encode_words(self._tokenizer, sentences, self.max_seq_length)
        predicted = logits.argmax(axis=-1)
        result = []
        for i, words in enumerate(sentences):
            tags = [OUTSIDE] * len(words)
            for word, position in first_pieces(encoded.word_ids(i)).items():
                tags[word] = self.label_list[int(predicted[i, position])]
            result.append(tags)
        return result

    def write_predictions(self, raw: Any, logits: np.ndarray, run_dir: Path) -> None:
        """predictions.conll (token, gold, predicted; tab-separated, a blank line between
        sentences), the test set's seqeval report over all its words (.json and .txt), and
        what truncation cut (truncation.json)."""
        predictions = self.word_predictions(raw, logits)
        gold = as_names(raw, self.tags_column, True)
        with open(run_dir / "predictions.conll", "w", encoding="utf-8") as handle:
            for words, gold_tags, predicted_tags in zip(
                raw[self.tokens_column], gold, predictions, strict=True
            ):
                for row in zip(words, gold_tags, predicted_tags, strict=True):
                    handle.write("\t".join(row) + "\n")
                handle.write("\n")
        report = self.seqeval(predictions, gold)
        (run_dir / "classification_report.txt").write_text(report.pop("report"), encoding="utf-8")
        write_json(run_dir / "classification_report.json", report)
        write_json(
            run_dir / "truncation.json", {"max_seq_length": self.max_seq_length, **self.truncated}
        )
