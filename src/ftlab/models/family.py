"""What a model family means to ftlab, asked of the checkpoint itself.

BERT, RoBERTa, DeBERTa, ModernBERT, XLM-R, T5, GPT-2, Llama, Qwen ... differ in a few
answers that every run needs: whether the tokenizer has a pad token (and which to use when
it has none), whether pre-split words need a leading space to be encoded as running text
encodes them (byte-level BPE does), which inputs `forward` uses (token types or not),
where adapters go, and which freshly initialised modules must train and be saved beside an
adapter. Each answer is derived here from the model's config, its tokenizer, its modules
or peft's own defaults; the rest of ftlab asks these functions and never tests a
`model_type`. A new family needs nothing here unless one of the derivations fails for it.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Iterable
from typing import Any

from ftlab.errors import FtlabError

log = logging.getLogger(__name__)

# `model.pad_token` names a special token by its role, or is a token of the vocabulary
PAD_ROLES = ("eos", "unk", "bos")
TOKEN_TYPES = "token_type_ids"
# words whose pieces tell how a tokenizer marks the start of a word (any words would do)
_PROBE = ["Words", "German", "apart"]
_word_prefixes: weakref.WeakKeyDictionary[Any, str] = weakref.WeakKeyDictionary()


# -- the tokenizer --------------------------------------------------------------------------
def ensure_pad_token(tokenizer: Any, pad_token: str | None) -> str | None:
    """Give a tokenizer without a pad token one (GPT-2 and Llama checkpoints ship none):
    `model.pad_token` (default `eos`). Returns the token set, or None where it had one.
    Padding positions are masked out of attention and loss, so which token fills them
    does not matter as long as it is in the vocabulary."""
    if tokenizer.pad_token is not None:
        return None
    choice = pad_token or "eos"
    token = getattr(tokenizer, f"{choice}_token", None) if choice in PAD_ROLES else choice
    known = token is not None and (
        token == tokenizer.unk_token
        or tokenizer.convert_tokens_to_ids(token) not in (None, tokenizer.unk_token_id)
    )
    if not known:
        raise FtlabError(
            f"the tokenizer has no pad token and model.pad_token={choice} "
            f"{'is not a token of its vocabulary' if token else 'names no token it has'}; "
            f"set model.pad_token to one of {', '.join(PAD_ROLES)} or a token of the vocabulary"
        )
    tokenizer.pad_token = token
    log.info("the tokenizer has no pad token: padding with %r (model.pad_token)", token)
    return str(token)


def takes_token_types(model_config: Any) -> bool:
    """Whether the model has token-type embeddings (BERT, ELECTRA: yes; DistilBERT,
    DeBERTa-v3 with type_vocab_size=0, ModernBERT, decoders: no, whatever their
    tokenizer returns)."""
    return int(getattr(model_config, "type_vocab_size", 0) or 0) > 0


def prepare_tokenizer(tokenizer: Any, model_config: Any, pad_token: str | None) -> Any:
    """The tokenizer as a run uses and saves it: with a pad token, padding on the right
    (a decoder checkpoint may ship left padding for generation; absolute positions, as
    GPT-2's, would then move with the padding), returning only the inputs the model uses."""
    ensure_pad_token(tokenizer, pad_token)
    tokenizer.padding_side = "right"
    tokenizer.init_kwargs["padding_side"] = "right"
    if not takes_token_types(model_config) and TOKEN_TYPES in tokenizer.model_input_names:
        names = [n for n in tokenizer.model_input_names if n != TOKEN_TYPES]
        tokenizer.model_input_names = names
        tokenizer.init_kwargs["model_input_names"] = names  # saved with the tokenizer
    return tokenizer


def config_fixes(model_config: Any, tokenizer: Any) -> dict[str, Any]:
    """`from_pretrained` config fields that make the model agree with its tokenizer: the
    pad token id (a sequence-classification head finds each row's last real token by it,
    and refuses batches above 1 without it; Qwen2's config ships without one)."""
    if tokenizer.pad_token_id is not None and model_config.pad_token_id != tokenizer.pad_token_id:
        return {"pad_token_id": tokenizer.pad_token_id}
    return {}


def _pieces(tokenizer: Any, text: str | list[str], split: bool) -> list[str]:
    encoded = tokenizer(text, is_split_into_words=split, add_special_tokens=False)
    return tokenizer.convert_ids_to_tokens(encoded["input_ids"])


def word_prefix(tokenizer: Any) -> str:
    """What goes before each pre-split word so that it is encoded as the same word inside
    running text: "" for WordPiece and SentencePiece tokenizers, " " for byte-level BPE
    (RoBERTa, GPT-2, Llama 3, Qwen, ModernBERT), whose pieces carry the space (`ĠGerman`,
    not `G`, `erman`). Found by encoding a few words both ways."""
    if tokenizer in _word_prefixes:
        return _word_prefixes[tokenizer]
    running = _pieces(tokenizer, " " + " ".join(_PROBE), split=False)
    prefix = ""
    if _pieces(tokenizer, _PROBE, split=True) != running:
        if _pieces(tokenizer, [" " + word for word in _PROBE], split=True) == running:
            prefix = " "
        else:
            log.warning(
                "pre-split words are encoded differently from running text by %s, and a "
                "leading space does not help; words are encoded as given",
                type(tokenizer).__name__,
            )
    _word_prefixes[tokenizer] = prefix
    return prefix


def encode_words(tokenizer: Any, sentences: list[list[str]], **kwargs: Any) -> Any:
    """`tokenizer(sentences, is_split_into_words=True, **kwargs)`, each word encoded as it
    is inside running text (`word_prefix`); `word_ids()` still maps pieces to words."""
    prefix = word_prefix(tokenizer)
    if prefix:
        sentences = [[prefix + word for word in words] for words in sentences]
    return tokenizer(sentences, is_split_into_words=True, **kwargs)


# -- the model ------------------------------------------------------------------------------
def new_modules(model: Any, missing_keys: Iterable[str]) -> list[str]:
    """The top-level modules outside the pretrained body that start from scratch (weights
    missing from the checkpoint): the head (`classifier`, `score`), and whatever else a
    family's head adds (DeBERTa's `pooler`, T5's `classification_head`; ModernBERT's `head`
    where the checkpoint has no masked-LM head). They must train, and be saved beside an
    adapter."""
    body = getattr(model, "base_model_prefix", "")
    return sorted({key.split(".")[0] for key in missing_keys} - {body, ""})


def _linear_names(module: Any) -> set[str]:
    """The last names of the linear layers in `module` (GPT-2's Conv1D counts)."""
    import torch
    from transformers.pytorch_utils import Conv1D

    kinds = (torch.nn.Linear, Conv1D)
    return {name.rsplit(".", 1)[-1] for name, m in module.named_modules() if isinstance(m, kinds)}


def adapter_targets(model: Any, method: str) -> list[str] | None:
    """Where peft's `method` puts adapters: None where peft has defaults for the model's
    type (its own table); else every linear layer of the transformer blocks (what QLoRA
    recipes use), e.g. ModernBERT's Wqkv, Wo, Wi and DistilBERT's q_lin ... lin2."""
    from peft.utils import constants

    table = getattr(
        constants, f"TRANSFORMERS_MODELS_TO_{method.upper()}_TARGET_MODULES_MAPPING", None
    )
    if table is None or model.config.model_type in table:
        return None
    from ftlab.models.layers import blocks

    names = sorted(_linear_names(blocks(model)))
    if not names:
        raise FtlabError(
            f"peft={method}: found no linear layers in the blocks of a "
            f"'{model.config.model_type}' model; set peft.target_modules=[...]"
        )
    log.info(
        "peft has no default %s targets for '%s': all linear layers of its blocks",
        method,
        model.config.model_type,
    )
    return names


def model_inputs(model: Any, names: Iterable[str]) -> list[str]:
    """Which of a batch's `names` the model uses, in `forward`'s order (an exported graph
    takes exactly these: DistilBERT's tokenizer may return token types its forward does not
    take; DeBERTa-v3's forward takes them and ignores them)."""
    import inspect

    order = list(inspect.signature(model.forward).parameters)
    used = [
        n for n in names if n in order and (n != TOKEN_TYPES or takes_token_types(model.config))
    ]
    return sorted(used, key=order.index)


def head_modules(loader: Any, model_config: Any) -> list[str]:
    """The top-level modules a task class adds around the pretrained body (`classifier`,
    `score`, DeBERTa's `pooler`, T5's `classification_head` ...), read from the class built
    on the meta device (no memory, no weights): what 4-bit loading must leave in full
    precision, since it starts from scratch and trains."""
    import torch

    # an Auto class has from_config, a model class (a custom head's loader) _from_config
    build = getattr(loader, "from_config", None) or loader._from_config
    with torch.device("meta"):
        model = build(model_config)
    body = getattr(model, "base_model_prefix", "")
    return sorted(name for name, _ in model.named_children() if name != body)
