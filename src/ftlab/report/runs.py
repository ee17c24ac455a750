"""Find the runs under a folder and read what each one recorded into one table row."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from ftlab.config.flatten import flatten
from ftlab.records import CONFIG_FILE, ENV_FILE, METRICS_FILE, STATUS_FILE, TRAIN_LOG_FILE
from ftlab.run_lock import run_status

# Config keys that never change a result: where a run is written, how it is displayed, and
# `resume` (set in the jobs a resumed sweep ran, not in those it skipped), an Optuna job's
# `trial` (which study it reports to). The seed is left out too: it is what the
# leaderboard aggregates over.
NOT_A_SETTING = (
    "output_root",
    "resume",
    "trial.",
    "trainer.seed",
    "trainer.disable_tqdm",
    "logger.",
)
# command-line keys that are no setting of the run at all
NOT_AN_OVERRIDE = ("hydra.", "hydra/", "logger")


@dataclass
class Run:
    """One run directory: its status, flattened resolved config, metrics and log history."""

    path: Path
    status: str
    config: dict[str, Any]
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)
    log_history: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None
    # what the user changed: the command line's `key=value` overrides (a sweep job's own
    # values); None where unknown (a run composed without Hydra's command line)
    overrides: dict[str, str] | None = None

    @property
    def main_metric(self) -> str:
        return str(self.config.get("task.main_metric", "accuracy"))

    @property
    def maximize(self) -> bool:
        """The main metric's direction, as the run's task gave it (trainer.greater_is_better)."""
        return bool(self.config.get("trainer.greater_is_better", True))


def _flatten(node: Any) -> dict[str, Any]:
    """Dotted keys; lists become strings so they can be compared and grouped."""
    return {k: str(v) if isinstance(v, list) else v for k, v in flatten(node).items()}


def _read_json(path: Path, default: Any) -> Any:
    """A run that is still running or died early may lack a file (or have a torn one)."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return default


def find_runs(root: Path) -> list[Run]:
    """Every directory under `root` that holds a run's config.yaml, in path order."""
    runs = []
    for config_path in sorted(root.rglob(CONFIG_FILE)):
        run_dir = config_path.parent
        if config_path.parent.name == ".hydra" or not (run_dir / STATUS_FILE).exists():
            continue  # Hydra's own copy of the unresolved config, or not an ftlab run
        status = run_status(run_dir) or {}  # a `running` run whose process is gone: interrupted
        runs.append(
            Run(
                path=run_dir,
                status=str(status.get("status", "unknown")),
                error=status.get("error"),
                config=_flatten(yaml.safe_load(config_path.read_text(encoding="utf-8")) or {}),
                metrics=_read_json(run_dir / METRICS_FILE, {}),
                log_history=_read_json(run_dir / TRAIN_LOG_FILE, []),
                overrides=user_overrides(_read_json(run_dir / ENV_FILE, {})),
            )
        )
    return runs


def user_overrides(env: dict[str, Any]) -> dict[str, str] | None:
    """`key -> value` of the run's command-line overrides (`++` and `+` dropped), without
    the keys that change no result; None when Hydra's command line was not recorded."""
    if not env.get("choices"):  # composed in-process: there was no command line
        return None
    found = {}
    for override in env.get("overrides") or []:
        key, sep, value = str(override).lstrip("+").partition("=")
        if sep and not key.startswith(NOT_A_SETTING + NOT_AN_OVERRIDE):
            found[key] = value
    return found


def _value(text: str) -> Any:
    """An override's value as a number where it is one (so a sweep can be plotted)."""
    try:
        return float(text)
    except ValueError:
        return text


def varying_overrides(runs: list[Run]) -> list[str]:
    """The override keys whose values differ between runs (set in some, not in others
    counts): what the user changed from one run to the next."""
    keys = sorted({key for run in runs for key in run.overrides or {}})
    return [key for key in keys if len({(run.overrides or {}).get(key) for run in runs}) > 1]


def varying_settings(runs: list[Run]) -> list[str]:
    """The config keys whose values differ between runs: what tells configurations apart."""
    keys = sorted({key for run in runs for key in run.config})
    return [
        key
        for key in keys
        if not key.startswith(NOT_A_SETTING)
        and len({repr(run.config.get(key)) for run in runs}) > 1
    ]


def runs_table(runs: list[Run]) -> pd.DataFrame:
    """One row per run: task, model, the settings that tell it apart, seed, main metric.

    The settings are what the user changed between the runs (their command-line overrides,
    a sweep's parameters), not every resolved key that differs (hardware defaults, paths);
    compared within each (task, model) pair, so two tasks' keys do not clutter each name.
    """
    groups: dict[tuple[Any, Any], list[Run]] = {}
    for run in runs:
        groups.setdefault((run.config.get("task.name"), run.config.get("model.name")), []).append(
            run
        )
    rows = []
    for (task, model), members in groups.items():
        # the user's overrides where every run recorded them, else the resolved config
        by_override = all(run.overrides is not None for run in members)
        settings = varying_overrides(members) if by_override else varying_settings(members)
        for run in members:
            metric = run.main_metric
            shown = (
                {key: run.overrides[key] for key in settings if key in run.overrides}
                if by_override
                else {key: run.config.get(key) for key in settings}
            )
            values = {key: _value(v) if by_override else v for key, v in shown.items()}
            rows.append(
                {
                    "run": str(run.path),
                    "task": task,
                    "model": model,
                    "config": " ".join(f"{key}={value}" for key, value in shown.items()),
                    **values,
                    "seed": run.config.get("trainer.seed"),
                    "metric": metric,
                    "maximize": run.maximize,
                    "validation": run.metrics.get("validation", {}).get(f"eval_{metric}"),
                    "test": run.metrics.get("test", {}).get(f"test_{metric}"),
                }
            )
    return pd.DataFrame(rows)
