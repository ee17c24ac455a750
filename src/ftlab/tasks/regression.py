"""Regression: one number per text (or sentence pair), e.g. a sentiment intensity or a
similarity score. The model is a sequence classifier with one output and
`problem_type=regression` (mean-squared-error loss), as in Hugging Face's run_glue.py on
STS-B. Scored with Pearson's and Spearman's correlation and the mean squared error.
Defaults: regression.yaml beside this file.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from datasets import Dataset, DatasetDict

from ftlab.data.cache import cached_map
from ftlab.errors import FtlabError
from ftlab.metrics import load_metric
from ftlab.tasks.base import AnswerOptions, Tokenized
from ftlab.tasks.labels import label_kwargs
from ftlab.tasks.outputs import first_output
from ftlab.tasks.text import TextTask, encode_texts, shown_text

PREDICTIONS_FILE = "predictions.jsonl"


@dataclass
class RegressionTask(TextTask):
    """A float target per text: `label_column` holds finite numbers."""

    main_metric: str = "pearson"

    metrics: ClassVar[frozenset[str]] = frozenset({"pearson", "spearman", "mse"})
    minimized: ClassVar[frozenset[str]] = frozenset({"loss", "mse"})

    def __post_init__(self) -> None:
        super().__post_init__()
        # the one output, named after what it predicts (config.json's id2label)
        self.label_list = [self.label_column]

    # -- data -------------------------------------------------------------------------
    def prepare(self) -> DatasetDict:
        """Load, check that every target is a finite number, subsample."""
        splits = self.load_text_splits()
        return self.cut_to_size(splits)

    def check_split(self, split_name: str, split: Dataset) -> None:
        super().check_split(split_name, split)
        _targets(split[self.label_column], f"{split_name} split", self.label_column)

    def model_kwargs(self) -> dict[str, Any]:
        return {**label_kwargs(self.label_list), "problem_type": "regression"}

    # -- tokenization -----------------------------------------------------------------
    def tokenize(self, splits: DatasetDict, tokenizer: Any) -> Tokenized:
        """Token ids (no padding: the collator pads each batch) and float `labels`, cached."""
        # locals, not self: the cache key hashes what the function captures
        text_columns, max_length, label_column = (
            self.text_columns,
            self.max_seq_length,
            self.label_column,
        )

        def encode(batch: dict[str, list]) -> dict[str, list]:
            encoded = encode_texts(tokenizer, batch, text_columns, max_length)
            encoded["labels"] = [float(value) for value in batch[label_column]]
            return encoded

        return Tokenized(cached_map(splits, encode, "regression", max_length))

    # -- training and scoring ---------------------------------------------------------
    def decode(self, logits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(scores, scores): the head's one output is the prediction."""
        scores = np.asarray(logits, dtype=np.float64).reshape(len(logits), -1)[:, 0]
        return scores, scores

    def compute_metrics(self, eval_prediction: Any) -> dict[str, float]:
        """pearson, spearman, mse (Trainer prefixes them: eval_pearson, test_mse)."""
        scores, _ = self.decode(first_output(eval_prediction.predictions))
        return self._scores(scores, np.asarray(eval_prediction.label_ids, dtype=np.float64))

    @staticmethod
    def _scores(predictions: np.ndarray, references: np.ndarray) -> dict[str, float]:
        return load_metric("regression").compute(predictions=predictions, references=references)

    def write_predictions(
        self, raw: Dataset, logits: np.ndarray, tokenizer: Any, run_dir: Path
    ) -> None:
        """predictions.jsonl: text, gold score, predicted score."""
        scores, _ = self.decode(logits)
        with open(run_dir / PREDICTIONS_FILE, "w", encoding="utf-8") as handle:
            for row, score in zip(raw, scores, strict=True):
                record = {
                    "text": shown_text(row, self.text_columns),
                    "label": float(row[self.label_column]),
                    "prediction": round(float(score), 5),
                }
                handle.write(json.dumps(record, ensure_ascii=False) + "\n")

    # -- prediction time --------------------------------------------------------------
    def example_outputs(
        self, logits: np.ndarray, encoded: Any, inputs: Dataset, tokenizer: Any
    ) -> list[np.ndarray]:
        """Each example's predicted score (a one-element array)."""
        return [np.array([score]) for score in self.decode(logits)[0]]

    def prediction_records(
        self, inputs: Dataset, outputs: list[np.ndarray], tokenizer: Any
    ) -> list[dict]:
        return [
            {**{c: row[c] for c in self.text_columns}, "score": round(float(output[0]), 5)}
            for row, output in zip(inputs, outputs, strict=True)
        ]

    def served(self, record: dict, options: AnswerOptions) -> Any:
        return {"value": record["score"]}

    def prediction_gold(self, inputs: Dataset) -> list | None:
        if self.label_column not in inputs.column_names:
            return None
        return _targets(inputs[self.label_column], "the input", self.label_column)

    def prediction_scores(self, outputs: list[np.ndarray], gold: list) -> dict[str, float]:
        scores = np.array([float(output[0]) for output in outputs])
        return self._scores(scores, np.asarray(gold, dtype=np.float64))

    # -- export -----------------------------------------------------------------------
    def agreement(self, reference: np.ndarray, other: np.ndarray) -> dict[str, float]:
        """The largest score difference (a score has no label to agree on)."""
        difference = float(np.abs(self.decode(reference)[0] - self.decode(other)[0]).max())
        return {"max_abs_logit_diff": difference, "max_abs_output_diff": difference}


def _targets(values: list, where: str, column: str) -> list[float]:
    """The column's values as floats; a one-line error at the first one that is not a
    finite number."""
    targets = []
    for row, value in enumerate(values):
        number = None
        if not isinstance(value, bool):
            try:
                number = float(value)
            except (TypeError, ValueError):
                number = None
        if number is None or not math.isfinite(number):
            raise FtlabError(
                f"{where}, row {row}: '{column}' holds {value!r}, not a finite number; "
                "a regression target is one number per row"
            )
        targets.append(number)
    return targets
