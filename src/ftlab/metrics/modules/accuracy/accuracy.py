"""Accuracy as an `evaluate` module, shipped with ftlab and loaded by local path (no download).

For multi-label indicator arrays (config "multilabel") it is subset accuracy: the share of
examples whose whole label set is predicted exactly.
"""

import evaluate
from sklearn.metrics import accuracy_score

from ftlab.metrics.info import metric_info

_DESCRIPTION = "Accuracy: the share of predictions equal to their references."
_KWARGS_DESCRIPTION = """
Args:
    predictions: predicted label ids (or 0/1 indicator rows with config "multilabel").
    references: gold label ids (or 0/1 indicator rows).
    normalize: return the share (True) or the count (False) of correct predictions.
    sample_weight: optional per-example weights.
Returns:
    accuracy: float.
"""
_CITATION = "Pedregosa et al., Scikit-learn: Machine Learning in Python, JMLR 12, 2011."


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class Accuracy(evaluate.Metric):
    def _info(self):
        return metric_info(_DESCRIPTION, _CITATION, _KWARGS_DESCRIPTION, "int32", self.config_name)

    def _compute(self, predictions, references, normalize=True, sample_weight=None):
        score = accuracy_score(
            references, predictions, normalize=normalize, sample_weight=sample_weight
        )
        return {"accuracy": float(score)}
