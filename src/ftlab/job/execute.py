"""Run `train` for one stage: in this process, or through `accelerate launch` for many."""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig

from ftlab.launch.plan import LaunchPlan
from ftlab.records import METRICS_FILE, read_json


def train_stage(
    cfg: DictConfig, plan: LaunchPlan, run_dir: Path, resume_from: Path | None
) -> dict[str, dict[str, float]]:
    """In this process for one process in all, else through `accelerate launch` (every
    rank reads `run_dir`'s config.yaml, so it must already be written)."""
    if not plan.distributed:
        from ftlab.training.train import train

        return train(cfg, run_dir, resume_from=resume_from)
    from ftlab.launch.accelerate import run_workers

    run_workers(plan, run_dir, resume_from)
    return read_json(run_dir / METRICS_FILE)  # written by rank 0
