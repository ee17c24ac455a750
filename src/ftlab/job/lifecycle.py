"""One job's life cycle around `train`: validate, record, report, and fail cleanly."""

from __future__ import annotations

import contextlib
import logging
import signal
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from ftlab.config.secrets import resolved_yaml, secret_values
from ftlab.config.targets import build_task
from ftlab.config.validate import validate
from ftlab.data.sources import local_files
from ftlab.errors import (
    FtlabError,
    RunInterrupted,
    boundary,
    one_line_errors,
    print_error,
    record_traceback,
)
from ftlab.job import hydra_runtime
from ftlab.job.adapt import run_adapt_stage, stage_summary
from ftlab.job.execute import train_stage
from ftlab.job.pinning import pin_job
from ftlab.job.records import environment_record, scrub_secrets, write_status
from ftlab.job.resume import earlier_job
from ftlab.job.run_dirs import refuse_to_overwrite
from ftlab.launch.deepspeed import deepspeed_config
from ftlab.launch.plan import LaunchPlan, check_cuda, cpu_ranks_without_gpus, launch_plan
from ftlab.metrics.table import metrics_table
from ftlab.recipes.checks import check_recipes
from ftlab.records import (
    CONFIG_FILE,
    DEEPSPEED_FILE,
    ENV_FILE,
    LOG_FILE,
    METRICS_FILE,
    last_checkpoint,
    read_json,
    update_json,
    write_json,
    write_text_atomic,
)
from ftlab.run_lock import claim, release

log = logging.getLogger("ftlab")


def run_job(cfg: DictConfig, run_dir: Path) -> float | None:
    """Validate, train and record one job in `run_dir`; return the main validation metric.

    A FtlabError (bad config, data or environment) ends the process with one line on
    stderr, exit code 1 and status `failed`; other exceptions keep their traceback. In a
    multirun, a failed job is recorded the same way and returns None, so the sweep goes on.
    """
    sweep_job = hydra_runtime.in_multirun()
    if not _open_run_dir(cfg, run_dir, sweep_job):
        return None
    try:
        with _signals_interrupt():
            return _run_claimed(cfg, run_dir, sweep_job)
    finally:
        release(run_dir)  # a sweep's next job claims its own directory


