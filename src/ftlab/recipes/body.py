"""Where an encoder keeps its embeddings and its layers, for any architecture.

BERT, RoBERTa and DeBERTa keep them at `<backbone>.embeddings` and
`<backbone>.encoder.layer`, DistilBERT at `<backbone>.transformer.layer`; rather than a
table of paths, the layers are the backbone's `ModuleList` with one entry per hidden layer.
"""

from __future__ import annotations

from typing import Any

from ftlab.errors import FtlabError


def backbone(model: Any) -> Any:
    """The encoder without its task head (the PreTrainedModel's `base_model`), peft unwrapped."""
    if hasattr(model, "get_base_model"):  # a peft.PeftModel
        model = model.get_base_model()
    return model.base_model


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
    import torch

    encoder = backbone(model)
    count = encoder.config.num_hidden_layers
    for module in encoder.modules():
        if isinstance(module, torch.nn.ModuleList) and len(module) == count:
            return module
    raise FtlabError(
        f"cannot find the {count} encoder layers of {type(encoder).__name__}; "
        "model.freeze_layers and optimizer.layerwise_lr_decay support BERT-like encoders"
    )


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
