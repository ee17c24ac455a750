"""Experiment trackers: which Trainer integrations a run reports to, and its W&B and
MLflow runs (the MLflow one: ftlab/training/mlflow_run.py).

`logger=wandb`, `logger=tensorboard`, `logger=mlflow` and lists of them each add a section
named after the transformers integration to the `logger` group; `report_to` is computed
from the sections present (ftlab/config/resolvers.py), so several logger configs merge.

ftlab starts the W&B run itself, before the Trainer exists, so that the run carries
ftlab's names (run directory, sweep, task) and the nested resolved config; transformers'
`WandbCallback` finds the active `wandb.run` and logs into it instead of making its own.
Without credentials or network the run goes offline instead of prompting or hanging.
"""

from __future__ import annotations

import importlib.util
import logging
import netrc
import os
import socket
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from omegaconf import DictConfig

from ftlab.config.fields import TRACKERS
from ftlab.config.secrets import redacted_container
from ftlab.errors import FtlabError
from ftlab.records import ENV_FILE, read_json, run_name
from ftlab.training import mlflow_run

log = logging.getLogger(__name__)

# the config groups whose choices become W&B tags
TAGGED_GROUPS = ("task", "model", "optimizer", "hardware")
_DEFAULT_BASE_URL = "https://api.wandb.ai"


def check_tracker_packages(cfg: DictConfig) -> None:
    """Fail before any loading when a selected tracker's package is not installed."""
    for name in TRACKERS:
        if name in (cfg.get("logger") or {}) and importlib.util.find_spec(name) is None:
            raise FtlabError(
                f"logger={name} needs the {name} package: pip install 'ftlab[{name}]' "
                "(make install includes it), or use logger=none"
            )


def job_context(run_dir: Path) -> dict[str, Any]:
    """What the parent recorded in env.json about the job: Hydra's group choices and the
    sweep it belongs to (every rank reads the same, however it was started)."""
    path = run_dir / ENV_FILE
    record = read_json(path) if path.exists() else {}
    return {
        "choices": record.get("choices") or {},
        "sweep": record.get("sweep"),
        "swept": record.get("swept") or [],
    }


def tags(cfg: DictConfig, choices: dict[str, str]) -> list[str]:
    """`group:choice` for the main groups, then the config's own `logger.wandb.tags`.

    Falls back to the config's values (task and model names, the optimizer) where Hydra's
    choices are not known (a config composed in-process, without @hydra.main).
    """
    fallback = {
        "task": cfg.task.get("name"),
        "model": cfg.model.get("name"),
        "optimizer": cfg.optimizer.get("optim"),
    }
    found = [
        f"{group}:{choices.get(group) or fallback.get(group)}"
        for group in TAGGED_GROUPS
        if choices.get(group) or fallback.get(group)
    ]
    return found + [str(tag) for tag in cfg.logger.wandb.get("tags") or []]


def _has_credentials(base_url: str) -> bool:
    """An API key in the environment or in ~/.netrc (or $NETRC) for the W&B host."""
    if os.environ.get("WANDB_API_KEY") or os.environ.get("WANDB_IDENTITY_TOKEN_FILE"):
        return True
    path = Path(os.environ.get("NETRC") or Path.home() / ".netrc")
    try:
        return netrc.netrc(path).authenticators(urlsplit(base_url).hostname or "") is not None
    except (OSError, netrc.NetrcParseError):
        return False


