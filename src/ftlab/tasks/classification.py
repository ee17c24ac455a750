"""Sequence classification, single- and multi-label (sentiment, intent, legal documents).

Reads like Hugging Face's run_classification.py: load -> labels -> tokenize (dynamic
padding, truncation at max_seq_length) -> collator -> metrics -> predictions.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from datasets import DatasetDict

from ftlab.data.cache import cached_map
from ftlab.data.splits import subsample
from ftlab.metrics import load_metric
from ftlab.recipes.augment import augment_dataset
from ftlab.records import write_json
from ftlab.tasks.base import Task
from ftlab.tasks.labels import as_names, check_known, label_names, name_converter


def sigmoid(logits: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-logits))


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


def encode_texts(tokenizer: Any, columns: list[list[str]], max_length: int) -> Any:
    """Token ids of one text column (or two, a sentence pair), truncated to `max_length`,
    unpadded (the collator pads each batch): training and `ftlab.predict` share it."""
    return tokenizer(*columns, truncation=True, max_length=max_length)


@dataclass
class SequenceClassificationTask(Task):
    """One label per text (softmax), or a set of labels per text (`multi_label`, sigmoid)."""

    text_column: str | list[str] = "text"
    label_column: str = "label"
    labels: list[str] | None = None
    multi_label: bool = False
    threshold: float = 0.5
    train_samples_per_class: int | None = None
    # training-data augmentation (ftlab/recipes/augment.py): delete, swap or both
    augment: str | list[str] | None = None
    augment_rate: float = 0.1
    augment_copies: int = 1
    # filled by prepare(): the label list, in id order
    label_list: list[str] = field(init=False, default_factory=list)

    model_class = "AutoModelForSequenceClassification"

    @property
    def text_columns(self) -> list[str]:
        return [self.text_column] if isinstance(self.text_column, str) else list(self.text_column)

    # -- data -------------------------------------------------------------------------
    def prepare(self) -> DatasetDict:
        """Load, check columns and labels, subsample: the raw splits training will use."""
        splits = self.load_splits(
            {"text_column": self.text_columns, "label_column": [self.label_column]}
        )
        self.label_list = label_names(splits, self.label_column, self.multi_label, self.labels)
        check_known(splits, self.label_column, self.multi_label, self.label_list)
        splits = subsample(
            splits,
            self.shuffle_seed,
            max_train_samples=self.max_train_samples,
            max_eval_samples=self.max_eval_samples,
            train_samples_per_class=self.train_samples_per_class,
            class_of=self._first_label,
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

    @property
    def label2id(self) -> dict[str, int]:
        return {label: i for i, label in enumerate(self.label_list)}

    def tokenize(self, splits: DatasetDict, tokenizer: Any) -> DatasetDict:
        """Token ids (no padding: the collator pads each batch) and `labels`, cached."""
        text_columns, label_column, multi_label = (
            self.text_columns,
            self.label_column,
            self.multi_label,
        )
        max_length, label2id = self.max_seq_length, self.label2id
        name = name_converter(splits["train"], label_column)

        def encode(batch: dict[str, list]) -> dict[str, list]:
            encoded = encode_texts(tokenizer, [batch[c] for c in text_columns], max_length)
            values = batch[label_column]
            if multi_label:
                label_sets = [{name(v) for v in row or []} for row in values]
                encoded["labels"] = [
                    [1.0 if label in labels else 0.0 for label in label2id] for labels in label_sets
                ]
            else:
                encoded["labels"] = [label2id[name(v)] for v in values]
            return encoded

        return cached_map(splits, encode, "sequence-classification", max_length, label2id)

    def model_kwargs(self) -> dict[str, Any]:
        return {
            "num_labels": len(self.label_list),
            "id2label": dict(enumerate(self.label_list)),
            "label2id": self.label2id,
            "problem_type": (
                "multi_label_classification" if self.multi_label else "single_label_classification"
            ),
        }

    def data_collator(self, tokenizer: Any, pad_to_multiple_of: int | None = None) -> Any:
        from transformers import DataCollatorWithPadding

        return DataCollatorWithPadding(tokenizer, pad_to_multiple_of=pad_to_multiple_of)

    # -- scoring ----------------------------------------------------------------------
    def decode(self, logits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(predictions, probabilities): argmax of softmax, or sigmoid above the threshold."""
        if self.multi_label:
            probabilities = sigmoid(logits)
            return (probabilities > self.threshold).astype(int), probabilities
        probabilities = softmax(logits)
        return probabilities.argmax(axis=-1), probabilities

    def compute_metrics(self, eval_prediction: Any) -> dict[str, float]:
        """accuracy, micro- and macro-F1 (Trainer prefixes them: eval_accuracy, test_f1_macro)."""
        logits, references = eval_prediction.predictions, eval_prediction.label_ids
        if isinstance(logits, tuple):
            logits = logits[0]
        predictions, _ = self.decode(logits)
        config = None
        if self.multi_label:
            config = "multilabel"
            predictions, references = _with_no_label_column(predictions, references.astype(int))
        accuracy = load_metric("accuracy", config)
        f1 = load_metric("f1", config)
        return {
            "accuracy": accuracy.compute(predictions=predictions, references=references)[
                "accuracy"
            ],
            "f1_micro": f1.compute(predictions=predictions, references=references, average="micro")[
                "f1"
            ],
            "f1_macro": f1.compute(predictions=predictions, references=references, average="macro")[
                "f1"
            ],
        }

    def write_predictions(self, raw: Any, logits: np.ndarray, run_dir: Path) -> None:
        """predictions.jsonl (text, gold, predicted, scores) and the per-class report."""
        from sklearn.metrics import classification_report

        predictions, probabilities = self.decode(logits)
        gold = as_names(raw, self.label_column, self.multi_label)
        rows = []
        for i in range(len(raw)):
            if self.multi_label:
                predicted: Any = [self.label_list[j] for j in np.flatnonzero(predictions[i])]
            else:
                predicted = self.label_list[int(predictions[i])]
            rows.append(
                {
                    "text": " ||| ".join(str(raw[i][c]) for c in self.text_columns),
                    "label": gold[i],
                    "prediction": predicted,
                    "scores": {
                        label: round(float(p), 5)
                        for label, p in zip(self.label_list, probabilities[i], strict=True)
                    },
                }
            )
        with open(run_dir / "predictions.jsonl", "w", encoding="utf-8") as handle:
            for row in rows:
                handle.write(json.dumps(row, ensure_ascii=False) + "\n")
        if self.multi_label:
            y_true = np.array([[label in set(g) for label in self.label_list] for g in gold], int)
            y_pred = predictions
        else:
            y_true = np.array([self.label2id[g] for g in gold])
            y_pred = predictions
        report = classification_report(
            y_true,
            y_pred,
            labels=list(range(len(self.label_list))),
            target_names=self.label_list,
            output_dict=True,
            zero_division=0,
        )
        write_json(run_dir / "classification_report.json", report)


def _with_no_label_column(
    predictions: np.ndarray, references: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """LexGLUE's multi-label scoring: an extra class that is 1 where no label is set, so
    examples without labels count (a correct empty prediction is a true positive)."""
    return (
        np.concatenate([predictions, (predictions.sum(axis=1) == 0)[:, None]], axis=1),
        np.concatenate([references, (references.sum(axis=1) == 0)[:, None]], axis=1),
    )
