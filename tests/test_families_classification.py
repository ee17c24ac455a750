"""Every model family as a classifier (tests/families.py: tiny random models shipped as the
Hub checkpoints ship): a run completes, ftlab.predict on it reproduces its own test scores
row by row, pipeline() on model/ gives the same labels, and ftlab.export writes an ONNX
graph that agrees with PyTorch (or refuses in one line)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from families import FAMILIES
from helpers import (
    FAMILY_RUN,
    assert_same_test_metrics,
    exported,
    predicted_again,
    tiny_run,
)

INTENT = ["task=intent", "task.label_column=label"]


@pytest.mark.parametrize("name", FAMILIES)
def test_a_family_classifies_reloads_exactly_and_exports(
    name: str, tiny_family: Callable[[str], Path], intent_files: dict, tmp_path: Path
) -> None:
    from transformers import pipeline

    run = tiny_run(tmp_path / "run", tiny_family(name), intent_files, *INTENT, *FAMILY_RUN)
    reloaded, records = predicted_again(run, tmp_path / "predicted.jsonl")
    assert_same_test_metrics(run, reloaded, tolerance=1e-9)
    own = [json.loads(line) for line in (run / "predictions.jsonl").read_text().splitlines()]
    assert len(own) == len(records) == 24
    for mine, again in zip(own, records, strict=True):
        assert mine["prediction"] == again["label"]
        for label, score in mine["scores"].items():
            assert abs(score - again["scores"][label]) <= 1e-4, (label, mine, again)
    # transformers' own pipeline on model/ reads the pad token and inputs ftlab saved
    classify = pipeline("text-classification", model=str(run / "model"), device="cpu")
    texts = [row["text"] for row in own[:8]]
    assert [p["label"] for p in classify(texts, batch_size=8)] == [r["prediction"] for r in own[:8]]
    # fp32 only: int8 quantization is the same onnxruntime step for every family
    models = exported(run, tmp_path / "onnx", quantize=None)["models"]
    assert set(models) == {"pytorch", "onnx"}
    assert models["onnx"]["max_abs_logit_diff"] <= 1e-4
    assert models["onnx"]["label_agreement"] == 1.0
