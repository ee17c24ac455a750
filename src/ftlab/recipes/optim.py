"""Layer-wise learning-rate decay and a separate head learning rate, as parameter groups.

With `optimizer.layerwise_lr_decay=d`, the top encoder layer trains at the learning rate,
each layer below at `d` times the one above, and the embeddings at `lr * d**num_layers`
(Sun et al., 2019, "How to Fine-Tune BERT for Text Classification?"). The head (everything
outside the embeddings and the encoder layers) trains at `optimizer.head_learning_rate`,
else at the learning rate. The Trainer's own weight-decay split is kept.
"""

from __future__ import annotations

from typing import Any

from ftlab.errors import FtlabError
from ftlab.recipes.body import encoder_layers, parameter_depths


def check_lr_settings(decay: Any, head_learning_rate: Any) -> None:
    if decay is not None and not (isinstance(decay, (int, float)) and 0 < decay <= 1):
        raise FtlabError(f"optimizer.layerwise_lr_decay must be in (0, 1], got {decay!r}")
    if head_learning_rate is not None and not (
        isinstance(head_learning_rate, (int, float)) and head_learning_rate > 0
    ):
        raise FtlabError(
            f"optimizer.head_learning_rate must be a number above 0, got {head_learning_rate!r}"
        )


def layerwise_groups(
    model: Any,
    learning_rate: float,
    decay: float | None,
    head_learning_rate: float | None,
    weight_decay: float,
    decay_names: set[str],
) -> list[dict[str, Any]]:
    """Optimizer parameter groups, one per (learning rate, weight decay) pair in use.

    `decay_names`: the parameter names weight decay applies to (the Trainer's
    `get_decay_parameter_names`); frozen parameters are left out.
    """
    depths = parameter_depths(model)
    top = len(encoder_layers(model))
    groups: dict[tuple[float, float], list[Any]] = {}
    for name, parameter in model.named_parameters():
        if not parameter.requires_grad:
            continue
        depth = depths.get(id(parameter))
        if depth is None:
            lr = head_learning_rate or learning_rate
        else:
            lr = learning_rate * (decay or 1.0) ** (top - depth)
        key = (lr, weight_decay if name in decay_names else 0.0)
        groups.setdefault(key, []).append(parameter)
    return [{"params": p, "lr": lr, "weight_decay": wd} for (lr, wd), p in groups.items()]
