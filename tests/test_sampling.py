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


def test_length_group_batches_sets_how_many_batches_sort_together() -> None:
    """`trainer.length_group_batches=N`: the batches are those of the Trainer's grouping
    with mega-batches of N batches (only their order drawn anew). Fewer batches per group
    leave more padding: 2 sits between random batches and the Trainer's 50."""
    import random

    import torch
    from transformers.trainer_pt_utils import LengthGroupedSampler, get_length_grouped_indices

    from ftlab.recipes.sampling import shuffled

    lengths = [random.Random(i).randint(1, 128) for i in range(6400)]

    def batches(order: list[int]) -> list[list[int]]:
        return [order[i : i + 32] for i in range(0, len(order), 32)]

    def grouped(group_batches: int | None) -> list[list[int]]:
        sampler = LengthGroupedSampler(
            32, lengths=lengths, generator=torch.Generator().manual_seed(3)
        )
        return batches(list(shuffled(sampler, group_batches)))

    def padded(order: list[list[int]]) -> int:
        return sum(len(b) * max(lengths[i] for i in b) for b in order)

    pairs = get_length_grouped_indices(
        lengths, 32, mega_batch_mult=2, generator=torch.Generator().manual_seed(3)
    )
    assert sorted(map(sorted, grouped(2))) == sorted(map(sorted, batches(pairs)))
    assert sorted(map(sorted, grouped(2))) != sorted(map(sorted, grouped(None)))
    at_random = batches(torch.randperm(6400, generator=torch.Generator().manual_seed(3)).tolist())
    assert padded(grouped(None)) < padded(grouped(8)) < padded(grouped(2)) < padded(at_random)


def _token_trainer(model_dir: Path, tmp_path: Path, strategy: str, **kwargs: object) -> tuple:
    """A RecipeTrainer over four token-labelled rows (2, 2, 6 and 6 labelled tokens), as
    train.py builds it, and a batch of the two short rows."""
    import torch
    from datasets import Dataset
    from transformers import AutoModelForTokenClassification, TrainingArguments

    from ftlab.recipes.trainer import RecipeTrainer

    def row(words: int) -> dict:
        ids = [2, *range(10, 10 + words), 3]  # within the tiny vocabulary
        return {"input_ids": ids, "labels": [-100, *[i % 3 for i in range(words)], -100]}

    train = Dataset.from_list([row(2), row(2), row(6), row(6)])
    model = AutoModelForTokenClassification.from_pretrained(
        model_dir, num_labels=3, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0
    )
    model.accepts_loss_kwargs = False  # as train.py sets it
    args = TrainingArguments(
        output_dir=str(tmp_path), train_sampling_strategy=strategy, report_to=[], use_cpu=True
    )
    trainer = RecipeTrainer(model=model, args=args, train_dataset=train, **kwargs)
    short = {
        "input_ids": torch.tensor([train[0]["input_ids"], train[1]["input_ids"]]),
        "labels": torch.tensor([train[0]["labels"], train[1]["labels"]]),
    }
    return trainer, model, short


def test_grouped_batches_weigh_every_labelled_token_alike(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    """Length-grouped batches of token labels: a batch's loss is its summed token loss over
    the labelled tokens an average batch of as many rows holds (4 short tokens over 2 x 4),
    so a batch of short rows no longer weighs its tokens 3x; random batches keep the
    model's mean (the control). Measured on CoNLL-2003: dev F1 0.8662 -> 0.8729."""
    import torch

    def summed(model: torch.nn.Module, batch: dict) -> float:
        logits = model(input_ids=batch["input_ids"]).logits
        return float(
            torch.nn.functional.cross_entropy(
                logits.view(-1, 3), batch["labels"].view(-1), ignore_index=-100, reduction="sum"
            )
        )

    trainer, model, short = _token_trainer(tiny_model_dir, tmp_path, "group_by_length")
    assert trainer.per_row == 4.0  # (2 + 2 + 6 + 6) labelled tokens / 4 rows
    model.train()
    grouped = float(trainer.compute_loss(model, short))
    assert grouped == pytest.approx(summed(model, short) / (4.0 * 2), rel=1e-5)
    model.eval()  # evaluation losses stay the model's mean
    assert float(trainer.compute_loss(model, short)) == pytest.approx(summed(model, short) / 4)
    control, model, _ = _token_trainer(tiny_model_dir, tmp_path, "random")
    model.train()
    assert control.per_row is None
    mean = float(control.compute_loss(model, short))
    assert mean == pytest.approx(summed(model, short) / 4, rel=1e-5)


def test_grouped_batches_count_the_average_batch_for_a_loss_function(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    """With a `compute_loss_func` (class weights), the Trainer divides by its count of
    labelled tokens in the accumulated batches: grouped, the count an average batch of as
    many rows holds; random, the real one (the control)."""

    def weighted(outputs: object, labels: object, num_items_in_batch: object = None) -> object:
        return outputs["logits"].sum() * 0  # never called here

    for strategy, count in (("group_by_length", 8.0), ("random", 4)):
        trainer, _, short = _token_trainer(
            tiny_model_dir, tmp_path, strategy, compute_loss_func=weighted
        )
        _, counted = trainer.get_batch_samples(iter([short]), 1, "cpu")
        assert float(counted) == count


def test_only_token_labels_are_reweighed() -> None:
    """One label per row, or a multi-hot vector: a batch mean already weighs rows alike."""
    from datasets import Dataset

    from ftlab.recipes.sampling import labelled_per_row

    assert labelled_per_row(Dataset.from_list([{"labels": 1}, {"labels": 0}])) is None
    assert labelled_per_row(Dataset.from_list([{"labels": [1.0, 0.0]}])) is None
    assert labelled_per_row(Dataset.from_list([{"labels": [-100, 2, 1]}])) == 2.0
