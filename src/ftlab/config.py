"""The composed config: resolvers, validation, and the pieces handed to Trainer.

Nothing here imports torch or transformers, so composing and printing a config stays fast.
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import os
import re
import secrets
from pathlib import Path
from typing import Any

from hydra.utils import get_class
from omegaconf import DictConfig, OmegaConf

from ftlab.errors import FtlabError
from ftlab.hardware import deepspeed_path
from ftlab.training_fields import FTLAB_KEYS, TRAINING_ARGS_GROUPS, check_key

MODEL_KEYS = frozenset(
    {
        "name",
        "name_or_path",
        "revision",
        "trust_remote_code",
        "ignore_mismatched_sizes",
        "use_safetensors",
        # what stays fixed in training (ftlab/recipes/freezing.py)
        "freeze",
        "freeze_layers",
    }
)
_SECRET_KEY = re.compile(r"(^|_)(token|api_key|apikey|secret|password)$", re.IGNORECASE)
REDACTED = "<redacted>"


def register_resolvers() -> None:
    """`${run_id:}`: a random id, the same for every use within one composed config.

    `${report_to:}`: the trackers whose sections the logger group holds (ftlab.tracking).
    """
    if not OmegaConf.has_resolver("run_id"):
        OmegaConf.register_new_resolver("run_id", lambda: secrets.token_hex(3), use_cache=True)
    if not OmegaConf.has_resolver("report_to"):
        from ftlab.tracking import report_to

        OmegaConf.register_new_resolver("report_to", report_to)


def did_you_mean(key: str, valid: set[str] | frozenset[str]) -> str:
    """'did you mean ...?' for a misspelt key, else the list of valid keys."""
    close = difflib.get_close_matches(key, sorted(valid), n=1, cutoff=0.6)
    return f"did you mean '{close[0]}'?" if close else f"valid keys: {', '.join(sorted(valid))}"


def task_fields(cfg_task: DictConfig) -> set[str]:
    """The keys the task's `_target_` class accepts (its dataclass fields)."""
    target = cfg_task.get("_target_")
    if not target:
        raise FtlabError("the task config has no _target_; a task yaml names its class")
    try:
        cls = get_class(target)
    except Exception as exc:
        raise FtlabError(f"task class '{target}' cannot be imported: {exc}") from exc
    return {f.name for f in dataclasses.fields(cls)}


def validate(cfg: DictConfig) -> None:
    """Fail with a one-line error on unknown keys or impossible values, before any loading."""
    seen: dict[str, str] = {}
    for group in TRAINING_ARGS_GROUPS:
        for key in cfg.get(group) or {}:
            check_key(group, key)
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
    _check_values(cfg)
    _check_recipes(cfg)


def _check_peft(cfg: DictConfig) -> None:
    """`peft.*` keys: the method's peft config fields, and what the method allows."""
    from ftlab.recipes import adapters

    peft_cfg = cfg.get("peft") or {}
    method = adapters.method(peft_cfg)
    if method == "none":
        extra = [k for k in peft_cfg if k != "method"]
        if extra:
            raise FtlabError(
                f"peft.{extra[0]} is set but no peft method is chosen; add peft=lora "
                f"(or {', '.join(adapters.CONFIG_CLASSES)})"
            )
    else:
        if method not in adapters.CONFIG_CLASSES:
            raise FtlabError(
                f"peft.method must be one of none, {', '.join(adapters.CONFIG_CLASSES)}; "
                f"got '{method}'"
            )
        fields = adapters.config_fields(method)  # imports peft: only when a method is chosen
        for key in peft_cfg:
            if key not in fields:
                raise FtlabError(f"unknown config key 'peft.{key}': {did_you_mean(key, fields)}")
        if peft_cfg.get("merge") and method in adapters.PROMPT_LEARNING:
            raise FtlabError(
                f"peft={method} adds virtual tokens, which cannot be merged into the model; "
                "remove peft.merge=true"
            )
        if method == "adalora" and cfg.trainer.get("load_best_model_at_end"):
            raise FtlabError(
                "peft=adalora shrinks its ranks during training, so an earlier checkpoint "
                "cannot be loaded back: set trainer.load_best_model_at_end=false"
            )
        if cfg.model.get("freeze") or cfg.model.get("freeze_layers"):
            raise FtlabError(
                f"model.freeze / model.freeze_layers apply to full fine-tuning; peft={method} "
                "already freezes everything but the adapter and the head"
            )


