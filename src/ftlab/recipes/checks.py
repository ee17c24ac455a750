"""The recipe keys' own checks (peft, freezing, layer-wise learning rates, FGM,
distillation, length groups), run before anything loads."""

from __future__ import annotations

from typing import Any

from omegaconf import DictConfig

from ftlab.config.types import matches
from ftlab.errors import FtlabError, did_you_mean
from ftlab.recipes import adapters
from ftlab.recipes.adversarial import check_adversarial
from ftlab.recipes.distill import check_distill
from ftlab.recipes.freezing import check_freeze
from ftlab.recipes.optim import check_lr_settings


def check_recipes(cfg: DictConfig, task: Any) -> None:
    """One-line errors for bad recipe values, in the user's terms."""
    _check_peft(cfg, task)
    check_freeze(cfg.model.get("freeze"), cfg.model.get("freeze_layers"))
    check_lr_settings(
        cfg.optimizer.get("layerwise_lr_decay"), cfg.optimizer.get("head_learning_rate")
    )
    if cfg.trainer.get("adversarial"):
        check_adversarial(cfg.trainer.adversarial, cfg.trainer.get("adversarial_epsilon"))
    check_distill(cfg, task)
    _check_length_groups(cfg.trainer.get("length_group_batches"))
    if task.head != task.heads[0] and cfg.trainer.get("label_smoothing_factor"):
        # the Trainer would replace the head's own loss with a smoothed cross-entropy
        raise FtlabError(
            f"trainer.label_smoothing_factor smooths a cross-entropy; model.head={task.head} "
            "trains on its own loss: remove one of them"
        )


def _check_peft(cfg: DictConfig, task: Any) -> None:
    """`peft.*` keys: the method's peft config fields, and what the method allows."""
    peft_cfg = cfg.get("peft") or {}
    method = adapters.method(peft_cfg)
    if method == "none":
        extra = [k for k in peft_cfg if k != "method"]
        if extra:
            raise FtlabError(
                f"peft.{extra[0]} is set but no peft method is chosen; add peft=lora "
                f"(or {', '.join(adapters.CONFIG_CLASSES)})"
            )
        return
    if method not in adapters.CONFIG_CLASSES:
        raise FtlabError(
            f"peft.method must be one of none, {', '.join(adapters.CONFIG_CLASSES)}; got '{method}'"
        )
    if task.peft_task_type is None:
        raise FtlabError(f"peft={method} does not support {type(task).__name__} tasks")
    if task.head != task.heads[0]:  # peft wraps the transformers head it knows, not another
        raise FtlabError(
            f"peft={method} trains an adapter and the model's own head; model.head={task.head} "
            f"does not combine with it: use model.head={task.heads[0]} or full fine-tuning"
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
    _check_quantization(peft_cfg, method)
    if method == "adalora":
        target_r, init_r = peft_cfg.get("target_r", 8), peft_cfg.get("init_r", 12)  # peft's
        if target_r > init_r:  # peft accepts it, then fails in the first rank allocation
            raise FtlabError(
                f"peft.target_r={target_r} is above peft.init_r={init_r}: AdaLoRA shrinks the "
                "ranks from init_r down to target_r; set peft.target_r at most peft.init_r"
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


def _check_length_groups(group_batches: Any) -> None:
    """`trainer.length_group_batches` (recipes/sampling.py): null, or a whole number of
    batches of 2 or more (unused with random batches, so a preset's value does not stand in
    the way of `trainer.train_sampling_strategy=random`)."""
    if group_batches is None:
        return
    if not matches(group_batches, int) or group_batches < 2:
        raise FtlabError(
            "trainer.length_group_batches must be a whole number of batches of 2 or more "
            f"(or null: the Trainer's up to 50), got {group_batches!r}"
        )


def _check_quantization(peft_cfg: DictConfig, method: str) -> None:
    """`peft.quantization`: a 4-bit type bitsandbytes knows, under LoRA, with bitsandbytes."""
    kind = adapters.quantization(peft_cfg)
    if kind is None:
        return
    if kind not in adapters.QUANTIZATIONS:
        raise FtlabError(
            f"peft.quantization={kind}: use one of {', '.join(adapters.QUANTIZATIONS)} "
            "(4-bit weights), or null"
        )
    if method != "lora":
        raise FtlabError(f"peft.quantization={kind} is QLoRA: use it with peft=lora (or qlora)")
    try:
        import bitsandbytes  # noqa: F401
    except ImportError:
        raise FtlabError(
            f"peft.quantization={kind} needs bitsandbytes: pip install 'ftlab[qlora]'"
        ) from None
