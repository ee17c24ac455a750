"""Decision thresholds of a multi-label classifier chosen on the validation set
(`task.threshold=tune`): one for all labels, or one per label (`task.threshold_per_label`).

With rare labels a fixed 0.5 predicts the frequent "no label" case and macro-F1 collapses;
the threshold that scores best on validation is applied unchanged to test and to
ftlab.predict (saved with the model). Candidates are scored with scikit-learn directly (the
functions the task's evaluate modules wrap): 19 candidates through evaluate's per-call
overhead (about 80 ms) would add seconds to every evaluation.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import numpy as np

from ftlab.errors import FtlabError

# the candidates tried: 0.05, 0.10, ... 0.95
CANDIDATES = tuple(round(0.05 * i, 2) for i in range(1, 20))


@dataclass
class Thresholds:
    """What was chosen on validation: `value` for every label, or one per label (labels
    without a positive validation example fall back to `value`)."""

    value: float
    metric: str  # what `value` maximised on validation
    per_label: dict[str, float] | None = None
    fallback_labels: list[str] = field(default_factory=list)

    def array(self, labels: list[str]) -> np.ndarray | float:
        """Broadcastable against (examples, labels) probabilities."""
        if self.per_label is None:
            return self.value
        return np.array([self.per_label.get(label, self.value) for label in labels])

    def record(self) -> dict:
        return asdict(self)

    @classmethod
    def from_record(cls, record: dict) -> Thresholds:
        try:
            return cls(**record)
        except TypeError as exc:
            raise FtlabError(f"the saved thresholds cannot be read ({exc}); train again") from exc


def tune(
    probabilities: np.ndarray,
    references: np.ndarray,
    labels: list[str],
    score: Callable[[np.ndarray], float],
    metric: str,
    per_label: bool,
) -> Thresholds:
    """The candidate that maximises `score(predictions)` for all labels together, and with
    `per_label` each label's own best F1 (ties: the candidate nearest 0.5)."""
    order = sorted(CANDIDATES, key=lambda t: abs(t - 0.5))  # max() keeps the first best
    value = max(order, key=lambda t: score((probabilities > t).astype(int)))
    if not per_label:
        return Thresholds(value=value, metric=metric)
    from sklearn.metrics import f1_score

    by_candidate = {
        t: f1_score(references, (probabilities > t).astype(int), average=None, zero_division=0)
        for t in order
    }
    present = references.sum(axis=0) > 0
    chosen, fallback = {}, []
    for j, label in enumerate(labels):
        if not present[j]:  # nothing to tune on: a 0.05 would be chosen by default
            chosen[label] = value
            fallback.append(label)
            continue
        chosen[label] = max(order, key=lambda t: by_candidate[t][j])
    return Thresholds(value=value, metric=metric, per_label=chosen, fallback_labels=fallback)
