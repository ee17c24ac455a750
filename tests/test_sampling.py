"""trainer.train_sampling_strategy=group_by_length: the Trainer groups training batches by
length, and its evaluation sampler would group the validation and test rows too, out of
their order; ftlab keeps evaluation in the data's order, so predictions.jsonl (and chunk or
window merging) still line up with the rows."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import tiny_run

from ftlab.records import read_json


def test_length_grouped_runs_predict_their_rows(
    tmp_path: Path, tiny_model_dir: Path, intent_files: dict
) -> None:
    """(random batches: test_train.py's test_saved_model_works_with_pipeline)"""
    from transformers import pipeline

    run = tiny_run(
        tmp_path / "run",
        tiny_model_dir,
        intent_files,
        "task=intent",
        "task.label_column=label",
        "trainer.num_train_epochs=3",
        "trainer.per_device_train_batch_size=32",
        "optimizer.learning_rate=2e-3",
        "trainer.train_sampling_strategy=group_by_length",
    )
    rows = [json.loads(x) for x in (run / "predictions.jsonl").read_text().splitlines()]
    accuracy = sum(r["prediction"] == r["label"] for r in rows) / len(rows)
    assert accuracy == pytest.approx(read_json(run / "metrics.json")["test"]["test_accuracy"])
    # each row's prediction is the saved model's own answer for that row's text
    classifier = pipeline("text-classification", model=str(run / "model"), device="cpu")
    answers = [o["label"] for o in classifier([r["text"] for r in rows[:60]], batch_size=64)]
    assert [r["prediction"] for r in rows[:60]] == answers
    assert len({r["prediction"] for r in rows}) > 1  # a model answering one class proves nothing
