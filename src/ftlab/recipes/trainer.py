"""The Hugging Face `Trainer`, with the recipes that change its step, loss or optimizer.

Layer-wise learning rates hand their parameter groups to the Trainer's own
`create_optimizer` (through `optimizer_cls_and_kwargs`, whose `params` it uses in place of
its default groups), so `optimizer.optim` still picks the optimizer class. FGM runs the
Trainer's own `training_step` twice per batch (clean, then perturbed), so loss scaling for
gradient accumulation, mixed precision and distributed backward stay the Trainer's.
Distillation adds the teacher term to the loss `compute_loss` returns, on the scale the
Trainer expects of that loss (a batch mean, or normalised over the accumulated batch when
a `compute_loss_func` is set), and logs it as `distill_loss`. Training batches grouped by
length come in a random order, and with labels per token their loss weighs every labelled
token alike (recipes/sampling.py). Evaluation runs the longest rows first and answers in
the rows' order (recipes/eval_order.py).
"""

from __future__ import annotations

from typing import Any

import torch
from transformers.trainer_pt_utils import LengthGroupedSampler

from ftlab.recipes.adversarial import FGM
from ftlab.recipes.distill import TEACHER_COLUMN, Distiller
from ftlab.recipes.eval_order import LengthSortedEvaluation
from ftlab.recipes.optim import layerwise_groups
from ftlab.recipes.sampling import expected_items, labelled_per_row, shuffled
from ftlab.tasks.alignment import IGNORE


class RecipeTrainer(LengthSortedEvaluation):
    """`Trainer` (evaluating the longest rows first) plus `layerwise_lr` ((decay, head
    learning rate), or None), `fgm`, `distiller` (the teacher term, over batches that carry
    the teacher's logits) and `length_group_batches` (how many batches group_by_length
    sorts together; None: 50)."""

    def __init__(
        self,
        *args: Any,
        layerwise_lr: tuple[float | None, float | None] | None = None,
        fgm: FGM | None = None,
        distiller: Distiller | None = None,
        length_group_batches: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.layerwise_lr, self.fgm, self.distiller = layerwise_lr, fgm, distiller
        self.length_group_batches = length_group_batches
        # labelled tokens per training row, for grouped batches of token labels
        self.per_row = (
            labelled_per_row(self.train_dataset)
            if self.args.train_sampling_strategy == "group_by_length"
            else None
        )
        self._distill_terms: list[float] = []

    def _set_signature_columns_if_needed(self) -> None:
        # the teacher's logits are no model input, but the batches must keep them
        super()._set_signature_columns_if_needed()
        if self.distiller is not None and TEACHER_COLUMN not in self._signature_columns:
            self._signature_columns.append(TEACHER_COLUMN)

    def _get_train_sampler(self, train_dataset: Any = None) -> Any:
        sampler = super()._get_train_sampler(train_dataset)
        if isinstance(sampler, LengthGroupedSampler):  # group_by_length: batch order shuffled
            return shuffled(sampler, self.length_group_batches)
        return sampler

    def get_batch_samples(self, epoch_iterator: Any, num_batches: int, device: Any) -> Any:
        batches, counted = super().get_batch_samples(epoch_iterator, num_batches, device)
        if self.per_row is None or counted is None:
            return batches, counted
        # a `compute_loss_func` divides by this count of the accumulated batches (over all
        # ranks, as the Trainer gathered it): for grouped batches, what an average one holds
        rows = sum(len(batch["labels"]) for batch in batches)
        if self.args.average_tokens_across_devices and self.args.world_size > 1:
            rows *= self.args.world_size
        return batches, torch.as_tensor(expected_items(self.per_row, rows), device=device)

    def compute_loss(
        self,
        model: Any,
        inputs: dict[str, Any],
        return_outputs: bool = False,
        num_items_in_batch: Any = None,
    ) -> Any:
        loss, outputs = self._loss(model, dict(inputs), num_items_in_batch)  # FGM: same batch twice
        if self.per_row is not None and model.training and num_items_in_batch is None:
            # the model's mean over this batch's labelled tokens, made their sum over what an
            # average batch of as many rows holds (get_batch_samples does it for counts)
            labels = inputs["labels"]
            loss = loss * (labels.ne(IGNORE).sum() / expected_items(self.per_row, labels.shape[0]))
        return (loss, outputs) if return_outputs else loss

    def _loss(self, model: Any, inputs: dict[str, Any], num_items_in_batch: Any) -> tuple[Any, Any]:
        """(loss, outputs): the Trainer's, plus the teacher term under distillation."""
        teacher = inputs.pop(TEACHER_COLUMN, None)
        if self.distiller is None or teacher is None:
            return super().compute_loss(model, inputs, True, num_items_in_batch)
        labels = inputs.get("labels")
        loss, outputs = super().compute_loss(model, inputs, True, num_items_in_batch)
        total, count = self.distiller.divergence(outputs["logits"], teacher, labels)
        if self.compute_loss_func is not None and num_items_in_batch is not None:
            term = total / num_items_in_batch  # as the compute_loss_func's sum / count
            if self.args.average_tokens_across_devices:
                term = term * self.accelerator.num_processes
        else:
            term = total / count.clamp(min=1)
        if model.training:
            self._distill_terms.append(float(total.detach() / count.clamp(min=1)))
        alpha = self.distiller.alpha
        return alpha * loss + (1 - alpha) * term, outputs

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        if "loss" in logs and self._distill_terms:  # the mean teacher term since the last log
            logs["distill_loss"] = round(sum(self._distill_terms) / len(self._distill_terms), 4)
            self._distill_terms.clear()
        super().log(logs, start_time)

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