def _reachable(base_url: str, timeout: float = 3.0) -> bool:
    parts = urlsplit(base_url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        socket.create_connection((parts.hostname or "", port), timeout=timeout).close()
    except OSError:
        return False
    return True


def wandb_mode(requested: str) -> tuple[str, str | None]:
    """The W&B mode to use, and why it is offline when `auto` chose offline.

    `auto` is online only with credentials and a reachable server: wandb itself would
    prompt for a key (forever, on a terminal) or fail without them.
    """
    base_url = os.environ.get("WANDB_BASE_URL", _DEFAULT_BASE_URL)
    if requested == "online" and not _has_credentials(base_url):
        raise FtlabError(
            "logger.wandb.mode=online needs a W&B API key: run `wandb login` or set "
            "WANDB_API_KEY, or use logger.wandb.mode=auto to log offline"
        )
    if requested != "auto":
        return requested, None
    if not _has_credentials(base_url):
        return "offline", "no W&B API key"
    if not _reachable(base_url):
        return "offline", f"{urlsplit(base_url).hostname} is unreachable"
    return "online", None


@contextmanager
def wandb_run(cfg: DictConfig, run_dir: Path, main_process: bool) -> Iterator[Any]:
    """The W&B run for one job (None when W&B is off or on ranks other than 0).

    The run is finished when the block ends, failed or not, so each job of a multirun
    gets its own finished run before the next job starts.
    """
    section = cfg.logger.get("wandb")
    if section is None or not main_process:
        yield None
        return
    mode, why_offline = wandb_mode(str(section.get("mode") or "auto"))
    context = job_context(run_dir)
    import wandb

    run = wandb.init(
        project=section.get("project"),
        entity=section.get("entity"),
        name=run_name(run_dir, context["swept"]),
        group=section.get("group") or context["sweep"],
        job_type=cfg.task.get("name"),
        tags=tags(cfg, context["choices"]),
        config=redacted_container(cfg),
        dir=str(run_dir),
        mode=mode,
        reinit="finish_previous",
    )
    if why_offline:
        log.warning(
            "W&B is offline (%s): the run is saved in %s; upload it later with `wandb sync %s`",
            why_offline,
            run.settings.sync_dir,
            run.settings.sync_dir,
        )
    try:
        yield run
    except BaseException:
        run.finish(exit_code=1)
        raise
    run.finish()


@dataclass
class Trackers:
    """A job's W&B and MLflow runs (None where off, and on ranks other than 0)."""

    wandb: Any
    mlflow: Any
    log_artifacts: bool

    def final(self, metrics: dict[str, dict[str, float]], step: int) -> None:
        write_summary(self.wandb, metrics)
        mlflow_run.log_final(self.mlflow, metrics, step)

    def records(self, run_dir: Path, examples: list[dict[str, str]]) -> None:
        """The run's record files (MLflow), and `examples` as a table in both (test replies
        beside their references: `test/examples` in W&B, examples.json in MLflow)."""
        mlflow_run.log_records(self.mlflow, run_dir, self.log_artifacts)
        if not examples:
            return
        columns = list(examples[0])
        if self.wandb is not None:
            import wandb

            table = wandb.Table(columns=columns, data=[list(e.values()) for e in examples])
            self.wandb.log({"test/examples": table})
        if self.mlflow is not None:
            import mlflow

            table = {c: [e[c] for e in examples] for c in columns}
            mlflow.log_table(table, artifact_file="examples.json")


@contextmanager
def tracked_run(cfg: DictConfig, run_dir: Path, main_process: bool) -> Iterator[Trackers]:
    """Both runs open before the Trainer is built (its callbacks log into them), both
    finished when the block ends."""
    with ExitStack() as stack:
        wandb = stack.enter_context(wandb_run(cfg, run_dir, main_process))
        context = job_context(run_dir)
        mlflow = stack.enter_context(mlflow_run.mlflow_run(cfg, run_dir, main_process, context))
        section = (cfg.get("logger") or {}).get("mlflow") or {}
        yield Trackers(wandb, mlflow, bool(section.get("log_artifacts", True)))


def write_summary(run: Any, metrics: dict[str, dict[str, float]]) -> None:
    """Final validation and test metrics into the run summary (`eval/accuracy`, `test/...`)."""
    if run is None:
        return
    for prefix, split in (("eval_", "validation"), ("test_", "test")):
        run.summary.update(
            {
                f"{prefix[:-1]}/{name.removeprefix(prefix)}": value
                for name, value in metrics[split].items()
                if name.startswith(prefix) and isinstance(value, (int, float))
            }
        )
    pruned = metrics["train"].get("pruned_at_step")
    if pruned is not None:  # an Optuna search stopped it early (training/trial.py)
        run.summary.update({"status": "pruned", "pruned_at_step": pruned})
