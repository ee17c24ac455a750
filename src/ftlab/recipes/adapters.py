"""Parameter-efficient fine-tuning with the `peft` library: `peft=lora|adalora|ia3|...`.

The `peft` config group holds `method`, `merge` and any field of the method's peft config
class under its own name (`r`, `lora_alpha`, `target_modules` ...), as `TrainingArguments`
fields are under `trainer`. Where adapters go and which new modules train beside them is
the model family's answer (ftlab/models/family.py).
"""

from __future__ import annotations

import dataclasses
import inspect
import logging
import math
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from ftlab.errors import FtlabError
from ftlab.models.family import adapter_targets, head_modules

log = logging.getLogger(__name__)

# peft=<method> -> its config class in `peft`
CONFIG_CLASSES = {
    "lora": "LoraConfig",
    "adalora": "AdaLoraConfig",
    "ia3": "IA3Config",
    "prefix_tuning": "PrefixTuningConfig",
    "prompt_tuning": "PromptTuningConfig",
}
# virtual tokens instead of changed weights: nothing to merge into the model
PROMPT_LEARNING = frozenset({"prefix_tuning", "prompt_tuning"})
# keys ftlab reads itself; the others go to the peft config class unchanged
FTLAB_PEFT_KEYS = frozenset({"method", "merge", "quantization"})
# `peft.quantization`: the base model's weights in 4 bits (bitsandbytes), as QLoRA does
QUANTIZATIONS = ("nf4", "fp4")
# set by ftlab from the task and model, never by the user
RESERVED = frozenset({"task_type", "peft_type", "base_model_name_or_path", "revision"})
# the methods that put adapters on named modules (the others add virtual tokens)
TARGETED = frozenset({"lora", "adalora", "ia3"})


def method(peft_cfg: DictConfig | None) -> str:
    return str((peft_cfg or {}).get("method") or "none")


def config_fields(name: str) -> frozenset[str]:
    """The keys `peft=<name>` accepts: its peft config class's fields, and ftlab's own."""
    try:
        import peft
    except ImportError as exc:
        raise FtlabError(f"peft={name} needs the peft package: pip install 'ftlab[peft]'") from exc

    cls = getattr(peft, CONFIG_CLASSES[name])
    return frozenset(f.name for f in dataclasses.fields(cls)) - RESERVED | FTLAB_PEFT_KEYS


def _config(
    peft_cfg: DictConfig, model: Any, task_type: str, total_steps: int, new_modules: list[str]
) -> Any:
    """The method's peft config: targets where the user named none (peft's defaults, or the
    family's fallback), and the modules that start from scratch trained and saved in full."""
    import peft

    name = method(peft_cfg)
    values = OmegaConf.to_container(peft_cfg, resolve=True)
    values = {k: v for k, v in values.items() if k not in FTLAB_PEFT_KEYS}
    if name in TARGETED and values.get("target_modules") is None:
        values["target_modules"] = adapter_targets(model, name)
        if name == "ia3" and values["target_modules"] and values.get("feedforward_modules") is None:
            values["feedforward_modules"] = []  # which of them are feed-forward is not known
    if name == "adalora" and not values.get("total_step"):
        values["total_step"] = total_steps  # AdaLoRA's rank schedule needs the run's length
    if name not in PROMPT_LEARNING and new_modules:
        # peft adds the usual head names itself (classifier, score); a family's other new
        # modules (DeBERTa's pooler, T5's classification_head) would stay random and unsaved
        values["modules_to_save"] = sorted({*(values.get("modules_to_save") or []), *new_modules})
    return getattr(peft, CONFIG_CLASSES[name])(task_type=task_type, **values)


def wrap(
    model: Any,
    peft_cfg: DictConfig,
    task_type: str,
    total_steps: int,
    new_modules: list[str] | None = None,
) -> Any:
    """The model wrapped by `peft.get_peft_model` for peft's `task_type` (the task's, e.g.
    SEQ_CLS); only the adapter and the new modules (the head ...) train."""
    import peft

    name = method(peft_cfg)
    if name == "prefix_tuning" and not _takes_past_key_values(model):
        raise FtlabError(
            f"peft=prefix_tuning needs a model whose forward takes past_key_values; "
            f"{type(model).__name__} does not in this transformers version: use "
            "peft=prompt_tuning or peft=lora"
        )
    if quantization(peft_cfg) is not None:
        # QLoRA: the quantized base frozen, its norms (and the head) kept in fp32
        model = peft.prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)
    config = _config(peft_cfg, model, task_type, total_steps, list(new_modules or []))
    try:
        wrapped = peft.get_peft_model(model, config)
    except ValueError as exc:  # no target modules known, no past key values for prefixes ...
        hint = (
            "set peft.target_modules=[...] to the names of its attention projections"
            if "target_modules" in str(exc)
            else "choose another peft method"
        )
        raise FtlabError(
            f"peft={name} on a '{model.config.model_type}' model: {exc}; {hint}"
        ) from exc
    log.info("peft=%s on %s", name, sorted(getattr(config, "target_modules", None) or []))
    return wrapped


def _takes_past_key_values(model: Any) -> bool:
    """What peft's prefix tuning checks, at its first forward pass, for encoder models."""
    return any(
        "past_key_values" in inspect.signature(m.forward).parameters
        for m in (model, model.base_model)
    )


def quantization(peft_cfg: DictConfig | None) -> str | None:
    return (peft_cfg or {}).get("quantization")


def quantized_loading(
    peft_cfg: DictConfig | None, hardware: DictConfig, loader: Any, model_config: Any
) -> dict[str, Any]:
    """`from_pretrained` keyword arguments that load the base model of `loader` (the task's
    Auto class) in 4 bits (QLoRA: NF4, double quantization, computing in bf16 / fp16 where
    the run trains in it, else fp32), its task head left in full precision; {} without
    `peft.quantization`."""
    kind = quantization(peft_cfg)
    if kind is None:
        return {}
    import torch
    from transformers import BitsAndBytesConfig

    compute = (
        torch.bfloat16
        if hardware.get("bf16")
        else torch.float16
        if hardware.get("fp16")
        else torch.float32
    )
    config = BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type=kind,
        bnb_4bit_use_double_quant=True,
        bnb_4bit_compute_dtype=compute,
        llm_int8_skip_modules=head_modules(loader, model_config),
    )
    return {"quantization_config": config}


def callbacks(model: Any, peft_cfg: DictConfig) -> list[Any]:
    """AdaLoRA reallocates its ranks after each optimizer step; the Trainer does not call it."""
    if method(peft_cfg) != "adalora":
        return []
    from transformers import TrainerCallback

    class AdaLoraAllocation(TrainerCallback):
        # after optimizer.step() and before zero_grad(), where peft wants it
        def on_optimizer_step(self, args: Any, state: Any, control: Any, **_: Any) -> None:
            model.base_model.update_and_allocate(state.global_step)

    return [AdaLoraAllocation()]


def training_steps(train_size: int, args: Any) -> int:
    """The optimizer steps the Trainer will take (AdaLoRA's schedule needs it up front)."""
    if args.max_steps > 0:
        return int(args.max_steps)
    batches = math.ceil(train_size / (args.train_batch_size * args.world_size))
    per_epoch = max(1, batches // args.gradient_accumulation_steps)
    return per_epoch * math.ceil(args.num_train_epochs)


def save_merged(model: Any, tokenizer: Any, directory: Path) -> None:
    """The adapter folded into the base weights: a plain transformers model for pipeline()."""
    merged = model.merge_and_unload()
    merged.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    log.info("merged model (no peft needed to load it): %s", directory)
