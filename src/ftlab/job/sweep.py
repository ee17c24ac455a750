"""A Hydra multirun (`python -m ftlab.run -m ...`): failure-tolerant jobs and one summary.

Each job of a sweep lives in `<sweep dir>/<job number>/` with the same records as a single
run. The summary is built from those records, not from Hydra's in-memory job returns,
so it is the same whichever launcher ran the jobs (in this process, local subprocesses or
a cluster) and whether a job finished in this invocation or in an earlier, resumed one.
"""

from __future__ import annotations

import logging
import math
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import yaml
from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from ftlab.errors import print_error
from ftlab.records import (
    CONFIG_FILE,
    FINISHED_STATES,
    METRICS_FILE,
    read_json,
    write_json,
    write_text_atomic,
)
from ftlab.run_lock import run_status

log = logging.getLogger("ftlab")

SUMMARY_MD = "summary.md"
SUMMARY_JSON = "summary.json"
BEST_FILE = "best_trial.yaml"
OPTUNA_RESULTS = "optimization_results.yaml"  # written by the Optuna sweeper (job/search.py)
# the overrides the Optuna sweeper adds to name each job's trial (bookkeeping, not a setting)
TRIAL_PREFIX = "trial."


@dataclass
class JobRecord:
    """One job of a sweep, as its directory recorded it."""

    job: int
    overrides: list[str]
    status: str
    metric: str | None
    value: float | None
    error: str | None
    run_dir: str
    maximize: bool = True  # the job's trainer.greater_is_better (the task's metric direction)
    trial: int | None = None  # its Optuna trial's number, in an Optuna search


def _clean(override: str) -> str:
    """`++trainer.seed=1` -> `trainer.seed=1`: ftlab's own rewrite is noise in a table."""
    return override.lstrip("+")


def read_job(job_dir: Path) -> JobRecord:
    """The job's status, overrides and main validation metric (None when it has none)."""
    overrides_file = job_dir / ".hydra" / "overrides.yaml"
    overrides = yaml.safe_load(overrides_file.read_text()) if overrides_file.exists() else []
    status: dict[str, Any] = run_status(job_dir) or {}  # a job killed outright: interrupted
    metric = value = trial = None
    maximize = True
    if (job_dir / CONFIG_FILE).exists():
        config = OmegaConf.load(job_dir / CONFIG_FILE)
        metric = config.task.get("main_metric")
        maximize = bool(config.trainer.get("greater_is_better", True))
        trial = (config.get("trial") or {}).get("number")
    if metric and (job_dir / METRICS_FILE).exists():
        value = read_json(job_dir / METRICS_FILE).get("validation", {}).get(f"eval_{metric}")
    return JobRecord(
        job=int(job_dir.name),
        overrides=[_clean(o) for o in overrides or [] if not _clean(o).startswith(TRIAL_PREFIX)],
        # a job killed outright (or never started) has no final status
        status=status.get("status", "not started"),
        metric=metric,
        value=value,
        error=status.get("error"),
        run_dir=str(job_dir),
        maximize=maximize,
        trial=trial,
    )


def sweep_jobs(sweep_dir: Path) -> list[JobRecord]:
    """Every job directory (named by its job number) under the sweep directory, in order."""
    dirs = [p for p in sweep_dir.iterdir() if p.is_dir() and p.name.isdigit()]
    return [read_job(p) for p in sorted(dirs, key=lambda p: int(p.name))]


def _varying(jobs: list[JobRecord]) -> list[list[str]]:
    """Each job's overrides, less those every job shares (they name no difference)."""
    shared = set.intersection(*(set(j.overrides) for j in jobs)) if len(jobs) > 1 else set()
    return [[o for o in j.overrides if o not in shared] for j in jobs]


def summary_markdown(jobs: list[JobRecord]) -> str:
    """A markdown table: job, the overrides that differ, status, main validation metric."""
    metric = next((j.metric for j in jobs if j.metric), "metric")
    lines = [
        f"| job | overrides | status | validation {metric} |",
        "|---:|---|---|---:|",
    ]
    for job, varying in zip(jobs, _varying(jobs), strict=True):
        value = f"{job.value:.4f}" if job.value is not None else "-"
        status = job.status if not job.error else f"{job.status}: {job.error}"
        status = status.replace("|", "/").replace("\n", " ")
        name = f"{job.job} (trial {job.trial})" if job.trial is not None else str(job.job)
        lines.append(f"| {name} | {' '.join(varying) or '-'} | {status} | {value} |")
    return "\n".join(lines) + "\n"


def best_job(jobs: list[JobRecord]) -> JobRecord | None:
    """The completed job with the best main metric, in the direction its task gives."""
    scored = [j for j in jobs if j.status == "completed" and j.value is not None]
    if not scored:
        return None
    return (max if scored[0].maximize else min)(scored, key=lambda j: j.value)


def write_summary(sweep_dir: Path) -> list[JobRecord]:
    """Write summary.md, summary.json and best_trial.yaml into the sweep directory."""
    jobs = sweep_jobs(sweep_dir)
    best = best_job(jobs)
    text = summary_markdown(jobs)
    failed = [j.job for j in jobs if j.status not in FINISHED_STATES]
    write_text_atomic(sweep_dir / SUMMARY_MD, text)
    write_json(
        sweep_dir / SUMMARY_JSON,
        {
            "jobs": [asdict(j) for j in jobs],
            "failed": failed,
            "best": best.job if best else None,
        },
    )
    if best is not None:
        # the best job with its full resolved config, ready to rerun or read
        record = {
            "job": best.job,
            "metric": f"eval_{best.metric}",
            "value": best.value,
            "overrides": best.overrides,
            "run_dir": best.run_dir,
            "config": yaml.safe_load((Path(best.run_dir) / CONFIG_FILE).read_text()),
        }
        write_text_atomic(sweep_dir / BEST_FILE, yaml.safe_dump(record, sort_keys=False))
    return jobs


class SweepSummary(Callback):
    """Registered in conf/config.yaml under `hydra.callbacks`; acts in multiruns only."""

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        from ftlab.job.pinning import record_machine_devices

        record_machine_devices()  # before the launcher starts job processes that inherit it

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        """Print and write the summary; exit 1 when any job did not complete."""
        sweep_dir = Path(config.hydra.sweep.dir)
        if not sweep_dir.is_dir():
            return
        jobs = write_summary(sweep_dir)
        failed = [j for j in jobs if j.status not in FINISHED_STATES]
        pruned = sum(j.status == "pruned" for j in jobs)
        finished = len(jobs) - len(failed) - pruned
        print(
            f"\nsweep {sweep_dir}: {finished} of {len(jobs)} jobs completed"
            + (f", {pruned} pruned" if pruned else "")
        )
        print(summary_markdown(jobs), end="")
        best = best_job(jobs)
        if best is not None and best.value is not None and not math.isnan(best.value):
            print(f"best: job {best.job} (eval_{best.metric} {best.value:.4f}); see {BEST_FILE}")
        if failed:
            print_error(
                f"{len(failed)} of {len(jobs)} jobs failed: "
                f"{', '.join(str(j.job) for j in failed)} (errors in {SUMMARY_MD})"
            )
            sys.exit(1)
