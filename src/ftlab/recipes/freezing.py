"""Freeze parts of the encoder: its embeddings, its first N layers, or all of it (head only)."""

from __future__ import annotations

import logging
from typing import Any

from ftlab.errors import FtlabError
from ftlab.recipes.body import embeddings, encoder_layers

log = logging.getLogger(__name__)

FREEZE_CHOICES = ("embeddings", "encoder")


def check_freeze(freeze: Any, freeze_layers: Any) -> None:
    """Config values only (no model needed): raise a one-line error on bad ones."""
    if freeze is not None and freeze not in FREEZE_CHOICES:
        raise FtlabError(
            f"model.freeze must be one of {', '.join(FREEZE_CHOICES)} (or null), got {freeze!r}"
        )
    if freeze_layers is not None and not (isinstance(freeze_layers, int) and freeze_layers >= 0):
        raise FtlabError(f"model.freeze_layers must be a whole number >= 0, got {freeze_layers!r}")


def freeze(model: Any, what: str | None, first_layers: int | None) -> None:
    """`what`: `embeddings`, or `encoder` (embeddings and every layer: only the head trains,
    i.e. the pooler where the model has one and the classifier); `first_layers`: the
    bottom N encoder layers."""
    check_freeze(what, first_layers)
    layers = encoder_layers(model)
    if first_layers and first_layers > len(layers):
        raise FtlabError(
            f"model.freeze_layers={first_layers} but the model has {len(layers)} encoder layers"
        )
    frozen = []
    if what in FREEZE_CHOICES:
        frozen.append(embeddings(model))
    frozen.extend(layers[: len(layers) if what == "encoder" else first_layers or 0])
    for module in frozen:
        module.requires_grad_(False)
    if frozen:
        log.info("frozen: model.freeze=%s, model.freeze_layers=%s", what, first_layers)