def _check_recipes(cfg: DictConfig) -> None:
    """The recipe keys (peft, freezing, layer-wise learning rates, FGM, augmentation)."""
    from ftlab.recipes.adversarial import check_adversarial
    from ftlab.recipes.augment import check_augment
    from ftlab.recipes.freezing import check_freeze
    from ftlab.recipes.optim import check_lr_settings

    _check_peft(cfg)
    check_freeze(cfg.model.get("freeze"), cfg.model.get("freeze_layers"))
    check_lr_settings(
        cfg.optimizer.get("layerwise_lr_decay"), cfg.optimizer.get("head_learning_rate")
    )
    if cfg.trainer.get("adversarial"):
        check_adversarial(cfg.trainer.adversarial, cfg.trainer.get("adversarial_epsilon"))
    if cfg.task.get("augment") is not None:
        check_augment(
            OmegaConf.to_object(cfg.task.augment)
            if OmegaConf.is_config(cfg.task.augment)
            else cfg.task.augment,
            cfg.task.get("augment_rate"),
            cfg.task.get("augment_copies"),
        )
    weights = cfg.task.get("class_weights")
    if isinstance(weights, str) and weights != "balanced":
        raise FtlabError(f"task.class_weights must be 'balanced' or a list, got '{weights}'")


def _check_values(cfg: DictConfig) -> None:
    positive = {
        "optimizer.learning_rate": cfg.optimizer.get("learning_rate"),
        "trainer.per_device_train_batch_size": cfg.trainer.get("per_device_train_batch_size"),
        "trainer.per_device_eval_batch_size": cfg.trainer.get("per_device_eval_batch_size"),
        "trainer.gradient_accumulation_steps": cfg.trainer.get("gradient_accumulation_steps"),
        "task.max_seq_length": cfg.task.get("max_seq_length"),
    }
    for key, value in positive.items():
        if value is not None and not (isinstance(value, (int, float)) and value > 0):
            raise FtlabError(f"{key} must be a number above 0, got {value!r}")


def training_arguments_kwargs(cfg: DictConfig, output_dir: Path) -> dict[str, Any]:
    """The keyword arguments for `TrainingArguments`, taken unchanged from the config groups."""
    kwargs: dict[str, Any] = {"output_dir": str(output_dir)}
    for group in TRAINING_ARGS_GROUPS:
        values = OmegaConf.to_container(cfg.get(group) or {}, resolve=True)
        kwargs.update({k: v for k, v in values.items() if k not in FTLAB_KEYS[group]})
    if cfg.hardware.get("zero_stage") is not None:
        # written by the parent from the hardware keys (ftlab.hardware.deepspeed_config)
        kwargs["deepspeed"] = str(deepspeed_path(output_dir))
    return kwargs


# tokens read from the environment by transformers, huggingface_hub and wandb
SECRET_ENV_VARS = ("WANDB_API_KEY", "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN")


def is_secret_key(key: Any) -> bool:
    return bool(_SECRET_KEY.search(str(key)))


def redact(container: Any) -> Any:
    """A copy of a plain config container with secret-looking values replaced."""
    if isinstance(container, dict):
        return {
            k: (REDACTED if is_secret_key(k) and isinstance(v, str) else redact(v))
            for k, v in container.items()
        }
    if isinstance(container, list):
        return [redact(v) for v in container]
    return container


def redact_overrides(args: list[str]) -> list[str]:
    """Command-line arguments with the values of secret-looking `key=value` pairs replaced."""
    redacted = []
    for arg in args:
        key, sep, _ = arg.partition("=")
        secret = sep and is_secret_key(key.lstrip("+~").rsplit(".", 1)[-1])
        redacted.append(f"{key}={REDACTED}" if secret else arg)
    return redacted


def secret_values(cfg: DictConfig) -> set[str]:
    """Every secret string this job knows: secret-keyed config values and token env vars."""
    found = {os.environ[name] for name in SECRET_ENV_VARS if os.environ.get(name)}

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                if is_secret_key(k) and isinstance(v, str) and v:
                    found.add(v)
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(OmegaConf.to_container(cfg, resolve=False))
    return {value for value in found if len(value) >= 4 and value != REDACTED}


def resolved_yaml(cfg: DictConfig) -> str:
    """The fully resolved config as yaml, secrets redacted."""
    return OmegaConf.to_yaml(redact(OmegaConf.to_container(cfg, resolve=True)))


def config_digest(cfg: DictConfig) -> str:
    """SHA-256 of the resolved config: equal digests on all ranks mean one shared config."""
    return hashlib.sha256(resolved_yaml(cfg).encode("utf-8")).hexdigest()
