"""`python -m ftlab.export`: ONNX and int8 files of a tiny run agree with PyTorch."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest
from helpers import assert_export_agrees, in_process, tiny_run

from ftlab.records import read_json


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, tiny_model_dir: Path, intent_files: dict) -> Path:
    return tiny_run(
        tmp_path_factory.mktemp("export-run"),
        tiny_model_dir,
        intent_files,
        "task=intent",
        "task.label_column=label",
        "trainer.max_steps=20",
        "trainer.eval_strategy=no",
        "trainer.save_strategy=no",
        "trainer.load_best_model_at_end=false",
    )


def export(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """`ftlab.export ARGS`, in this process (`helpers.in_process`)."""
    return in_process("ftlab.export", *args, cwd=cwd)


def test_onnx_and_int8_agree_with_pytorch(run_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "onnx"
    done = export(
        f"run={run_dir}", "quantize=int8", f"output={out}", "latency_runs=10", cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    report = read_json(out / "export.json")
    assert_export_agrees(report)
    models = report["models"]
    for m in models.values():
        assert 0 < m["p50_ms"] <= m["p95_ms"]
        assert m["samples_per_second"] > 0
    assert "onnx_int8" in done.stdout

    # the files load on their own (tokenizer saved beside them) and give PyTorch's logits
    # on inputs of a new batch size and length
    import onnxruntime
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(out)
    texts = ["What is the tallest mountain in the world ?", "Who", "How far is it to the moon ?"]
    batch = tokenizer(texts, padding=True, return_tensors="np")
    session = onnxruntime.InferenceSession(str(out / "model.onnx"))
    onnx_logits = session.run(["logits"], dict(batch))[0]
    model = AutoModelForSequenceClassification.from_pretrained(run_dir / "model").eval()
    with torch.no_grad():
        torch_logits = model(**{k: torch.as_tensor(v) for k, v in batch.items()}).logits.numpy()
    np.testing.assert_allclose(onnx_logits, torch_logits, atol=1e-4)


def test_a_tolerance_too_tight_is_one_line(run_dir: Path, tmp_path: Path) -> None:
    done = export(f"run={run_dir}", f"output={tmp_path}", "atol=0", "latency_runs=5", cwd=tmp_path)
    assert done.returncode == 1
    assert (
        done.stderr.strip()
        .splitlines()[-1]
        .startswith("ftlab: error: the ONNX model's logits differ from PyTorch's")
    )


def test_unknown_format(run_dir: Path, tmp_path: Path) -> None:
    done = export(f"run={run_dir}", "format=tflite", cwd=tmp_path)
    assert done.returncode == 1
    assert "format must be one of onnx" in done.stderr


def test_inputs_keep_their_names_in_a_tokenizers_order(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    """A BERT tokenizer returns token_type_ids before attention_mask; forward() takes them the
    other way round. The exported graph must still bind each name to its own input."""
    import onnxruntime
    import torch
    from transformers import AutoModelForSequenceClassification

    from ftlab.inference.onnx_export import export_onnx

    model = AutoModelForSequenceClassification.from_pretrained(tiny_model_dir, num_labels=3)
    rng = np.random.default_rng(0)
    batch = {
        "input_ids": rng.integers(5, 200, size=(2, 7)),
        "token_type_ids": np.array([[0, 0, 0, 1, 1, 1, 1]] * 2),
        "attention_mask": np.array([[1] * 7, [1] * 5 + [0] * 2]),
    }
    export_onnx(model.eval(), batch, tmp_path / "m.onnx", 17, per_token=False)
    onnx_logits = onnxruntime.InferenceSession(str(tmp_path / "m.onnx")).run(["logits"], batch)[0]
    with torch.no_grad():
        torch_logits = model(**{k: torch.as_tensor(v) for k, v in batch.items()}).logits.numpy()
    np.testing.assert_allclose(onnx_logits, torch_logits, atol=1e-4)
