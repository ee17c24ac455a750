"""Class weights for imbalanced data (`task.class_weights=balanced` or a list, one per label).

The loss reaches the Trainer as its `compute_loss_func`. It is a weighted *sum* divided by
the number of labelled items the Trainer counted over the whole accumulated (and, across
processes, gathered) batch, which is what the Trainer expects of a `compute_loss_func`, so
gradient accumulation and several processes scale it right.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from ftlab.errors import FtlabError
from ftlab.tasks.alignment import IGNORE

log = logging.getLogger(__name__)


def check_class_weights(spec: Any) -> None:
    """`task.class_weights`: null, `balanced` or a list (its length is checked against the
    labels once they are known)."""
    if spec is not None and spec != "balanced" and not isinstance(spec, (list, tuple)):
        raise FtlabError(f"task.class_weights must be 'balanced' or a list, got {spec!r}")


def balanced_weights(labels: np.ndarray, label_list: list[str], multi_label: bool) -> np.ndarray:
    """sklearn's `balanced` class weights; multi-label: each label's negatives / positives
    (the `pos_weight` of a binary cross-entropy)."""
    from sklearn.utils.class_weight import compute_class_weight

    if multi_label:
        positives = labels.sum(axis=0)
        missing = [label_list[i] for i in np.flatnonzero(positives == 0)]
    else:
        positives = np.bincount(labels, minlength=len(label_list))
        missing = [label_list[i] for i in np.flatnonzero(positives == 0)]
    if missing:
        raise FtlabError(
            f"task.class_weights=balanced: no training example has the label(s) "
            f"{', '.join(missing)}; give the weights as a list or drop those labels"
        )
    if multi_label:
        return (len(labels) - positives) / positives
    return compute_class_weight("balanced", classes=np.arange(len(label_list)), y=labels)


def class_weights(spec: Any, labels: Any, label_list: list[str], multi_label: bool) -> Any:
    """The weights as a float tensor (one per label), or None without `task.class_weights`.

    `labels`: the tokenized training labels (ids; a 0/1 row per example for multi-label;
    a list per sentence with -100 on ignored pieces for token classification).
    """
    if spec is None:
        return None
    check_class_weights(spec)
    import torch

    if spec == "balanced":
        if multi_label:
            flat = np.asarray(labels, dtype=float)
        else:
            flat = np.asarray([y for row in labels for y in np.ravel(row) if y != IGNORE])
        weights = balanced_weights(flat, label_list, multi_label)
    else:
        if len(spec) != len(label_list) or not all(
            isinstance(w, (int, float)) and w > 0 for w in spec
        ):
            raise FtlabError(
                f"task.class_weights must be 'balanced' or {len(label_list)} positive numbers "
                f"(one per label, in the order {', '.join(label_list)}), got {list(spec)!r}"
            )
        weights = np.asarray(spec, dtype=float)
    log.info(
        "class weights: %s",
        ", ".join(f"{n}={w:.3g}" for n, w in zip(label_list, weights, strict=True)),
    )
    return torch.tensor(weights, dtype=torch.float32)


class WeightedLoss:
    """Cross-entropy with a weight per class (single-label, token classification), or binary
    cross-entropy with a `pos_weight` per label (multi-label)."""

    def __init__(self, weights: Any, multi_label: bool) -> None:
        self.weights, self.multi_label = weights, multi_label

    def __call__(self, outputs: Any, labels: Any, num_items_in_batch: Any = None) -> Any:
        import torch

        logits = outputs["logits"] if isinstance(outputs, dict) else outputs[0]
        weights = self.weights.to(logits.device)
        if self.multi_label:
            loss_fn = torch.nn.BCEWithLogitsLoss(pos_weight=weights, reduction="sum")
            total = loss_fn(logits, labels.to(logits.dtype))
        else:
            loss_fn = torch.nn.CrossEntropyLoss(
                weight=weights, ignore_index=IGNORE, reduction="sum"
            )
            total = loss_fn(logits.view(-1, logits.size(-1)), labels.view(-1))
        # outside training (evaluation) the Trainer passes no count: this batch's own
        count = num_items_in_batch if num_items_in_batch is not None else labels.ne(IGNORE).sum()
        return total / count


def weighted_loss(
    spec: Any, labels: Any, label_list: list[str], multi_label: bool
) -> WeightedLoss | None:
    """The class-weighted loss for `task.class_weights` (None without it), from the
    tokenized training labels."""
    weights = class_weights(spec, labels, label_list, multi_label)
    return None if weights is None else WeightedLoss(weights, multi_label)
