"""Where a model keeps its transformer blocks, for any architecture.

BERT keeps them at `<body>.encoder.layer`, DistilBERT at `<body>.transformer.layer`, GPT-2
at `<body>.h`, Llama at `<body>.layers`, T5 at `<body>.encoder.block`; rather than a table
of paths, the blocks are the body's first `ModuleList` with one entry per hidden layer.
"""

from __future__ import annotations

from typing import Any

from ftlab.errors import FtlabError


def body(model: Any) -> Any:
    """The pretrained model without its task head (`base_model`), peft unwrapped; in a
    model of another library (a sentence-transformers encoder), its transformers model's."""
    from transformers import PreTrainedModel

    if hasattr(model, "get_base_model"):  # a peft.PeftModel
        model = model.get_base_model()
    if not isinstance(model, PreTrainedModel):
        model = next(m for m in model.modules() if isinstance(m, PreTrainedModel))
    return model.base_model


def blocks(model: Any, purpose: str = "") -> Any:
    """The body's stack of transformer blocks, bottom first."""
    import torch

    found = body(model)
    count = found.config.num_hidden_layers
    for module in found.modules():
        if isinstance(module, torch.nn.ModuleList) and len(module) == count:
            return module
    raise FtlabError(
        f"cannot find the {count} transformer blocks of {type(found).__name__}"
        + (f"; {purpose}" if purpose else "")
    )
