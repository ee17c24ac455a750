"""A run's model over input rows: one output array per row.

Tokenization and decoding are the task's own (`encode`, `example_outputs`: what training
used), so a text is cut and split exactly as it was in training. Only the step from token
features to logits differs between callers: the Trainer in batches (ftlab.predict), or one
forward pass per batch of requests (ftlab.serve, on PyTorch or an ONNX file).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from datasets import Dataset

from ftlab.data.columns import rows_in_memory
from ftlab.inference.runs import Run
from ftlab.tasks.base import OutputContext
from ftlab.tasks.chunks import MAPPING
from ftlab.tasks.outputs import first_output

CACHE_DIR = "prediction-cache"  # in the run directory: what a kind computes once (a corpus)


@dataclass
class Batching:
    """How the model runs: batch size, device, progress bar."""

    batch_size: int
    device: str
    progress: bool


# token features (a Dataset of the tokenizer's outputs) -> the model's logits, in their order
Logits = Callable[[Dataset], np.ndarray]


@dataclass
class Outputs:
    """A run's outputs (probabilities, scores ...) for each input row, and how many windows
    (chunks of a long text) each row was cut into; None where the kind cuts none."""

    outputs: list[np.ndarray]
    windows: list[int] | None


def run_outputs(run: Run, inputs: Dataset, batching: Batching) -> list[np.ndarray]:
    """The run's outputs (probabilities, scores ...) for each input row: by the Trainer, or
    by the kind's model itself (a sentence encoder's similarities to a corpus)."""
    return member_outputs(
        run,
        inputs,
        batching.batch_size,
        batching.progress,
        lambda features: model_logits(run, features, batching),
    ).outputs


def member_outputs(
    run: Run, inputs: Dataset, batch_size: int, progress: bool, logits: Logits
) -> Outputs:
    """The kind's model's own outputs (a corpus ranked, replies generated), else the
    outputs of `logits` over the encoded inputs."""
    context = OutputContext(batch_size, progress, run.path / CACHE_DIR, run.tokenizer)
    own = run.task.model_outputs(run.model, inputs, context)
    if own is not None:
        return Outputs(own, None)
    return outputs_by(run, inputs, logits)


def outputs_by(run: Run, inputs: Dataset, logits: Logits) -> Outputs:
    """The run's outputs for each input row, with `logits` turning its features into logits."""
    encoded = run.task.encode(run.tokenizer, inputs)
    outputs = run.task.example_outputs(
        logits(features_only(encoded)), encoded, inputs, run.tokenizer
    )
    windows = None
    if MAPPING in encoded:
        windows = np.bincount(np.asarray(encoded[MAPPING]), minlength=len(inputs)).tolist()
    return Outputs(outputs, windows)


def ensemble(members: list[list[np.ndarray]]) -> list[np.ndarray]:
    """The mean of the members' outputs, example by example (one member: its own)."""
    if len(members) == 1:
        return members[0]
    return [np.mean(stack, axis=0) for stack in zip(*members, strict=True)]


def model_logits(run: Run, features: Dataset, batching: Batching) -> np.ndarray:
    """`Trainer.predict` over tokenized features (batches padded by the task's collator,
    longest rows first, the Trainer's progress bar); the logits in the rows' order, padded
    with -100 across batches for tokens."""
    from transformers import TrainingArguments

    from ftlab.recipes.eval_order import LengthSortedEvaluation

    with tempfile.TemporaryDirectory(prefix="ftlab-predict-") as scratch:
        args = TrainingArguments(
            output_dir=scratch,
            per_device_eval_batch_size=batching.batch_size,
            use_cpu=batching.device == "cpu",
            disable_tqdm=not batching.progress,
            report_to="none",
        )
        trainer = LengthSortedEvaluation(
            model=run.model,
            args=args,
            processing_class=run.tokenizer,
            data_collator=run.task.prediction_collator(run.tokenizer),
        )
        return first_output(trainer.predict(features).predictions)


def pick_device(device: str) -> str:
    """`auto`: cuda where torch sees a GPU, else cpu."""
    if device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def features_only(encoded: Any) -> Dataset:
    """The tokenizer's outputs as a Dataset (no labels: predicting computes no loss; not
    the tokenizer's map from chunks to rows, which is no model input)."""
    return rows_in_memory({k: v for k, v in dict(encoded).items() if k != MAPPING})
