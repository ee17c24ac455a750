"""Where an encoder keeps its embeddings and its layers, for the recipes that treat them
apart (freezing, layer-wise learning rates); the blocks are found as ftlab.models.layers
finds them, for any architecture."""

from __future__ import annotations

from typing import Any

from ftlab.errors import FtlabError
from ftlab.models.layers import blocks
from ftlab.models.layers import body as backbone

_BERT_LIKE = "model.freeze_layers and optimizer.layerwise_lr_decay support BERT-like encoders"


def embeddings(model: Any) -> Any:
    encoder = backbone(model)
    found = getattr(encoder, "embeddings", None)
    if found is None:
        raise FtlabError(
            f"{type(encoder).__name__} has no 'embeddings' module; model.freeze and "
            "optimizer.layerwise_lr_decay support BERT-like encoders"
        )
    return found


def encoder_layers(model: Any) -> Any:
    """The backbone's stack of transformer layers, bottom first."""
    return blocks(model, _BERT_LIKE)


def parameter_depths(model: Any) -> dict[int, int]:
    """id(parameter) -> 0 for the embeddings, i + 1 for encoder layer i; the head is absent."""
    depths = {id(p): 0 for p in embeddings(model).parameters()}
    for index, layer in enumerate(encoder_layers(model)):
        depths.update({id(p): index + 1 for p in layer.parameters()})
    return depths


def count_parameters(model: Any) -> dict[str, Any]:
    """Trainable and total parameters (shared weights counted once, as `parameters()` does)."""
    total = trainable = 0
    for parameter in model.parameters():
        total += parameter.numel()
        trainable += parameter.numel() if parameter.requires_grad else 0
    return {
        "trainable_parameters": trainable,
        "total_parameters": total,
        "trainable_percent": round(100 * trainable / total, 4) if total else 0.0,
    }
