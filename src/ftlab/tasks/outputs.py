"""Turning a model's logits into what a task outputs: the pieces every kind shares."""

from __future__ import annotations

from typing import Any

import numpy as np


def first_output(predictions: Any) -> np.ndarray:
    """The logits of a Trainer prediction (models may return a tuple: logits first)."""
    return predictions[0] if isinstance(predictions, tuple) else predictions


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


def sigmoid(logits: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-logits))


def rounded(values: Any, digits: int = 5) -> list[float]:
    """Scores as they go into a prediction record."""
    return [round(float(v), digits) for v in np.ravel(values)]


def top_indices(scores: Any, count: int) -> np.ndarray:
    """The indices of the `count` highest scores, best first (ties in index order); a score
    of -inf is not ranked (what a reranker left out)."""
    scores = np.asarray(scores)
    ranked = np.flatnonzero(np.isfinite(scores))
    return ranked[np.argsort(-scores[ranked], kind="stable")][:count]


def perplexity(metrics: dict[str, float], prefix: str) -> dict[str, float]:
    """`<prefix>_perplexity` = exp(`<prefix>_loss`), the language-model kinds' way (run_mlm.py,
    run_clm.py); none without a loss."""
    import math

    loss = metrics.get(f"{prefix}_loss")
    if loss is None:
        return {}
    return {f"{prefix}_perplexity": math.exp(loss) if loss < 700 else math.inf}
