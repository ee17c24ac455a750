"""Checks of the composed config that need no data, model or other ftlab layer: unknown
keys (with the closest valid one), keys set twice, secrets on the command line, values outside
the choices a TrainingArguments field declares, and values TrainingArguments would only
reject later or not at all.

Nothing here imports torch or transformers, so composing and printing a config stays fast.
The task checks its own keys as it is built (ftlab.config.targets.build_task), and the
recipes theirs (ftlab.recipes.checks).
"""

from __future__ import annotations

from typing import Any

from omegaconf import DictConfig, OmegaConf

from ftlab.config.adapt import check_adapt
from ftlab.config.compose import config_error
from ftlab.config.fields import FTLAB_KEYS, TRAINING_ARGS_GROUPS, check_choice, check_key
from ftlab.config.secrets import SECRET_ENV_VARS, is_secret_key
from ftlab.config.targets import task_class, task_fields
from ftlab.config.types import check_value
from ftlab.errors import FtlabError, did_you_mean

# the `model` group's keys and the type of each
MODEL_KEYS: dict[str, Any] = {
    "name": str,
    "name_or_path": str,
    "revision": str | None,
    "trust_remote_code": bool,
    "ignore_mismatched_sizes": bool,
    "use_safetensors": bool,
    # a tokenizer without a pad token (GPT-2, Llama) pads with this: eos (default), unk,
    # bos, or a token of the vocabulary (ftlab/models/family.py)
    "pad_token": str | None,
    # the Hub asks for access (Llama): the offline and no-token errors say how to get it
    "gated": bool,
    # what stays fixed in training (ftlab/recipes/freezing.py)
    "freeze": str | None,
    "freeze_layers": int | None,
    # fields of the model's own config (`model.config.hidden_dropout_prob=0.2`), checked
    # against its config class once that is known (ftlab/training/models.py)
    "config": dict | None,
    # the head on the encoder, for the kinds that offer a choice (token classification:
    # softmax or crf); the task's own check names the choices
    "head": str | None,
}


def resolve_interpolations(cfg: DictConfig) -> None:
    """Every `${...}` of the config resolves, or one line naming the key and what is wrong
    (a missing key, an unset environment variable ...), not OmegaConf's report."""
    from omegaconf.errors import OmegaConfBaseException

    try:
        OmegaConf.to_container(cfg, resolve=True)
    except OmegaConfBaseException as exc:
        raise config_error(exc) from None


# the top-level keys of a composed config: the groups of conf/config.yaml and its own keys
TOP_LEVEL_KEYS = frozenset(
    {
        "task",
        "model",
        "optimizer",
        "scheduler",
        "hardware",
        "trainer",
        "logger",
        "peft",
        "adapt",
        "distill",
        "output_root",
        "resume",
        "trial",
    }
)


def validate(cfg: DictConfig) -> None:
    """Fail with a one-line error on unknown keys or impossible values, before any loading."""
    for key in cfg:
        if key not in TOP_LEVEL_KEYS:
            raise FtlabError(f"unknown config key '{key}': {did_you_mean(key, TOP_LEVEL_KEYS)}")
    resolve_interpolations(cfg)
    seen: dict[str, str] = {}
    for group in TRAINING_ARGS_GROUPS:
        for key in cfg.get(group) or {}:
            check_key(group, key)
            check_choice(group, key, cfg[group][key])
            if key in seen and key not in FTLAB_KEYS[group]:
                raise FtlabError(
                    f"'{key}' is set in both '{seen[key]}' and '{group}'; keep one of them"
                )
            seen[key] = group
            if is_secret_key(key) and cfg[group][key] is not None:
                raise FtlabError(
                    f"{group}.{key} is a secret and must not live in a config or command line; "
                    f"set it in the environment instead ({', '.join(SECRET_ENV_VARS)})"
                )
    fields = task_fields(cfg.task)
    for key in cfg.task:
        if key != "_target_" and key not in fields:
            raise FtlabError(f"unknown config key 'task.{key}': {did_you_mean(key, fields)}")
    for key in cfg.model:
        if key not in MODEL_KEYS:
            raise FtlabError(f"unknown config key 'model.{key}': {did_you_mean(key, MODEL_KEYS)}")
        check_value(f"model.{key}", cfg.model[key], MODEL_KEYS[key])
    _check_head(cfg)
    _check_positive(cfg)
    check_adapt(cfg)
    seed = cfg.trainer.get("seed")
    check_value("trainer.seed", seed, int)


def _check_head(cfg: DictConfig) -> None:
    """`model.head` on a kind whose yaml does not pass it to the task (no choice of head)."""
    head = cfg.model.get("head")
    if head is None or "head" in cfg.task:
        return  # the task checks it as it is built
    heads = task_class(cfg.task.get("_target_")).heads
    if head not in heads:
        raise FtlabError(
            f"model.head={head}: task '{cfg.task.get('name')}' has only the head "
            f"{', '.join(heads)}; model.head=crf is for token-classification (NER) tasks"
        )


def _check_positive(cfg: DictConfig) -> None:
    positive = {
        "optimizer.learning_rate": cfg.optimizer.get("learning_rate"),
        "trainer.per_device_train_batch_size": cfg.trainer.get("per_device_train_batch_size"),
        "trainer.per_device_eval_batch_size": cfg.trainer.get("per_device_eval_batch_size"),
        "trainer.gradient_accumulation_steps": cfg.trainer.get("gradient_accumulation_steps"),
    }
    for key, value in positive.items():
        if value is not None and not (isinstance(value, (int, float)) and value > 0):
            raise FtlabError(f"{key} must be a number above 0, got {value!r}")
    _check_trains(cfg.trainer)


def _check_trains(trainer: DictConfig) -> None:
    """A run that trains takes at least one step: zero epochs (or max_steps=0) would score
    the model as loaded and record it as trained."""
    if not trainer.get("do_train", True):
        return
    steps, epochs = trainer.get("max_steps", -1), trainer.get("num_train_epochs", 3)
    numbers = all(isinstance(v, (int, float)) for v in (steps, epochs))
    if numbers and (steps == 0 or (steps < 0 and epochs <= 0)):
        what = "trainer.max_steps=0" if steps == 0 else f"trainer.num_train_epochs={epochs}"
        raise FtlabError(
            f"{what} trains no step; set trainer.num_train_epochs or trainer.max_steps above "
            "0, or trainer.do_train=false to evaluate the model as loaded"
        )
