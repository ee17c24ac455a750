"""Evaluation and prediction run the longest rows first (far less padding) and answer in
the rows' order: the same logits, labels and metrics as the Trainer's sequential pass,
where the Trainer's own length grouping (train_sampling_strategy=group_by_length) would
hand them back shuffled (recipes/eval_order.py)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from ftlab.recipes.eval_order import LengthSortedEvaluation, in_row_order, row_lengths

ROWS = 150


@pytest.fixture(scope="module")
def questions(tiny_model_dir: Path, trec_rows: list[dict]) -> tuple:
    """Real TREC questions of 3-40 tokens, tokenized, each labelled with its row number (so
    a metric can tell whether the rows came back in order), and the tokenizer."""
    from datasets import Dataset
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    texts = [row["text"] for row in trec_rows[:ROWS]]
    encoded = dict(tokenizer(texts, truncation=True, max_length=64))
    return Dataset.from_dict({**encoded, "labels": list(range(ROWS))}), tokenizer


class CountingCollator:
    """The tokenizer's padding collator, counting the tokens (padding included) it makes."""

    def __init__(self, tokenizer) -> None:
        from transformers import DataCollatorWithPadding

        self.pad, self.tokens = DataCollatorWithPadding(tokenizer), 0

    def __call__(self, features: list[dict]) -> dict:
        batch = self.pad(features)
        self.tokens += batch["input_ids"].numel()
        return batch


def rows_in_order(prediction) -> dict[str, float]:
    """1.0 where every row's label (its row number) is where that row stands."""
    return {"rows_in_order": float(np.array_equal(prediction.label_ids, np.arange(ROWS)))}


def _arguments(tmp: Path, **options) -> object:
    """Evaluation in batches of 16 on the CPU, with `options` (TrainingArguments fields)."""
    from transformers import TrainingArguments

    return TrainingArguments(
        output_dir=str(tmp),
        per_device_eval_batch_size=16,
        use_cpu=True,
        report_to="none",
        disable_tqdm=True,
        **options,
    )


def _predict(trainer_class, model_dir: Path, questions: tuple, tmp: Path, **options) -> tuple:
    """(the predict output, the tokens the collator padded to) for one Trainer class."""
    from transformers import AutoModelForSequenceClassification, set_seed

    data, tokenizer = questions
    set_seed(0)  # the same new head each time
    model = AutoModelForSequenceClassification.from_pretrained(model_dir, num_labels=ROWS)
    args = _arguments(tmp, **options)
    collator = CountingCollator(tokenizer)
    trainer = trainer_class(
        model=model,
        args=args,
        processing_class=tokenizer,
        data_collator=collator,
        compute_metrics=rows_in_order,
    )
    return trainer.predict(data), collator.tokens


def test_longest_first_pads_less_and_answers_as_the_sequential_pass(
    tiny_model_dir: Path, questions: tuple, tmp_path: Path
) -> None:
    from transformers import Trainer

    reference, padded_reference = _predict(Trainer, tiny_model_dir, questions, tmp_path)
    sorted_, padded = _predict(LengthSortedEvaluation, tiny_model_dir, questions, tmp_path)
    assert reference.metrics["test_rows_in_order"] == 1.0
    assert sorted_.metrics["test_rows_in_order"] == 1.0  # the metric saw the rows in order
    np.testing.assert_array_equal(sorted_.label_ids, np.arange(ROWS))
    np.testing.assert_allclose(sorted_.predictions, reference.predictions, atol=1e-5)
    assert sorted_.metrics["test_loss"] == pytest.approx(reference.metrics["test_loss"], rel=0.05)
    real = sum(row_lengths(questions[0], "input_ids"))
    # sequential batches of 16 questions pad to their longest; sorted ones hardly at all
    assert padded < 0.8 * padded_reference and padded < 1.2 * real
    print(f"tokens: {real} real, {padded_reference} sequential, {padded} longest first")


def test_the_trainers_own_length_grouping_would_shuffle_the_rows(
    tiny_model_dir: Path, questions: tuple, tmp_path: Path
) -> None:
    """With group_by_length (the presets that ship it), the Trainer evaluates in random
    length groups and never puts the rows back: what ftlab's trainers replace."""
    from transformers import Trainer

    grouped = {"train_sampling_strategy": "group_by_length"}
    shuffled, _ = _predict(Trainer, tiny_model_dir, questions, tmp_path, **grouped)
    assert shuffled.metrics["test_rows_in_order"] == 0.0  # the negative control
    ordered, _ = _predict(LengthSortedEvaluation, tiny_model_dir, questions, tmp_path, **grouped)
    assert ordered.metrics["test_rows_in_order"] == 1.0


def test_a_teacher_under_group_by_length_scores_each_training_row(
    tiny_model_dir: Path, questions: tuple, tmp_path: Path
) -> None:
    """Distillation computes the teacher's logits with the student's TrainingArguments; under
    group_by_length they once came back shuffled, each row trained on another's targets."""
    from transformers import AutoModelForSequenceClassification, Trainer, set_seed

    from ftlab.recipes.distill import _predict as teacher_logits

    data, tokenizer = questions
    reference, _ = _predict(Trainer, tiny_model_dir, questions, tmp_path)
    args = _arguments(tmp_path, train_sampling_strategy="group_by_length")
    task = SimpleNamespace(model_class="AutoModelForSequenceClassification")
    model_dir = tmp_path / "teacher"
    set_seed(0)  # the reference's model, saved
    AutoModelForSequenceClassification.from_pretrained(
        tiny_model_dir, num_labels=ROWS
    ).save_pretrained(model_dir)
    logits = teacher_logits(model_dir, task, data, args, CountingCollator(tokenizer))
    np.testing.assert_allclose(np.stack(logits), reference.predictions, atol=1e-5)


def test_in_row_order_puts_back_nested_outputs_and_refuses_a_mismatch() -> None:
    order = np.array([2, 0, 1])  # rows 2, 0, 1 were evaluated, in that order
    tokens = np.array([[20, 21], [0, -100], [10, -100]])
    restored = in_row_order((tokens, {"scores": np.array([2.0, 0.0, 1.0])}, None), order)
    np.testing.assert_array_equal(restored[0], [[0, -100], [10, -100], [20, 21]])
    np.testing.assert_array_equal(restored[1]["scores"], [0.0, 1.0, 2.0])
    assert restored[2] is None
    with pytest.raises(ValueError, match="2 outputs for 3 evaluated rows"):
        in_row_order(np.zeros(2), order)
