"""The `adapt` group: masked-LM training of the model before fine-tuning (task- or
domain-adaptive pretraining), as the config of a stage of its own.

`stage_config(cfg)` turns a run's config into the config of its adapt stage: the same
model, hardware, logger and optimizer; `task=mlm` on the task's own texts (tapt) or on the
domain files (dapt); the `adapt.*` keys for epochs, steps, learning rate and masking.
"""

from __future__ import annotations

import logging
from typing import Any

from omegaconf import DictConfig, OmegaConf

from ftlab.config.targets import build_task, task_config
from ftlab.config.types import check_value
from ftlab.errors import FtlabError, did_you_mean

log = logging.getLogger(__name__)

KINDS = ("none", "tapt", "dapt")
# the keys of conf/adapt/tapt.yaml and the type of each
ADAPT_KEYS: dict[str, Any] = {
    "kind": str,
    "train_file": str | None,
    "validation_file": str | None,
    "text_column": str,
    "num_train_epochs": int | float,
    "max_steps": int,
    "learning_rate": float,
    "per_device_train_batch_size": int,
    "max_seq_length": int,
    "mlm_probability": float,
    "whole_word_mask": bool,
    "line_by_line": bool,
    "max_train_samples": int | None,
}
# adapt.* keys that set the stage's masked-LM task
_TASK_KEYS = ("max_seq_length", "mlm_probability", "whole_word_mask", "line_by_line")
_DAPT_KEYS = ("train_file", "validation_file", "text_column")
# fine-tuning recipes that do not carry over to the masked-LM stage
_FINE_TUNING_ONLY = {
    "model": ("freeze", "freeze_layers", "head"),  # the stage's head is the MLM head
    "optimizer": ("layerwise_lr_decay", "head_learning_rate"),
    "trainer": ("early_stopping_patience", "adversarial"),
    "distill": ("teacher",),  # a teacher of the fine-tuned task, not of masked-LM training
}


def adapt_kind(cfg: DictConfig) -> str:
    """none, tapt or dapt (a config composed before the group existed: none)."""
    return str((cfg.get("adapt") or {}).get("kind") or "none")


def check_adapt(cfg: DictConfig) -> None:
    """The `adapt.*` keys, before anything loads."""
    section = cfg.get("adapt") or {}
    for key in section:
        if key not in ADAPT_KEYS:
            raise FtlabError(f"unknown config key 'adapt.{key}': {did_you_mean(key, ADAPT_KEYS)}")
        check_value(f"adapt.{key}", section[key], ADAPT_KEYS[key])
    kind = adapt_kind(cfg)
    if kind not in KINDS:
        raise FtlabError(f"adapt.kind must be one of {', '.join(KINDS)}; got '{kind}'")
    if kind == "none":
        extra = [key for key in section if key != "kind"]
        if extra:  # a sweep `adapt=none,tapt adapt.max_steps=500` sets them on both jobs
            log.warning(
                "adapt.%s is set but no adapt stage is chosen (adapt=none): no stage runs; "
                "add adapt=tapt (the task's own texts) or adapt=dapt (domain text)",
                extra[0],
            )
        return
    if cfg.task.get("_target_") == task_config("mlm").get("_target_"):
        raise FtlabError(
            f"task={cfg.task.name} is masked-LM training itself; adapt={kind} is for the "
            "tasks fine-tuned after it: drop adapt="
        )
    if kind == "dapt" and not section.get("train_file"):
        raise FtlabError(
            "adapt=dapt needs the domain text: add adapt.train_file=PATH (.txt one document "
            "a line, or csv / jsonl / parquet with adapt.text_column)"
        )
    if kind == "tapt" and section.get("train_file"):
        raise FtlabError(
            "adapt=tapt learns from the task's own training texts; for domain text use "
            "adapt=dapt adapt.train_file=..."
        )
    if not 0 < float(section.mlm_probability) < 1:
        raise FtlabError(
            f"adapt.mlm_probability must be between 0 and 1, got {section.mlm_probability!r}"
        )
    build_task(stage_config(cfg).task)  # the masked-LM task checks its own settings


def stage_config(cfg: DictConfig) -> DictConfig:
    """The resolved config of the adapt stage of the run `cfg` describes."""
    values = OmegaConf.to_container(cfg, resolve=True)
    adapt, kind, run_task = values["adapt"], adapt_kind(cfg), values["task"]["name"]
    task = OmegaConf.to_container(task_config("mlm"), resolve=True)
    task.update(
        name=f"{run_task}-{kind}",
        builtin_dataset=None,
        shuffle_seed=values["task"].get("shuffle_seed", task["shuffle_seed"]),
        max_train_samples=adapt["max_train_samples"],
        **{key: adapt[key] for key in _TASK_KEYS},
    )
    if kind == "tapt":
        task["text_from"] = values["task"]  # this run's task as configured, not its preset
    else:
        task.update({key: adapt[key] for key in _DAPT_KEYS})
    values.update(task=task, adapt={"kind": "none"}, peft={"method": "none"})
    for group, keys in _FINE_TUNING_ONLY.items():
        for key in keys:
            if key in values.get(group, {}):
                values[group][key] = None
    values["optimizer"]["learning_rate"] = adapt["learning_rate"]
    tracker = values.get("logger", {}).get("mlflow")
    if isinstance(tracker, dict):  # the stage's MLflow run goes where the run's goes
        tracker["experiment"] = tracker.get("experiment") or run_task
    values["trainer"].update(
        num_train_epochs=adapt["num_train_epochs"],
        max_steps=adapt["max_steps"],
        per_device_train_batch_size=adapt["per_device_train_batch_size"],
        metric_for_best_model="loss",
        greater_is_better=False,
    )
    return OmegaConf.create(values)
