"""Sequence classification, single- and multi-label (sentiment, intent, legal documents).

Reads like Hugging Face's run_classification.py: load -> labels -> tokenize (dynamic
padding, truncation at max_seq_length) -> collator -> metrics -> predictions. Defaults:
classification.yaml beside this file.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from datasets import Dataset, DatasetDict

from ftlab.data.augment import augment_dataset, check_augment
from ftlab.data.cache import cached_map
from ftlab.data.columns import column_values
from ftlab.errors import FtlabError
from ftlab.metrics import load_metric
from ftlab.records import write_json
from ftlab.tasks.base import AnswerOptions, Tokenized
from ftlab.tasks.chunks import (
    CHUNKS_FILE,
    DOCUMENT,
    MAPPING,
    aggregate,
    check_chunking,
    chunk_counts,
    chunk_rows,
    encode_chunks,
    first_of_each,
)
from ftlab.tasks.labels import (
    as_names,
    check_given_labels,
    check_known,
    label_kwargs,
    label_names,
    name_converter,
)
from ftlab.tasks.loss import check_class_weights, weighted_loss
from ftlab.tasks.outputs import first_output, rounded, sigmoid, softmax
from ftlab.tasks.text import TextTask, encode_texts, shown_text
from ftlab.tasks.thresholds import Thresholds, tune

PREDICTIONS_FILE = "predictions.jsonl"
REPORT_FILE = "classification_report.json"
TUNE = "tune"  # task.threshold=tune


@dataclass
class SequenceClassificationTask(TextTask):
    """One label per text (softmax), or a set of labels per text (`multi_label`, sigmoid)."""

    labels: list[str | int] | None = None  # numbers are label names too (0, 1)
    multi_label: bool = False
    # multi-label decision threshold: a probability, or `tune` (chosen on validation)
    threshold: float | str = 0.5
    threshold_per_label: bool = False  # with `tune`: one threshold per label
    train_samples_per_class: int | None = None
    # "balanced" or one weight per label: weights the loss (ftlab/tasks/loss.py)
    class_weights: str | list[float] | None = None
    # training-data augmentation (ftlab/data/augment.py): synonym, delete, swap or a list
    augment: str | list[str] | None = None
    augment_rate: float = 0.1
    augment_copies: int = 1

    # long texts: `truncate` (to max_seq_length) or `chunks` (overlapping windows, each
    # document scored by aggregating its chunks' logits: ftlab/tasks/chunks.py)
    long_document: str = "truncate"
    chunk_stride: int = 32  # tokens shared by consecutive chunks
    chunk_aggregation: str = "mean"  # mean or max of the chunks' logits

    # what tokenizing and validation found: each chunk's document per split; the
    # thresholds chosen on validation (threshold=tune); the split compute_metrics scores
    documents: dict[str, np.ndarray] = field(init=False, default_factory=dict)
    tuned: Thresholds | None = field(init=False, default=None)
    scoring: str = field(init=False, default="validation")

    metrics: ClassVar[frozenset[str]] = frozenset({"accuracy", "f1_micro", "f1_macro"})

    def check(self) -> None:
        super().check()
        check_given_labels(self.labels)
        check_class_weights(self.class_weights)
        if self.augment is not None:
            check_augment(self.augment, self.augment_rate, self.augment_copies)
        self._check_threshold()
        check_chunking(
            self.long_document, self.chunk_stride, self.chunk_aggregation, self.max_seq_length
        )
        if self.chunked and len(self.text_columns) > 1:
            raise FtlabError(
                "task.long_document=chunks splits one long text; a sentence pair "
                "(task.text_column=[a,b]) is truncated: set task.long_document=truncate"
            )

    @property
    def chunked(self) -> bool:
        return self.long_document == "chunks"

    def soft_targets(self) -> str:
        return "sigmoid" if self.multi_label else "softmax"

    def _check_threshold(self) -> None:
        if isinstance(self.threshold, str):
            if self.threshold != TUNE:
                raise FtlabError(
                    f"task.threshold must be a probability or '{TUNE}', got {self.threshold!r}"
                )
            if not self.multi_label:
                raise FtlabError(
                    "task.threshold=tune chooses the multi-label decision threshold; a "
                    "single-label task takes the most probable label (set task.multi_label=true "
                    "for a list of labels per text)"
                )
        elif not 0 < self.threshold < 1:
            raise FtlabError(f"task.threshold must be between 0 and 1, got {self.threshold!r}")
        if self.threshold_per_label and self.threshold != TUNE:
            raise FtlabError(
                "task.threshold_per_label=true tunes one threshold per label: add "
                "task.threshold=tune"
            )

    def check_split(self, split_name: str, split: Dataset) -> None:
        """Texts are strings; a label is one value, or with `multi_label` a list of them."""
        super().check_split(split_name, split)
        for row, value in enumerate(column_values(split, self.label_column)):
            where = f"{split_name} split, row {row}: '{self.label_column}' holds {value!r}"
            if self.multi_label and not isinstance(value, (list, tuple, type(None))):
                raise FtlabError(
                    f"{where}, not a list; a multi-label column holds a list of labels per "
                    f'row (["{value}"]), or set task.multi_label=false for one label per row'
                )
            if not self.multi_label and isinstance(value, (list, tuple, dict)):
                raise FtlabError(
                    f"{where}, not one label; set task.multi_label=true for a list of labels"
                )

    @property
    def label2id(self) -> dict[str, int]:
        return {label: i for i, label in enumerate(self.label_list)}

    # -- data -------------------------------------------------------------------------
    def prepare(self) -> DatasetDict:
        """Load, check columns and labels, subsample: the raw splits training will use."""
        splits = self.load_text_splits()
        self.label_list = label_names(splits, self.label_column, self.multi_label, self.labels)
        check_known(splits, self.label_column, self.multi_label, self.label_list)
        splits = self.cut_to_size(
            splits, train_samples_per_class=self.train_samples_per_class, class_of=self._first_label
        )
        if self.augment is not None:
            splits["train"] = augment_dataset(
                splits["train"],
                self.text_columns,
                self.augment,
                self.augment_rate,
                self.augment_copies,
                self.shuffle_seed,
            )
        return splits

    def _first_label(self, example: dict) -> str:
        value = example[self.label_column]
        return str(value[0] if self.multi_label and value else value)

    def model_kwargs(self) -> dict[str, Any]:
        problem = (
            "multi_label_classification" if self.multi_label else "single_label_classification"
        )
        return {**label_kwargs(self.label_list), "problem_type": problem}

    # -- tokenization -----------------------------------------------------------------
    def encode(self, tokenizer: Any, rows: Any) -> Any:
        """Token ids: truncated, or with `chunks` every window of every text (and the
        tokenizer's map from window to row)."""
        return _encode(tokenizer, rows, self.text_columns, self.max_seq_length, self._stride)

    @property
    def _stride(self) -> int | None:
        return self.chunk_stride if self.chunked else None

    def tokenize(self, splits: DatasetDict, tokenizer: Any) -> Tokenized:
        """Token ids (no padding: the collator pads each batch) and `labels`, cached; with
        `chunks`, one example per chunk with its document's labels (chunks.json counts)."""
        # locals, not self: the cache key hashes what the function captures
        text_columns, max_length, stride = self.text_columns, self.max_seq_length, self._stride
        label_column, multi_label, label2id = self.label_column, self.multi_label, self.label2id
        name = name_converter(splits["train"], label_column)

        def encode(batch: dict[str, list]) -> dict[str, list]:
            encoded = _encode(tokenizer, batch, text_columns, max_length, stride)
            rows = chunk_rows(encoded, len(batch[label_column]))
            values = [batch[label_column][i] for i in rows]
            if multi_label:
                label_sets = [{name(v) for v in row or []} for row in values]
                encoded["labels"] = [
                    [1.0 if label in labels else 0.0 for label in label2id] for labels in label_sets
                ]
            else:
                encoded["labels"] = [label2id[name(v)] for v in values]
            if stride is not None:
                encoded[DOCUMENT] = [batch[DOCUMENT][i] for i in rows]
            return encoded

        if self.chunked:  # each row's index, so every chunk knows its document
            splits = DatasetDict(
                {
                    n: split.add_column(DOCUMENT, list(range(len(split))))
                    for n, split in splits.items()
                }
            )
        settings = ("sequence-classification", self.max_seq_length, stride, label2id)
        tokenized = cached_map(splits, encode, *settings)
        if not self.chunked:
            return Tokenized(tokenized)
        self.documents = {n: np.array(split[DOCUMENT]) for n, split in tokenized.items()}
        return Tokenized(tokenized, {CHUNKS_FILE: chunk_counts(self.documents)})

    def _per_document(self, logits: np.ndarray, split: str) -> np.ndarray:
        """One row of logits per example: the chunks' aggregated, or as they are."""
        if not self.chunked:
            return logits
        return aggregate(logits, self.documents[split], self.chunk_aggregation)

    # -- training and scoring ---------------------------------------------------------
    def loss_function(self, train: Dataset) -> Any:
        return weighted_loss(self.class_weights, train["labels"], self.label_list, self.multi_label)

    def decode(self, logits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(predictions, probabilities): argmax of softmax, or sigmoid above the threshold."""
        if self.multi_label:
            probabilities = sigmoid(logits)
            return self._above_threshold(probabilities), probabilities
        probabilities = softmax(logits)
        return probabilities.argmax(axis=-1), probabilities

    def _above_threshold(self, probabilities: np.ndarray) -> np.ndarray:
        if self.threshold != TUNE:
            return (probabilities > self.threshold).astype(int)
        if self.tuned is None:
            raise FtlabError(
                "task.threshold=tune: no threshold was chosen on validation yet (a run saves "
                "it as model/decision.json); train the run again"
            )
        return (probabilities > self.tuned.array(self.label_list)).astype(int)

    def compute_metrics(self, eval_prediction: Any) -> dict[str, float]:
        """accuracy, micro- and macro-F1 (Trainer prefixes them: eval_accuracy, test_f1_macro).

        With chunks, the documents' aggregated logits are scored. With threshold=tune, every
        validation evaluation chooses the threshold on what it scores (so the best checkpoint
        is picked by its tuned scores); test applies the last one chosen, unchanged."""
        logits = first_output(eval_prediction.predictions)
        references = eval_prediction.label_ids
        if self.chunked:  # documents, not chunks, are scored
            documents = self.documents[self.scoring]
            logits = aggregate(logits, documents, self.chunk_aggregation)
            references = first_of_each(references, documents)
        if self.threshold == TUNE and self.scoring == "validation":
            self.tuned = self._tune(sigmoid(logits), references.astype(int))
        predictions, _ = self.decode(logits)
        scores = self._scores(predictions, references)
        if self.tuned is not None:
            scores["threshold"] = self.tuned.value
        return scores

    def _tune(self, probabilities: np.ndarray, references: np.ndarray) -> Thresholds:
        # the main metric when it is one of ours (loss is not a function of the threshold)
        metric = self.main_metric if self.main_metric in self.metrics else "f1_macro"
        return tune(
            probabilities,
            references,
            self.label_list,
            _candidate_score(metric, references),
            metric,
            self.threshold_per_label,
        )

    def score_split(self, split: str) -> None:
        self.scoring = split

    def decision_record(self) -> dict[str, Any]:
        return {"thresholds": self.tuned.record()} if self.tuned is not None else {}

    def load_decision(self, record: dict[str, Any]) -> None:
        if "thresholds" in record:
            self.tuned = Thresholds.from_record(record["thresholds"])

    def _scores(self, predictions: np.ndarray, references: np.ndarray) -> dict[str, float]:
        config = None
        if self.multi_label:
            config = "multilabel"
            predictions, references = _with_no_label_column(predictions, references.astype(int))
        accuracy, f1 = load_metric("accuracy", config), load_metric("f1", config)
        scores = {"accuracy": accuracy.compute(predictions=predictions, references=references)}
        for average in ("micro", "macro"):
            scores[f"f1_{average}"] = f1.compute(
                predictions=predictions, references=references, average=average
            )
        return {name: result[name.split("_")[0]] for name, result in scores.items()}

    def _predicted_labels(self, predicted: np.ndarray) -> Any:
        if self.multi_label:
            return [self.label_list[j] for j in np.flatnonzero(predicted)]
        return self.label_list[int(predicted)]

    def _references(self, gold: list) -> np.ndarray:
        """Gold label names as ids (or 0/1 rows): what compute_metrics gets in training."""
        if self.multi_label:
            return np.array([[int(label in set(g)) for label in self.label_list] for g in gold])
        return np.array([self.label2id[g] for g in gold])

    def write_predictions(
        self, raw: Dataset, logits: np.ndarray, tokenizer: Any, run_dir: Path
    ) -> None:
        """predictions.jsonl (text, gold, predicted, scores) and the per-class report."""
        from sklearn.metrics import classification_report

        predictions, probabilities = self.decode(self._per_document(logits, "test"))
        gold = as_names(raw, self.label_column, self.multi_label)
        with open(run_dir / PREDICTIONS_FILE, "w", encoding="utf-8") as handle:
            for row, label, predicted, scores in zip(
                raw, gold, predictions, probabilities, strict=True
            ):
                record = {
                    "text": shown_text(row, self.text_columns),
                    "label": label,
                    "prediction": self._predicted_labels(predicted),
                    "scores": dict(zip(self.label_list, rounded(scores), strict=True)),
                }
                handle.write(json.dumps(record, ensure_ascii=False) + "\n")
        report = classification_report(
            self._references(gold),
            predictions,
            labels=list(range(len(self.label_list))),
            target_names=self.label_list,
            output_dict=True,
            zero_division=0,
        )
        write_json(run_dir / REPORT_FILE, report)

    # -- prediction time --------------------------------------------------------------
    def example_outputs(
        self, logits: np.ndarray, encoded: Any, inputs: Dataset, tokenizer: Any
    ) -> list[np.ndarray]:
        """Each example's probabilities (softmax, or sigmoid for multi-label; of its chunks'
        aggregated logits with `chunks`)."""
        if MAPPING in encoded:
            logits = aggregate(logits, np.array(encoded[MAPPING]), self.chunk_aggregation)
        return list(self.decode(logits)[1])

    def _decode_probabilities(self, outputs: list[np.ndarray]) -> np.ndarray:
        """Predicted labels of (averaged) probabilities, by the same rule as `decode`."""
        probabilities = np.stack(outputs)
        if self.multi_label:
            return self._above_threshold(probabilities)
        return probabilities.argmax(axis=-1)

    def prediction_records(
        self, inputs: Dataset, outputs: list[np.ndarray], tokenizer: Any
    ) -> list[dict]:
        predicted = self._decode_probabilities(outputs)
        return [
            {
                **{c: row[c] for c in self.text_columns},
                "label": self._predicted_labels(label),
                "scores": dict(zip(self.label_list, rounded(scores), strict=True)),
            }
            for row, label, scores in zip(inputs, predicted, outputs, strict=True)
        ]

    def prediction_gold(self, inputs: Dataset) -> list | None:
        if self.label_column not in inputs.column_names:
            return None
        return as_names(inputs, self.label_column, self.multi_label)

    def prediction_scores(self, outputs: list[np.ndarray], gold: list) -> dict[str, float]:
        """compute_metrics' scores of the (averaged) probabilities."""
        unknown = sorted(
            {g for row in gold for g in (row if self.multi_label else [row])} - set(self.label2id)
        )
        if unknown:
            raise FtlabError(
                f"the input's '{self.label_column}' has labels the run does not know: "
                f"{', '.join(unknown[:5])}; its labels are: {', '.join(self.label_list)}"
            )
        return self._scores(self._decode_probabilities(outputs), self._references(gold))

    def served(self, record: dict, options: AnswerOptions) -> Any:
        """Single-label: the `top_k` best `{label, score}`; multi-label: `{"labels": [...]}`,
        the predicted set (or those above `options.threshold`), best first."""
        ranked = sorted(record["scores"].items(), key=lambda item: -item[1])
        if not self.multi_label:
            return [{"label": label, "score": score} for label, score in ranked[: options.top_k]]
        if options.threshold is None:
            chosen = set(record["label"])
            ranked = [item for item in ranked if item[0] in chosen]
        else:
            ranked = [item for item in ranked if item[1] > options.threshold]
        return {"labels": [{"label": label, "score": score} for label, score in ranked]}

    def csv_row(self, record: dict) -> dict:
        """The label set joined by `;`, and a `score_<label>` column per label."""
        label = record["label"]
        return {
            **{k: v for k, v in record.items() if k not in ("label", "scores")},
            "label": ";".join(label) if isinstance(label, list) else label,
            **{f"score_{name}": p for name, p in record["scores"].items()},
        }


def _encode(
    tokenizer: Any, rows: Any, columns: list[str], max_length: int, stride: int | None
) -> Any:
    """Truncated token ids, or (a stride given) every chunk of each text."""
    if stride is None:
        return encode_texts(tokenizer, rows, columns, max_length)
    return encode_chunks(tokenizer, list(rows[columns[0]]), max_length, stride)


def _candidate_score(metric: str, references: np.ndarray) -> Callable[[np.ndarray], float]:
    """`metric` of 0/1 predictions against `references`, scored as `_scores` scores them
    (the "no label" column too), with scikit-learn's functions called directly."""
    from sklearn.metrics import accuracy_score, f1_score

    _, gold = _with_no_label_column(references, references)

    def score(predicted: np.ndarray) -> float:
        predicted, _ = _with_no_label_column(predicted, references)
        if metric == "accuracy":
            return float(accuracy_score(gold, predicted))
        return float(f1_score(gold, predicted, average=metric.split("_")[1], zero_division=0))

    return score


def _with_no_label_column(
    predictions: np.ndarray, references: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """LexGLUE's multi-label scoring: an extra class that is 1 where no label is set, so
    examples without labels count (a correct empty prediction is a true positive)."""
    return (
        np.concatenate([predictions, (predictions.sum(axis=1) == 0)[:, None]], axis=1),
        np.concatenate([references, (references.sum(axis=1) == 0)[:, None]], axis=1),
    )
