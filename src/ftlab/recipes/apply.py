"""The recipes a config asks for, applied to one run's model and Trainer (training/train.py)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from ftlab.errors import FtlabError
from ftlab.recipes import adapters, distill
from ftlab.recipes.adversarial import FGM
from ftlab.recipes.body import count_parameters
from ftlab.recipes.freezing import freeze
from ftlab.records import BASE_CONFIG, MODEL_DIR, PARAMS_FILE, write_json

log = logging.getLogger(__name__)


def prepare_model(
    cfg: DictConfig,
    model: Any,
    peft_task_type: str,
    total_steps: int,
    new_modules: list[str] | None = None,
) -> Any:
    """Freeze (`model.freeze`, `model.freeze_layers`) or wrap with peft (`peft=...`) for
    peft's task type of the task; `new_modules` (the head ...) train in full beside it."""
    freeze(model, cfg.model.get("freeze"), cfg.model.get("freeze_layers"))
    if adapters.method(cfg.get("peft")) != "none":
        model = adapters.wrap(model, cfg.peft, peft_task_type, total_steps, new_modules)
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


def trainer_options(cfg: DictConfig, model: Any, task: Any) -> dict[str, Any]:
    """RecipeTrainer's keyword arguments: layer-wise learning rates, FGM, distillation,
    the size of length groups."""
    decay = cfg.optimizer.get("layerwise_lr_decay")
    head = cfg.optimizer.get("head_learning_rate")
    options: dict[str, Any] = {
        "layerwise_lr": (decay, head) if decay or head else None,
        "distiller": distill.distiller(cfg, task),
        "length_group_batches": cfg.trainer.get("length_group_batches"),
    }
    if cfg.trainer.get("adversarial") == "fgm":
        options["fgm"] = FGM(model, float(cfg.trainer.adversarial_epsilon))
    return options


def check_library_trainer(cfg: DictConfig, trainer_class: type) -> None:
    """Layer-wise learning rates, FGM and distillation live in ftlab's Trainer: a kind
    trained by another library's Trainer refuses them instead of ignoring them."""
    asked = {
        "optimizer.layerwise_lr_decay": cfg.optimizer.get("layerwise_lr_decay"),
        "optimizer.head_learning_rate": cfg.optimizer.get("head_learning_rate"),
        "trainer.adversarial": cfg.trainer.get("adversarial"),
        "distill.teacher": distill.teacher_path(cfg),
    }
    for key, value in asked.items():
        if value:
            raise FtlabError(
                f"{key} is a recipe of ftlab's Trainer; this task kind trains with "
                f"{trainer_class.__name__}, which does not apply it: remove {key}"
            )


def save_models(cfg: DictConfig, trainer: Any, tokenizer: Any, run_dir: Path) -> None:
    """`model/` (the model, or the peft adapter), and with `peft.merge` `model-merged/`.

    Every rank calls this (FSDP and DeepSpeed gather weights in save_model); rank 0 writes.
    """
    trainer.save_model(str(run_dir / MODEL_DIR))
    peft_cfg = cfg.get("peft") or {}
    if adapters.method(peft_cfg) == "none" or not trainer.is_world_process_zero():
        return
    # The base model's config with the label names: `from_pretrained(model/, config=...)`
    # loads base + adapter with them. Not in model/ itself, where a config.json would make
    # transformers look for full weights instead of the adapter.
    trainer.model.get_base_model().config.save_pretrained(run_dir / MODEL_DIR / BASE_CONFIG)
    if peft_cfg.get("merge"):
        adapters.save_merged(trainer.model, tokenizer, run_dir / "model-merged")
