"""trainer.train_sampling_strategy=group_by_length: the Trainer groups training batches by
length (ftlab draws their order at random), and its evaluation sampler would group the
validation and test rows too, out of their order; ftlab keeps evaluation in the data's
order, so predictions.jsonl (and chunk or window merging) still line up with the rows."""

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


def test_length_grouped_batches_come_whole_in_a_random_order() -> None:
    """The Trainer's length-grouped batches, each whole (the padding saved is the same), in
    a random order: its own sampler walks every 50 batches from the longest to the
    shortest. The last, partial batch stays last, so no later batch is cut in two."""
    import random

    import torch
    from transformers.trainer_pt_utils import LengthGroupedSampler

    from ftlab.recipes.sampling import shuffled

    lengths = [random.Random(i).randint(1, 128) for i in range(3210)]
    trainers = LengthGroupedSampler(32, lengths=lengths, generator=torch.Generator().manual_seed(3))
    ours = list(shuffled(trainers))
    theirs = list(
        LengthGroupedSampler(32, lengths=lengths, generator=torch.Generator().manual_seed(3))
    )

    def batches(order: list[int]) -> list[list[int]]:
        return [order[i : i + 32] for i in range(0, len(order), 32)]

    assert sorted(ours) == list(range(3210))
    assert sorted(map(sorted, batches(ours))) == sorted(map(sorted, batches(theirs)))
    assert batches(ours)[-1] == batches(theirs)[-1] and len(batches(ours)[-1]) == 10
    # mega-batches of 25 batches here (a quarter of the data, when under 50)
    longest = [max(lengths[i] for i in batch) for batch in batches(ours)[1:25]]
    theirs_longest = [max(lengths[i] for i in batch) for batch in batches(theirs)[1:25]]
    assert theirs_longest == sorted(theirs_longest, reverse=True)  # their walk, long to short
    assert longest != sorted(longest, reverse=True)  # ours is no walk
