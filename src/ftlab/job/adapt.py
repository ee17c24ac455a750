"""A run's adapt stage (adapt=tapt / dapt): masked-LM training in `<run>/adapt/` before the
fine-tuning stage starts from `<run>/adapt/model`.

The stage is a run directory of its own (config.yaml, status.json, metrics.json, model/,
checkpoints, train_log.json), so it resumes, reports and logs like any run: a resumed run
skips a completed stage and continues an unfinished one from its last checkpoint.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from ftlab.config.adapt import adapt_kind, stage_config
from ftlab.config.secrets import resolved_yaml
from ftlab.errors import FtlabError, RunInterrupted, boundary
from ftlab.job.execute import train_stage
from ftlab.job.records import write_status
from ftlab.launch.plan import LaunchPlan
from ftlab.records import (
    ADAPT_DIR,
    CONFIG_FILE,
    ENV_FILE,
    METRICS_FILE,
    MODEL_DIR,
    STATUS_FILE,
    last_checkpoint,
    read_json,
    update_json,
    write_text_atomic,
)

log = logging.getLogger("ftlab")


def stage_completed(stage_dir: Path) -> bool:
    status = stage_dir / STATUS_FILE
    return status.exists() and read_json(status).get("status") == "completed"


def run_adapt_stage(cfg: DictConfig, plan: LaunchPlan, run_dir: Path) -> None:
    """Train the adapt stage of `cfg`'s run unless it completed before (nothing to do for
    adapt=none). Every machine of a multi-machine run starts its ranks; machine 0 records."""
    kind = adapt_kind(cfg)
    stage_dir = run_dir / ADAPT_DIR
    if kind == "none":
        return
    if stage_completed(stage_dir):
        log.info("adapt=%s: stage completed earlier; fine-tuning from %s/model", kind, stage_dir)
        return
    with boundary(f"writing the adapt stage's records into {stage_dir}"):
        if not (stage_dir / CONFIG_FILE).exists():
            write_text_atomic(stage_dir / CONFIG_FILE, resolved_yaml(stage_config(cfg)))
        if plan.main_machine:
            _write_stage_env(run_dir, stage_dir, kind)
            write_status(stage_dir, "running")
    stage_cfg = OmegaConf.load(stage_dir / CONFIG_FILE)  # a resumed stage keeps its config
    resume_from = last_checkpoint(stage_dir)
    log.info(
        "adapt=%s: masked-LM stage in %s%s",
        kind,
        stage_dir,
        f", resuming from {resume_from.name}" if resume_from else "",
    )
    started = time.time()
    try:
        train_stage(stage_cfg, plan, stage_dir, resume_from)
    except RunInterrupted:
        if plan.main_machine:
            write_status(stage_dir, "interrupted", checkpoint=str(last_checkpoint(stage_dir)))
        raise
    except FtlabError as exc:
        if plan.main_machine:
            write_status(stage_dir, "failed", error=str(exc))
        raise FtlabError(f"adapt={kind} stage: {exc}") from exc
    if plan.main_machine:
        write_status(stage_dir, "completed", seconds=round(time.time() - started, 1))


def _write_stage_env(run_dir: Path, stage_dir: Path, kind: str) -> None:
    """The run's env.json (trackers name and group the stage by it), marked as its stage."""
    record = read_json(run_dir / ENV_FILE) if (run_dir / ENV_FILE).exists() else {}
    update_json(stage_dir / ENV_FILE, **record, stage=f"adapt={kind}")


def stage_summary(run_dir: Path) -> str | None:
    """One line on the run's adapt stage for the end-of-run summary (None without one)."""
    stage_dir = run_dir / ADAPT_DIR
    if not (stage_dir / METRICS_FILE).exists():
        return None
    validation = read_json(stage_dir / METRICS_FILE)["validation"]
    seconds = read_json(stage_dir / STATUS_FILE).get("seconds")
    took = f" in {seconds:.0f}s" if seconds is not None else ""
    return (
        f"adapt stage: validation perplexity {validation.get('eval_perplexity', float('nan')):.1f}"
        f"{took}; its model: {stage_dir / MODEL_DIR}"
    )
