"""The recipes a config asks for, applied to one run's model and Trainer (ftlab.train)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from ftlab.recipes import adapters
from ftlab.recipes.adversarial import FGM
from ftlab.recipes.body import count_parameters
from ftlab.recipes.freezing import freeze
from ftlab.recipes.loss import WeightedLoss, class_weights
from ftlab.records import write_json

log = logging.getLogger(__name__)

PARAMS_FILE = "params.json"
BASE_CONFIG = "base_config"  # inside model/ of a peft run


def prepare_model(cfg: DictConfig, model: Any, model_class: str, total_steps: int) -> Any:
    """Freeze (`model.freeze`, `model.freeze_layers`) or wrap with peft (`peft=...`)."""
    freeze(model, cfg.model.get("freeze"), cfg.model.get("freeze_layers"))
    if adapters.method(cfg.get("peft")) != "none":
        model = adapters.wrap(model, cfg.peft, model_class, total_steps)
    return model


def record_parameters(model: Any, run_dir: Path, main_process: bool) -> dict[str, Any]:
    """Log trainable / total parameters; rank 0 writes them to params.json (not env.json: a
    resumed run leaves its records as they were written)."""
    counts = count_parameters(model)
    log.info(
        "trainable parameters: %s of %s (%.2f%%)",
        f"{counts['trainable_parameters']:,}",
        f"{counts['total_parameters']:,}",
        counts["trainable_percent"],
    )
    if main_process:
        write_json(run_dir / PARAMS_FILE, counts)
    return counts


def loss_function(task: Any, train: Any) -> WeightedLoss | None:
    """The class-weighted loss for `task.class_weights`, from the tokenized training labels."""
    weights = class_weights(
        getattr(task, "class_weights", None),
        train["labels"],
        task.label_list,
        bool(getattr(task, "multi_label", False)),
    )
    if weights is None:
        return None
    return WeightedLoss(weights, bool(getattr(task, "multi_label", False)))


def trainer_options(cfg: DictConfig, model: Any) -> dict[str, Any]:
    """RecipeTrainer's keyword arguments: layer-wise learning rates and FGM."""
    decay = cfg.optimizer.get("layerwise_lr_decay")
    head = cfg.optimizer.get("head_learning_rate")
    options: dict[str, Any] = {"layerwise_lr": (decay, head) if decay or head else None}
    if cfg.trainer.get("adversarial") == "fgm":
        options["fgm"] = FGM(model, float(cfg.trainer.adversarial_epsilon))
    return options


def save_models(cfg: DictConfig, trainer: Any, tokenizer: Any, run_dir: Path) -> None:
    """`model/` (the model, or the peft adapter), and with `peft.merge` `model-merged/`.

    Every rank calls this (FSDP and DeepSpeed gather weights in save_model); rank 0 writes.
    """
    trainer.save_model(str(run_dir / "model"))
    peft_cfg = cfg.get("peft") or {}
    if adapters.method(peft_cfg) == "none" or not trainer.is_world_process_zero():
        return
    # The base model's config with the label names: `from_pretrained(model/, config=...)`
    # loads base + adapter with them. Not in model/ itself, where a config.json would make
    # transformers look for full weights instead of the adapter.
    trainer.model.get_base_model().config.save_pretrained(run_dir / "model" / BASE_CONFIG)
    if peft_cfg.get("merge"):
        adapters.save_merged(trainer.model, tokenizer, run_dir / "model-merged")
