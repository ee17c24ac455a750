"""On a CUDA machine (`gpu` marker; skipped elsewhere by conftest.py): bf16 and fp16 mixed
precision train and record the GPU's peak memory, hardware=auto picks the GPU, and a local
parallel sweep gives each job running at once its own GPU."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from helpers import assert_same_test_metrics, predicted_again, tiny_run, tiny_sweep

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


def test_parallel_sweep_jobs_each_get_their_own_gpu(
    tmp_path: Path, tiny_model_dir: Path, intent_files: dict
) -> None:
    """A local parallel sweep (submitit_local) runs as many jobs at once as there are GPUs
    (up to 2): each job's CUDA_VISIBLE_DEVICES is its own GPU, recorded as its pinning, and
    it trains there. With one GPU, the one job at a time gets it."""
    import torch

    jobs = min(torch.cuda.device_count(), 2)
    seeds = ",".join(str(seed) for seed in range(1, jobs + 1))
    done, sweep = tiny_sweep(
        tmp_path,
        tiny_model_dir,
        intent_files,
        "hardware=auto",
        "hydra/launcher=submitit_local",
        f"hydra.sweeper.max_batch_size={jobs}",
        f"trainer.seed={seeds}",
    )
    assert done.returncode == 0, done.stderr[-3000:]
    pins = [read_json(sweep / str(job) / "env.json")["pinning"] for job in range(jobs)]
    assert [p["slot"] for p in pins] == list(range(jobs))
    gpus = [gpu for pin in pins for gpu in pin["gpus"]]
    assert len(gpus) == jobs == len(set(gpus))  # one each, none shared
    for job in range(jobs):
        assert read_json(sweep / str(job) / "rank-0.json")["device"].startswith("cuda")


@pytest.mark.parametrize("peft", ["lora", "qlora"])
def test_a_decoder_trains_an_adapter_in_bf16_and_reloads_as_trained(
    peft: str, tmp_path: Path, tiny_family: Callable[[str], Path], intent_files: dict
) -> None:
    """A Llama-style decoder (no pad token) as a classifier with LoRA or QLoRA in bf16 on the
    GPU: it trains there, and ftlab.predict on the run reproduces its test scores."""
    run = tiny_run(
        tmp_path / "run",
        tiny_family("llama"),
        intent_files,
        *RUN,
        "hardware=gpu_bf16",
        f"peft={peft}",
    )
    assert read_json(run / "rank-0.json")["device"].startswith("cuda")
    reloaded, _ = predicted_again(run, tmp_path / "predicted.jsonl")
    # bf16 kernels may order a sum differently between the two passes
    assert_same_test_metrics(run, reloaded, tolerance=0.02)
