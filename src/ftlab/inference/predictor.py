"""A run's model over rows of text, batched by the Trainer: per-example probabilities.

Tokenization is the task's own (`encode_texts` / `encode_words`, the functions training
used), so a text is cut and split exactly as it was in training.
"""

from __future__ import annotations

import tempfile
from typing import Any

import numpy as np
from datasets import Dataset

from ftlab.inference.runs import Run


def model_logits(
    run: Run, features: Dataset, batch_size: int, device: str, progress: bool
) -> np.ndarray:
    """`Trainer.predict` over tokenized features (batches padded by the task's collator,
    the Trainer's progress bar); the logits, padded with -100 across batches for tokens."""
    from transformers import Trainer, TrainingArguments

    with tempfile.TemporaryDirectory(prefix="ftlab-predict-") as scratch:
        args = TrainingArguments(
            output_dir=scratch,
            per_device_eval_batch_size=batch_size,
            use_cpu=device == "cpu",
            disable_tqdm=not progress,
            report_to="none",
        )
        trainer = Trainer(
            model=run.model,
            args=args,
            processing_class=run.tokenizer,
            data_collator=run.task.data_collator(run.tokenizer),
        )
        logits = trainer.predict(features).predictions
    return logits[0] if isinstance(logits, tuple) else logits


def pick_device(device: str) -> str:
    """`auto`: cuda where torch sees a GPU, else cpu."""
    if device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def to_logits(probabilities: np.ndarray, multi_label: bool) -> np.ndarray:
    """Logits whose softmax (sigmoid for multi-label) gives `probabilities` back, so averaged
    probabilities can be decoded and scored by the task's own code."""
    clipped = np.clip(probabilities, 1e-7, 1 - 1e-7)
    return np.log(clipped / (1 - clipped)) if multi_label else np.log(clipped)


def features_only(encoded: Any) -> Dataset:
    """The tokenizer's outputs as a Dataset (no labels: predicting computes no loss)."""
    return Dataset.from_dict(dict(encoded))