@contextlib.contextmanager
def _signals_interrupt() -> Iterator[None]:
    """SIGTERM at any stage (start-up, data, model, scoring, saving) ends the job as Ctrl-C
    does: status `interrupted`, one line, exit 128 + signal. Training installs its own
    handlers on top (a checkpoint first: training/callbacks.py)."""
    if threading.current_thread() is not threading.main_thread():
        yield  # only the main thread may set signal handlers
        return

    def interrupt(signum: int, _frame: Any) -> None:
        raise RunInterrupted(signum)

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _run_claimed(cfg: DictConfig, run_dir: Path, sweep_job: bool) -> float | None:
    """run_job's work, in the directory this process holds."""
    pinned = None
    started = time.time()
    resume_from = None
    try:
        if sweep_job:
            # before torch loads: CUDA and its threads see the job's share
            pinned = pin_job(*hydra_runtime.sweep_job())
            if cfg.get("resume"):
                earlier = earlier_job(cfg, run_dir)
                if earlier is not None and earlier[0] == "completed":
                    return _skip_completed(cfg, run_dir)
                resume_from = earlier[1] if earlier is not None else None
        # a single run's resume= continues with its saved config; a sweep job's was composed
        resuming = bool(cfg.get("resume")) and not sweep_job
        if resuming:
            # the run's own saved config, not a fresh composition; its records stay as written
            cfg = OmegaConf.load(run_dir / CONFIG_FILE)
            resume_from = last_checkpoint(run_dir)
        check_config(cfg)
        check_cuda(cfg.hardware)  # before anything loads or launches
        plan = launch_plan(cfg.hardware)
        cpu_ranks_without_gpus(cfg, plan)
        with boundary(f"writing the run's records into {run_dir}"):
            if not resuming:
                _write_run_files(cfg, plan, run_dir)
            if sweep_job and pinned:
                update_json(run_dir / ENV_FILE, pinning=pinned)
        if not plan.main_machine:
            return _run_secondary_machine(cfg, plan, run_dir, resume_from)
        resumed = (
            {"resumed_from": str(resume_from) if resume_from else None}
            if resuming or resume_from
            else {}
        )
        with boundary(f"writing the run's records into {run_dir}"):
            write_status(run_dir, "running", **resumed)
        metrics = _train(cfg, plan, run_dir, resume_from)
    except RunInterrupted as exc:
        checkpoint = last_checkpoint(run_dir)
        write_status(
            run_dir,
            "interrupted",
            signal=exc.signum,
            checkpoint=str(checkpoint) if checkpoint else None,
            seconds=round(time.time() - started, 1),
        )
        print(
            f"ftlab: interrupted; continue with: python -m ftlab.run resume={run_dir}",
            file=sys.stderr,
        )
        sys.exit(128 + exc.signum)
    except FtlabError as exc:
        _record_failure(run_dir, str(exc), started)
        log.error("%s", exc)
        record_traceback(exc, run_dir / LOG_FILE)  # the cause in full, for the log only
        if sweep_job:  # recorded; the sweep goes on and its summary reports the failure
            print_error(f"{run_dir}: {exc}")
            return None
        print_error(str(exc))
        sys.exit(1)
    except KeyboardInterrupt:
        # Ctrl-C outside training (in training the first one saves a checkpoint instead)
        with contextlib.suppress(OSError):
            write_status(run_dir, "interrupted", seconds=round(time.time() - started, 1))
        checkpoint = last_checkpoint(run_dir)
        then = f"continue with resume={run_dir}" if checkpoint else "it saved no checkpoint"
        print_error(f"interrupted (Ctrl-C); {then}")
        sys.exit(130)
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"
        _record_failure(run_dir, error, started)
        if not sweep_job:
            raise
        # a bug, an out-of-memory or a diverging setting fails this job, not the sweep
        log.exception("job failed: %s", error)
        print_error(f"{run_dir}: {error}")
        return None
    except BaseException as exc:
        _record_failure(run_dir, f"{type(exc).__name__}: {exc}", started)
        raise
    seconds = time.time() - started
    pruned_at = metrics["train"].get("pruned_at_step")
    if pruned_at is None:
        write_status(run_dir, "completed", seconds=round(seconds, 1))
    else:  # an Optuna search stopped it early; its records are complete all the same
        write_status(run_dir, "pruned", seconds=round(seconds, 1), pruned_at_step=pruned_at)
    print(summary_table(metrics, run_dir, seconds))
    if pruned_at is not None:
        print(f"pruned by the search's pruner at step {pruned_at} (trial {cfg.trial.number})")
    stage = stage_summary(run_dir)
    if stage:
        print(stage)
    return metrics["validation"].get(f"eval_{cfg.task.main_metric}")


def _open_run_dir(cfg: DictConfig, run_dir: Path, sweep_job: bool) -> bool:
    """Make the run directory ready; a directory that holds a finished run is refused with
    one line and left exactly as it is (False in a sweep, which goes on; else exit 1)."""
    # resume= continues a run; machines 1.. share machine 0's directory and write no records
    main_machine = not cfg.hardware.get("machine_rank")
    try:
        if main_machine and not cfg.get("resume"):
            refuse_to_overwrite(run_dir)
        if main_machine:
            with boundary(f"cannot create the run directory {run_dir}", "choose another"):
                claim(run_dir)  # before anything is written there; held while this job runs
    except FtlabError as exc:
        print_error(str(exc))
        if sweep_job:
            return False
        sys.exit(1)
    with one_line_errors():
        with boundary(f"cannot create the run directory {run_dir}", "choose another output_root"):
            run_dir.mkdir(parents=True, exist_ok=True)
        scrub_secrets(run_dir / ".hydra", secret_values(cfg))
    return True


