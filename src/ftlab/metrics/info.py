"""What the shipped `evaluate` modules share: their inputs' description (a value per example,
or a 0/1 row per example for multi-label)."""

from __future__ import annotations

from typing import Any


def metric_info(
    description: str, citation: str, inputs: str, value: str, config_name: str | None
) -> Any:
    """`evaluate.MetricInfo` for `predictions` and `references` of one `value` (a datasets
    dtype: "int32", "float64") per example, or a sequence of them with config "multilabel"."""
    import datasets
    import evaluate

    feature = datasets.Value(value)
    if config_name == "multilabel":
        feature = datasets.Sequence(feature)
    return evaluate.MetricInfo(
        description=description,
        citation=citation,
        inputs_description=inputs,
        features=datasets.Features({"predictions": feature, "references": feature}),
    )
