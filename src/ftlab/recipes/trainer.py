"""The Hugging Face `Trainer`, with the two recipes that change its step or its optimizer.

Layer-wise learning rates hand their parameter groups to the Trainer's own
`create_optimizer` (through `optimizer_cls_and_kwargs`, whose `params` it uses in place of
its default groups), so `optimizer.optim` still picks the optimizer class. FGM runs the
Trainer's own `training_step` twice per batch (clean, then perturbed), so loss scaling for
gradient accumulation, mixed precision and distributed backward stay the Trainer's.
"""

from __future__ import annotations

from typing import Any

from transformers import Trainer

from ftlab.recipes.adversarial import FGM
from ftlab.recipes.optim import layerwise_groups


class RecipeTrainer(Trainer):
    """`Trainer` plus `layerwise_lr` ((decay, head learning rate), or None) and `fgm`."""

    def __init__(
        self,
        *args: Any,
        layerwise_lr: tuple[float | None, float | None] | None = None,
        fgm: FGM | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.layerwise_lr, self.fgm = layerwise_lr, fgm

    def create_optimizer(self, model: Any = None) -> Any:
        if self.optimizer is None and self.layerwise_lr is not None:
            target = self.model if model is None else model
            decay, head_learning_rate = self.layerwise_lr
            optimizer_cls, kwargs = self.get_optimizer_cls_and_kwargs(self.args, target)
            groups = layerwise_groups(
                target,
                self.args.learning_rate,
                decay,
                head_learning_rate,
                self.args.weight_decay,
                set(self.get_decay_parameter_names(target)),
            )
            self.optimizer_cls_and_kwargs = (optimizer_cls, {**kwargs, "params": groups})
        return super().create_optimizer(model)

    def training_step(
        self, model: Any, inputs: dict[str, Any], num_items_in_batch: Any = None
    ) -> Any:
        if self.fgm is None:
            return super().training_step(model, inputs, num_items_in_batch)
        with self.fgm.clean():
            loss = super().training_step(model, inputs, num_items_in_batch)
        with self.fgm.attack():
            super().training_step(model, inputs, num_items_in_batch)
        return loss  # the clean loss is the one logged
