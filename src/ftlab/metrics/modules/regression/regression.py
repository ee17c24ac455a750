"""Regression scores as an `evaluate` module, shipped with ftlab and loaded by local path
(no download): Pearson's and Spearman's correlation (scipy) and the mean squared error
(scikit-learn) of predicted against gold scores, as GLUE's STS-B is scored."""

import evaluate
from scipy.stats import pearsonr, spearmanr
from sklearn.metrics import mean_squared_error

from ftlab.metrics.info import metric_info

_DESCRIPTION = (
    "pearson: linear agreement (-1 .. 1); spearman: agreement of the ranks (-1 .. 1); "
    "mse: the mean squared difference (0 is perfect, lower is better)."
)
_KWARGS_DESCRIPTION = """
Args:
    predictions: predicted scores (floats).
    references: gold scores (floats).
Returns:
    pearson, spearman: floats (nan when either side is constant).
    mse: float.
"""
_CITATION = (
    "Virtanen et al., SciPy 1.0, Nature Methods 17, 2020; "
    "Pedregosa et al., Scikit-learn: Machine Learning in Python, JMLR 12, 2011."
)


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class Regression(evaluate.Metric):
    def _info(self):
        return metric_info(
            _DESCRIPTION, _CITATION, _KWARGS_DESCRIPTION, "float64", self.config_name
        )

    def _compute(self, predictions, references):
        return {
            "pearson": float(pearsonr(references, predictions).statistic),
            "spearman": float(spearmanr(references, predictions).statistic),
            "mse": float(mean_squared_error(references, predictions)),
        }
