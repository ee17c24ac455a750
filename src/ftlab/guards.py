"""Checks that stop a run before training, each with a one-line reason and fix."""

from __future__ import annotations

from typing import Any

from ftlab.errors import FtlabError

# Tokenizers without a real limit report this sentinel as model_max_length.
_NO_LIMIT = 10**9


def check_model_fits(
    source: str, model_config: Any, tokenizer: Any, task: Any, ignore_mismatched: bool
) -> None:
    """The task's max_seq_length and label count must fit the model (before loading weights)."""
    limits = [
        value
        for value in (
            getattr(tokenizer, "model_max_length", None),
            getattr(model_config, "max_position_embeddings", None),
        )
        if isinstance(value, int) and 0 < value < _NO_LIMIT
    ]
    if limits and task.max_seq_length > min(limits):
        raise FtlabError(
            f"task.max_seq_length={task.max_seq_length} is above the limit of model '{source}' "
            f"({min(limits)} tokens); use task.max_seq_length={min(limits)} or less"
        )
    head_kinds = {
        "AutoModelForSequenceClassification": "ForSequenceClassification",
        "AutoModelForTokenClassification": "ForTokenClassification",
    }
    suffix = head_kinds.get(task.model_class, "")
    trained_head = (
        any(arch.endswith(suffix) for arch in model_config.architectures or []) if suffix else False
    )
    wanted = len(task.label_list)
    if trained_head and model_config.num_labels != wanted and not ignore_mismatched:
        raise FtlabError(
            f"model '{source}' has a classification head for {model_config.num_labels} labels but "
            f"the task has {wanted}; set model.ignore_mismatched_sizes=true to train a new head"
        )
