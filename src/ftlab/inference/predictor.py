"""A run's model over input rows, batched by the Trainer: one output array per row.

Tokenization and decoding are the task's own (`encode`, `example_outputs`: what training
used), so a text is cut and split exactly as it was in training.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from typing import Any

import numpy as np
from datasets import Dataset

from ftlab.inference.runs import Run
from ftlab.tasks.chunks import MAPPING
from ftlab.tasks.outputs import first_output

CACHE_DIR = "prediction-cache"  # in the run directory: what a kind computes once (a corpus)


@dataclass
class Batching:
    """How the model runs: batch size, device, progress bar."""

    batch_size: int
    device: str
    progress: bool


def run_outputs(run: Run, inputs: Dataset, batching: Batching) -> list[np.ndarray]:
    """The run's outputs (probabilities, scores ...) for each input row."""
    own = run.task.model_outputs(
        run.model, inputs, batching.batch_size, batching.progress, run.path / CACHE_DIR
    )
    if own is not None:
        return own
    encoded = run.task.encode(run.tokenizer, inputs)
    logits = model_logits(run, features_only(encoded), batching)
    return run.task.example_outputs(logits, encoded, inputs, run.tokenizer)


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
    return Dataset.from_dict({k: v for k, v in dict(encoded).items() if k != MAPPING})
