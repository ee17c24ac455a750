"""The shipped evaluate modules and the task's metric function give hand-checked answers."""

from __future__ import annotations

import numpy as np
import pytest
from transformers import EvalPrediction

from ftlab.metrics import load_metric
from ftlab.tasks.classification import SequenceClassificationTask


def test_accuracy_known_answer() -> None:
    result = load_metric("accuracy").compute(predictions=[0, 1, 1, 0], references=[0, 1, 0, 0])
    assert result == {"accuracy": 0.75}


def test_f1_known_answers() -> None:
    f1 = load_metric("f1")
    # class 0: tp=2 fp=0 fn=1 -> 0.8; class 1: tp=1 fp=1 fn=1 -> 0.5; class 2: tp=0 -> 0
    predictions, references = [0, 1, 1, 0, 2], [0, 1, 0, 0, 1]
    per_class = f1.compute(predictions=predictions, references=references, average=None)["f1"]
    assert per_class == pytest.approx([0.8, 0.5, 0.0])
    macro = f1.compute(predictions=predictions, references=references, average="macro")["f1"]
    assert macro == pytest.approx((0.8 + 0.5 + 0.0) / 3)
    micro = f1.compute(predictions=predictions, references=references, average="micro")["f1"]
    assert micro == pytest.approx(3 / 5)  # single-label micro-F1 equals accuracy


def test_multilabel_modules() -> None:
    f1 = load_metric("f1", "multilabel")
    predictions, references = [[1, 0], [0, 1]], [[1, 1], [0, 1]]
    # tp=2 fp=0 fn=1 -> micro 0.8; label 0: 1.0, label 1: 2/3
    assert f1.compute(predictions=predictions, references=references, average="micro")[
        "f1"
    ] == pytest.approx(0.8)
    assert f1.compute(predictions=predictions, references=references, average="macro")[
        "f1"
    ] == pytest.approx(5 / 6)
    subset = load_metric("accuracy", "multilabel").compute(
        predictions=predictions, references=references
    )
    assert subset == {"accuracy": 0.5}


def test_task_metrics_single_label() -> None:
    task = SequenceClassificationTask(name="t")
    task.label_list = ["a", "b", "c"]
    logits = np.array([[3.0, 0, 0], [0, 2.0, 0], [0, 2.0, 0], [0, 0, 1.0]])
    scores = task.compute_metrics(
        EvalPrediction(predictions=logits, label_ids=np.array([0, 1, 0, 2]))
    )
    assert scores["accuracy"] == 0.75
    assert scores["f1_micro"] == pytest.approx(0.75)
    assert scores["f1_macro"] == pytest.approx((2 / 3 + 2 / 3 + 1.0) / 3)


def test_task_metrics_multilabel_counts_empty_label_sets_lexglue_way() -> None:
    task = SequenceClassificationTask(name="t", multi_label=True, threshold=0.5)
    task.label_list = ["a", "b"]
    # example 1: gold {a}, predicted {a}; example 2: gold {}, predicted {} (right, via "none")
    logits = np.array([[5.0, -5.0], [-5.0, -5.0]])
    labels = np.array([[1.0, 0.0], [0.0, 0.0]])
    scores = task.compute_metrics(EvalPrediction(predictions=logits, label_ids=labels))
    assert scores["f1_micro"] == pytest.approx(1.0)
    # without the extra column, example 2 would contribute nothing and macro-F1 over [a, b]
    # would be 0.5; with it, a=1, b=0 (no support, zero_division=0), none=1
    assert scores["f1_macro"] == pytest.approx(2 / 3)
    assert scores["accuracy"] == 1.0
