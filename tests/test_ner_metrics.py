"""Entity scores from the shipped seqeval module and the NER task, checked by hand."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from datasets import Dataset, DatasetDict
from transformers import EvalPrediction

from ftlab.metrics import load_metric
from ftlab.records import read_json
from ftlab.tasks.alignment import IGNORE
from ftlab.tasks.token_classification import TokenClassificationTask

LABELS = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC"]


def test_seqeval_known_answer() -> None:
    scores = load_metric("seqeval").compute(
        references=[["B-PER", "I-PER", "O", "B-LOC"], ["B-ORG", "O"]],
        predictions=[["B-PER", "I-PER", "O", "B-ORG"], ["B-ORG", "O"]],
    )
    # gold PER, LOC, ORG; predicted PER (right), ORG (wrong type), ORG (right)
    # tp=2 fp=1 fn=1 -> P = R = F1 = 2/3; 5 of 6 tags right
    assert scores["overall_precision"] == pytest.approx(2 / 3)
    assert scores["overall_recall"] == pytest.approx(2 / 3)
    assert scores["overall_f1"] == pytest.approx(2 / 3)
    assert scores["overall_accuracy"] == pytest.approx(5 / 6)
    assert scores["PER"] == {"precision": 1.0, "recall": 1.0, "f1": 1.0, "number": 1}
    assert scores["LOC"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "number": 1}
    assert scores["ORG"]["precision"] == 0.5 and scores["ORG"]["recall"] == 1.0
    assert scores["macro avg"]["f1"] == pytest.approx((1 + 0 + 2 / 3) / 3)
    # plain Python numbers (numpy floats do not serialise everywhere)
    assert type(scores["overall_f1"]) is float and type(scores["ORG"]["recall"]) is float
    assert "micro avg" in scores["report"] and "PER" in scores["report"]


def test_strict_mode_does_not_start_entities_on_i_tags() -> None:
    seqeval = load_metric("seqeval")
    references = [["B-PER", "I-PER", "O"]]
    predictions = [["I-PER", "I-PER", "O"]]  # no B-: IOB2 says this is no entity
    lenient = seqeval.compute(predictions=predictions, references=references)
    strict = seqeval.compute(
        predictions=predictions, references=references, mode="strict", scheme="IOB2"
    )
    assert lenient["overall_f1"] == 1.0  # conlleval: an I- after O starts an entity
    assert strict["overall_f1"] == 0.0
    assert strict["overall_accuracy"] == lenient["overall_accuracy"] == pytest.approx(2 / 3)


def _one_hot(labels: np.ndarray, size: int) -> np.ndarray:
    logits = np.zeros((*labels.shape, size))
    for index in np.ndindex(labels.shape):
        logits[(*index, max(int(labels[index]), 0))] = 1.0
    return logits


def test_task_metrics_use_word_labels_and_the_strict_switch() -> None:
    task = TokenClassificationTask(name="t")
    task.label_list = LABELS
    gold = np.array([[IGNORE, 1, 2, IGNORE, 0, 5, IGNORE]])  # [CLS] PER PER _ O LOC [SEP]
    predicted = np.array([[0, 2, 2, 4, 0, 5, 0]])  # I-PER I-PER (piece ignored) O B-LOC
    prediction = EvalPrediction(predictions=_one_hot(predicted, 7), label_ids=gold)
    scores = task.compute_metrics(prediction)
    assert scores["f1"] == 1.0 and scores["f1_PER"] == 1.0 and scores["f1_LOC"] == 1.0
    assert scores["accuracy"] == 0.75  # I-PER for B-PER is a wrong tag
    task.seqeval_mode = "strict"
    strict = task.compute_metrics(prediction)
    assert strict["f1_PER"] == 0.0 and strict["f1"] == pytest.approx(2 / 3)  # P=1 R=1/2


def test_entity_across_the_truncation_boundary(tiny_model_dir: Path, tmp_path: Path) -> None:
    """The Trainer's metrics see the words that fit; the test report scores every word,
    and a word cut off counts as predicted O, so a clipped entity is a miss there."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    words = ["john", "went", "to", "the", "new", "york", "city", "office"]
    tags = ["B-PER", "O", "O", "O", "B-ORG", "I-ORG", "I-ORG", "O"]
    word_ids = tokenizer(words, is_split_into_words=True).word_ids()
    max_length = word_ids.index(6) + 1  # [CLS] + the pieces of words 0-5 + [SEP]
    task = TokenClassificationTask(name="t", max_seq_length=max_length, long_sequence="truncate")
    task.label_list = LABELS
    data = Dataset.from_dict({"tokens": [words], "ner_tags": [tags]})
    result = task.tokenize(DatasetDict({"train": data, "test": data}), tokenizer)
    tokenized = result.splits
    assert result.records["truncation.json"]["test"] == {"words": 2, "sentences": 1}

    labels = np.array([tokenized["test"][0]["labels"]])
    perfect = _one_hot(labels, len(LABELS))  # right on every word that fits
    visible = task.compute_metrics(EvalPrediction(predictions=perfect, label_ids=labels))
    assert visible["f1"] == 1.0  # gold and prediction both end the ORG at "york"

    task.write_predictions(data, perfect, tokenizer, tmp_path)
    report = read_json(tmp_path / "classification_report.json")
    # all words: PER right; ORG "new york city" predicted as "new york": P = R = 1/2
    assert report["overall_f1"] == pytest.approx(0.5)
    assert report["ORG"]["f1"] == 0.0 and report["PER"]["f1"] == 1.0
    rows = (tmp_path / "predictions.conll").read_text(encoding="utf-8").splitlines()
    assert rows[5] == "york\tI-ORG\tI-ORG" and rows[6] == "city\tI-ORG\tO" and rows[-1] == ""
    assert "ORG" in (tmp_path / "classification_report.txt").read_text()