def _record_failure(run_dir: Path, error: str, started: float) -> None:
    """status.json says `failed` and why; if even that cannot be written (a full disk), the
    error line still reaches the screen."""
    try:
        write_status(run_dir, "failed", error=error, seconds=round(time.time() - started, 1))
    except OSError as exc:
        log.error("status.json could not be written (%s)", exc)


def check_config(cfg: DictConfig) -> None:
    """Every check that needs no data or model, before anything is written or loaded: keys
    and values, the task's own settings (checked as it is built), the recipes', and that
    the local data files are there (a wrong path: one line in a second, not after torch)."""
    validate(cfg)
    task = build_task(cfg.task)
    check_recipes(cfg, task)
    local_files(task)


def _skip_completed(cfg: DictConfig, run_dir: Path) -> float | None:
    """A resumed sweep's job that completed before: keep its records, return its metric."""
    print(f"ftlab: {run_dir} completed earlier with this config; skipped")
    metrics = read_json(run_dir / METRICS_FILE)
    return metrics["validation"].get(f"eval_{cfg.task.main_metric}")


def _write_run_files(cfg: DictConfig, plan: LaunchPlan, run_dir: Path) -> None:
    """What every rank reads (the resolved config, DeepSpeed's JSON), and machine 0's env.json.

    Every machine of a multi-machine run is started with the same overrides (and the same
    `hydra.run.dir`), so each writes the same config for its own ranks.
    """
    write_text_atomic(run_dir / CONFIG_FILE, resolved_yaml(cfg))
    deepspeed = deepspeed_config(cfg.hardware)
    if deepspeed is not None:
        write_json(run_dir / DEEPSPEED_FILE, deepspeed)
    if plan.main_machine:
        record = environment_record(
            world_size=plan.world_size,
            seed=cfg.trainer.get("seed"),
            overrides=hydra_runtime.overrides(),
        )
        # what the ranks' trackers name the run by (tags, group): Hydra is not there
        record.update(
            choices=hydra_runtime.choices(),
            sweep=hydra_runtime.sweep_name(),
            swept=hydra_runtime.swept_overrides(),
        )
        write_json(run_dir / ENV_FILE, record)


def _train(
    cfg: DictConfig, plan: LaunchPlan, run_dir: Path, resume_from: Path | None
) -> dict[str, dict[str, float]]:
    """The adapt stage first (adapt=tapt / dapt; skipped when it completed before), then
    the fine-tuning stage."""
    run_adapt_stage(cfg, plan, run_dir)
    return train_stage(cfg, plan, run_dir, resume_from)


def _run_secondary_machine(
    cfg: DictConfig, plan: LaunchPlan, run_dir: Path, resume_from: Path | None
) -> None:
    """Machines 1..N-1 start their ranks; rank 0 on machine 0 writes status, metrics, model."""
    from ftlab.launch.accelerate import run_workers

    run_adapt_stage(cfg, plan, run_dir)
    run_workers(plan, run_dir, resume_from)
    print(f"machine {plan.machine_rank}: its ranks finished; machine 0 holds the results")


def summary_table(metrics: dict[str, dict[str, float]], run_dir: Path, seconds: float) -> str:
    """Validation and test metrics side by side, then where the run lives."""
    splits = {"validation": "eval_", "test": "test_"}
    names = sorted(
        {k.removeprefix(prefix) for split, prefix in splits.items() for k in metrics[split]}
    )
    rows = {
        name: {split: metrics[split].get(prefix + name) for split, prefix in splits.items()}
        for name in names
        if not name.endswith(("runtime", "per_second", "preparation_time")) and name != "epoch"
    }
    table = metrics_table(rows, "metric", list(splits))
    return f"{table}\nfinished in {seconds:.0f}s; run directory: {run_dir}"
