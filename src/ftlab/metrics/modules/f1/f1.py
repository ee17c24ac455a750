"""F1 as an `evaluate` module, shipped with ftlab and loaded by local path (no download).

`average` is scikit-learn's: "binary", "micro", "macro", "weighted", "samples", or None for
one score per label. Config "multilabel" takes 0/1 indicator rows.
"""

import evaluate
import numpy as np
from sklearn.metrics import f1_score

from ftlab.metrics.info import metric_info

_DESCRIPTION = "F1: the harmonic mean of precision and recall."
_KWARGS_DESCRIPTION = """
Args:
    predictions: predicted label ids (or 0/1 indicator rows with config "multilabel").
    references: gold label ids (or 0/1 indicator rows).
    labels: the labels to include (and their order when average=None).
    pos_label: the positive class for average="binary".
    average: "binary", "micro", "macro", "weighted", "samples" or None.
    sample_weight: optional per-example weights.
    zero_division: the value for a label with no predictions and no references.
Returns:
    f1: a float, or a list of floats (one per label) when average is None.
"""
_CITATION = "Pedregosa et al., Scikit-learn: Machine Learning in Python, JMLR 12, 2011."


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class F1(evaluate.Metric):
    def _info(self):
        return metric_info(_DESCRIPTION, _CITATION, _KWARGS_DESCRIPTION, "int32", self.config_name)

    def _compute(
        self,
        predictions,
        references,
        labels=None,
        pos_label=1,
        average="binary",
        sample_weight=None,
        zero_division=0.0,
    ):
        score = f1_score(
            references,
            predictions,
            labels=labels,
            pos_label=pos_label,
            average=average,
            sample_weight=sample_weight,
            zero_division=zero_division,
        )
        score = np.asarray(score)
        return {"f1": float(score) if score.ndim == 0 else [float(s) for s in score]}
