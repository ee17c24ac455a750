"""On a CUDA machine (`gpu` marker; skipped elsewhere by conftest.py): bf16 mixed precision
trains and records the GPU's peak memory, and hardware=auto picks the GPU."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import tiny_run

from ftlab.records import read_json

pytestmark = pytest.mark.gpu

RUN = [
    "task=intent",
    "task.label_column=label",
    "task.max_eval_samples=40",
    "trainer.max_steps=6",
    "trainer.eval_strategy=no",
    "trainer.save_strategy=no",
    "trainer.load_best_model_at_end=false",
]


@pytest.mark.parametrize("hardware", ["gpu_bf16", "gpu_fp16", "auto"])
def test_a_gpu_run_trains_and_records_its_gpu_memory(
    hardware: str, tmp_path: Path, tiny_model_dir: Path, intent_files: dict
) -> None:
    run = tiny_run(tmp_path / "run", tiny_model_dir, intent_files, *RUN, f"hardware={hardware}")
    metrics = read_json(run / "metrics.json")
    assert metrics["train"]["peak_gpu_memory_mib"] > 0
    assert read_json(run / "rank-0.json")["device"].startswith("cuda")
    assert metrics["train"]["train_loss"] > 0
