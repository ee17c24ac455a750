"""Sequence classification, single- and multi-label (sentiment, intent, legal documents).

Reads like Hugging Face's run_classification.py: load -> labels -> tokenize (dynamic
padding, truncation at max_seq_length) -> collator -> metrics -> predictions. Defaults:
classification.yaml beside this file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from datasets import Dataset, DatasetDict

from ftlab.data.augment import augment_dataset, check_augment
from ftlab.data.cache import cached_map
from ftlab.errors import FtlabError
from ftlab.metrics import load_metric
from ftlab.records import write_json
from ftlab.tasks.base import Tokenized
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

PREDICTIONS_FILE = "predictions.jsonl"
REPORT_FILE = "classification_report.json"


@dataclass
class SequenceClassificationTask(TextTask):
    """One label per text (softmax), or a set of labels per text (`multi_label`, sigmoid)."""

    labels: list[str | int] | None = None  # numbers are label names too (0, 1)
    multi_label: bool = False
    threshold: float = 0.5
    train_samples_per_class: int | None = None
    # "balanced" or one weight per label: weights the loss (ftlab/tasks/loss.py)
    class_weights: str | list[float] | None = None
    # training-data augmentation (ftlab/data/augment.py): delete, swap or both
    augment: str | list[str] | None = None
    augment_rate: float = 0.1
    augment_copies: int = 1

    metrics: ClassVar[frozenset[str]] = frozenset({"accuracy", "f1_micro", "f1_macro"})

    def check(self) -> None:
        super().check()
        check_given_labels(self.labels)
        check_class_weights(self.class_weights)
        if self.augment is not None:
            check_augment(self.augment, self.augment_rate, self.augment_copies)
        if not 0 < self.threshold < 1:
            raise FtlabError(f"task.threshold must be between 0 and 1, got {self.threshold!r}")

    def check_split(self, split_name: str, split: Dataset) -> None:
        """Texts are strings; a label is one value, or with `multi_label` a list of them."""
        super().check_split(split_name, split)
        for row, value in enumerate(split[self.label_column]):
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
    def tokenize(self, splits: DatasetDict, tokenizer: Any) -> Tokenized:
        """Token ids (no padding: the collator pads each batch) and `labels`, cached."""
        # locals, not self: the cache key hashes what the function captures
        text_columns, max_length = self.text_columns, self.max_seq_length
        label_column, multi_label, label2id = self.label_column, self.multi_label, self.label2id
        name = name_converter(splits["train"], label_column)

        def encode(batch: dict[str, list]) -> dict[str, list]:
            encoded = encode_texts(tokenizer, batch, text_columns, max_length)
            values = batch[label_column]
            if multi_label:
                label_sets = [{name(v) for v in row or []} for row in values]
                encoded["labels"] = [
                    [1.0 if label in labels else 0.0 for label in label2id] for labels in label_sets
                ]
            else:
                encoded["labels"] = [label2id[name(v)] for v in values]
            return encoded

        settings = ("sequence-classification", self.max_seq_length, label2id)
        return Tokenized(cached_map(splits, encode, *settings))

    # -- training and scoring ---------------------------------------------------------
    def loss_function(self, train: Dataset) -> Any:
        return weighted_loss(self.class_weights, train["labels"], self.label_list, self.multi_label)

    def decode(self, logits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(predictions, probabilities): argmax of softmax, or sigmoid above the threshold."""
        if self.multi_label:
            probabilities = sigmoid(logits)
            return (probabilities > self.threshold).astype(int), probabilities
        probabilities = softmax(logits)
        return probabilities.argmax(axis=-1), probabilities

    def compute_metrics(self, eval_prediction: Any) -> dict[str, float]:
        """accuracy, micro- and macro-F1 (Trainer prefixes them: eval_accuracy, test_f1_macro)."""
        predictions, _ = self.decode(first_output(eval_prediction.predictions))
        return self._scores(predictions, eval_prediction.label_ids)

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

        predictions, probabilities = self.decode(logits)
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
        """Each example's probabilities (softmax, or sigmoid for multi-label)."""
        return list(self.decode(logits)[1])

    def _decode_probabilities(self, outputs: list[np.ndarray]) -> np.ndarray:
        """Predicted labels of (averaged) probabilities, by the same rule as `decode`."""
        probabilities = np.stack(outputs)
        if self.multi_label:
            return (probabilities > self.threshold).astype(int)
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

    def csv_row(self, record: dict) -> dict:
        """The label set joined by `;`, and a `score_<label>` column per label."""
        label = record["label"]
        return {
            **{k: v for k, v in record.items() if k not in ("label", "scores")},
            "label": ";".join(label) if isinstance(label, list) else label,
            **{f"score_{name}": p for name, p in record["scores"].items()},
        }


def _with_no_label_column(
    predictions: np.ndarray, references: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """LexGLUE's multi-label scoring: an extra class that is 1 where no label is set, so
    examples without labels count (a correct empty prediction is a true positive)."""
    return (
        np.concatenate([predictions, (predictions.sum(axis=1) == 0)[:, None]], axis=1),
        np.concatenate([references, (references.sum(axis=1) == 0)[:, None]], axis=1),
    )
