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

from omegaconf import DictConfig, OmegaConf

from ftlab.config.paths import is_package_path, resolve_path
from ftlab.config.types import check_value
from ftlab.errors import FtlabError, did_you_mean
from ftlab.models.family import new_modules

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
    gated = (
        f"; '{name}' is gated: request access on its Hub page and log in (hf auth login, or "
        "HF_TOKEN) on a machine that reaches the Hub"
        if model.get("gated")
        else ""
    )
    if constants.HF_HUB_OFFLINE or not _hub_reachable():
        raise FtlabError(
            f"model '{name}' is not available offline (not in the Hugging Face cache and the "
            f"Hub is unreachable); use {OFFLINE_ALTERNATIVE}, or set model.name_or_path to a "
            f"local model directory{gated}"
        )
    from huggingface_hub import get_token

    if gated and get_token() is None:
        raise FtlabError(f"model '{name}' needs a Hugging Face login to download{gated}")
    return name


# config fields the task sets from its labels: `model.config` must not change them
_TASK_OWNED = ("num_labels", "id2label", "label2id", "problem_type", "architectures")


def config_overrides(model: DictConfig) -> dict[str, Any]:
    """`model.config.<field>=value`: fields of the model's own config, e.g. dropout."""
    overrides = model.get("config") or {}
    if isinstance(overrides, DictConfig):
        overrides = OmegaConf.to_container(overrides, resolve=True)
    return dict(overrides)


def load_model_config(source: str, model: DictConfig) -> Any:
    """The checkpoint's config with `model.config` applied, each field checked against the
    config class before any weights load (a misspelt field names the closest one)."""
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(source, revision=model.get("revision"))
    fields = set(config.to_dict()) | set(getattr(config, "attribute_map", {}))
    for key, value in config_overrides(model).items():
        if key in _TASK_OWNED:
            raise FtlabError(
                f"model.config.{key} is set by the task from its labels; "
                "change the task's labels instead"
            )
        if key not in fields:
            raise FtlabError(
                f"model.config.{key}: {type(config).__name__} has no such field; "
                f"{did_you_mean(key, sorted(fields))}"
            )
        current = getattr(config, key)
        if isinstance(current, bool):
            check_value(f"model.config.{key}", value, bool)
        elif isinstance(current, int) and key.startswith("num_"):
            check_value(f"model.config.{key}", value, int)
            if value < 1:
                raise FtlabError(f"model.config.{key} must be at least 1, got {value!r}")
        elif "dropout" in key and (value is not None or current is not None):
            check_value(f"model.config.{key}", value, float)
            if not 0 <= value < 1:
                raise FtlabError(f"model.config.{key} must be between 0 and 1, got {value!r}")
        layers = getattr(config, "num_hidden_layers", None)
        if key == "num_hidden_layers" and isinstance(layers, int) and value > layers:
            log.warning(
                "model.config.num_hidden_layers=%d: the checkpoint has %d layers; the other "
                "%d start from scratch",
                value,
                layers,
                value - layers,
            )
        setattr(config, key, value)
    return config


def load_tokenizer(source: str, model: DictConfig) -> Any:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(
        source, revision=model.get("revision"), trust_remote_code=bool(model.trust_remote_code)
    )
    if not tokenizer.is_fast:
        raise FtlabError(f"model '{source}' has no fast tokenizer; ftlab needs one (word_ids)")
    return tokenizer


def load_model(
    source: str,
    model: DictConfig,
    loader: Any,
    family_fixes: dict[str, Any] | None = None,
    **task_kwargs: Any,
) -> tuple[Any, list[str]]:
    """`loader.from_pretrained` (the task's `AutoModelFor<Task>`, or its own head's loader),
    from safetensors only unless `model.use_safetensors=false` (pickled `.bin` weights can
    run code on load). Returns the model and its new top-level modules outside the
    pretrained body (the head ...: what must train and be saved beside an adapter)."""
    safetensors_only = bool(model.get("use_safetensors", True))
    local = Path(source)
    if safetensors_only and local.is_dir() and not any(local.glob("*.safetensors")):
        raise FtlabError(
            f"model '{source}' has no .safetensors weights; ftlab loads only safetensors by "
            "default (pickled .bin files can run code): convert them, or set "
            "model.use_safetensors=false if you trust the files"
        )
    loaded, info = loader.from_pretrained(
        source,
        revision=model.get("revision"),
        trust_remote_code=bool(model.trust_remote_code),
        ignore_mismatched_sizes=bool(model.ignore_mismatched_sizes),
        use_safetensors=safetensors_only or None,
        output_loading_info=True,
        # the family's fixes (a pad token id ...), then `model.config` fields (checked by
        # load_model_config; fewer layers than the checkpoint's keep its lowest ones)
        **{**(family_fixes or {}), **config_overrides(model)},
        **task_kwargs,
    )
    new = sorted({key.rsplit(".", 1)[0] for key in info.get("missing_keys") or []})
    if new:  # e.g. a task head, or the MLM head of an encoder saved without one
        log.info(
            "model '%s' has no trained weights for %s: they start from scratch (%s)",
            source,
            ", ".join(new[:4]) + (" ..." if len(new) > 4 else ""),
            type(loaded).__name__,
        )
    return loaded, new_modules(loaded, info.get("missing_keys") or [])


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
    vocabulary = getattr(model_config, "vocab_size", None)
    if isinstance(vocabulary, int) and len(tokenizer) > vocabulary:
        raise FtlabError(
            f"model '{source}': its tokenizer has {len(tokenizer)} tokens but the model's "
            f"embeddings hold {vocabulary}: they do not belong together; give the tokenizer "
            "files of that checkpoint"
        )


# tokenizer files of the usual kinds (fast, WordPiece, BPE, SentencePiece)
_TOKENIZER_FILES = (
    "tokenizer.json",
    "vocab.txt",
    "vocab.json",
    "spiece.model",
    "sentencepiece.bpe.model",
    "spm.model",
    "tokenizer.model",
)
# a model reading its text as mostly unknown tokens learns nothing from it; MiniLM's English
# vocabulary on Chinese reviews reads 63% [UNK] and still learns, so the bar is high
_MOST_UNKNOWN = 0.9
_ROWS_LOOKED_AT = 2000


def check_text_is_read(source: str, tokenizer: Any, train: Any) -> None:
    """The training text is not mostly the unknown token (a model directory without its
    tokenizer files loads an empty tokenizer that maps every word to it)."""
    unknown = tokenizer.unk_token_id
    if unknown is None or "input_ids" not in train.column_names or len(train) == 0:
        return
    special = set(tokenizer.all_special_ids) - {unknown}
    rows = train.select(range(min(len(train), _ROWS_LOOKED_AT)))["input_ids"]
    tokens = [token for row in rows for token in row if token not in special]
    share = sum(token == unknown for token in tokens) / max(1, len(tokens))
    if share < _MOST_UNKNOWN:
        return
    missing = ""
    if Path(source).is_dir() and not any((Path(source) / f).is_file() for f in _TOKENIZER_FILES):
        missing = f" ({source} holds none of the tokenizer files: {', '.join(_TOKENIZER_FILES)})"
    raise FtlabError(
        f"the tokenizer of '{source}' reads {share:.0%} of the training text as its unknown "
        f"token {tokenizer.unk_token}{missing}; put the checkpoint's tokenizer files beside "
        "its weights, or choose a model whose vocabulary covers the text"
    )
