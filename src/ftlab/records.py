"""A run directory's file names, and writing them atomically (a crash never leaves a
half-written record). The bottom layer: everything that reads or writes a run uses it."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

STATUS_FILE = "status.json"
# a run that ended with all its records: trained to the end, or stopped early by an
# Optuna search's pruner (training/trial.py)
FINISHED_STATES = ("completed", "pruned")
METRICS_FILE = "metrics.json"
ENV_FILE = "env.json"
CONFIG_FILE = "config.yaml"
TRAIN_LOG_FILE = "train_log.json"
TIMINGS_FILE = "timings.json"  # seconds per phase of the run (training/timing.py)
LOG_FILE = "run.log"  # Hydra's job log (the job is named after the ftlab.run module)
RANK_FILE = "rank-{rank}.json"
PARAMS_FILE = "params.json"
DEEPSPEED_FILE = "deepspeed.json"
MODEL_DIR = "model"
DECISION_FILE = "decision.json"  # inside model/: what the task chose on validation (thresholds)
ADAPT_DIR = "adapt"  # a run's masked-LM stage before fine-tuning (adapt=tapt / dapt)
BASE_CONFIG = "base_config"  # inside model/ of a peft run: the base model's config, labels


def write_text_atomic(path: Path, text: str) -> None:
    """Write via a temporary file and a rename: a crash never leaves a half-written file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json(path: Path, data: Any) -> None:
    write_text_atomic(path, json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")


def read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def update_json(path: Path, **fields: Any) -> None:
    """Add or replace top-level fields of a JSON record (created when missing)."""
    record = read_json(path) if path.exists() else {}
    record.update(fields)
    write_json(path, record)


def last_checkpoint(run_dir: Path) -> Path | None:
    """The newest `checkpoint-<step>` folder of a run, by step."""
    checkpoints = [p for p in run_dir.glob("checkpoint-*") if p.name.split("-")[-1].isdigit()]
    return max(checkpoints, key=lambda p: int(p.name.split("-")[-1]), default=None)


def run_name(run_dir: Path, swept: list[str] | None = None) -> str:
    """How trackers name a run: its directory, and `<run>-adapt` for a run's adapt stage;
    a sweep job (a numbered folder) adds its values of what the sweep varies (`swept`)."""
    name = f"{run_dir.parent.name}-{ADAPT_DIR}" if run_dir.name == ADAPT_DIR else run_dir.name
    values = " ".join(value.lstrip("+") for value in swept or [])
    return f"{name} {values}" if values else name
