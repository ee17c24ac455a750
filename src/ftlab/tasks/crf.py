"""A CRF head for token classification (`model.head=crf`), from pytorch-crf (`torchcrf`).

The model is the checkpoint's own `...ForTokenClassification` class with a `crf` layer
beside its classifier: the classifier's logits are the CRF's emissions, the loss is the
CRF's negative log-likelihood of the gold tag sequence, and at evaluation and prediction
time the tags are the Viterbi path. The CRF runs over the scored positions only (each
word's first piece, in the window that owns it: the `scored_mask` input the task adds), so
its transitions are between words, not between pieces of one word.

Because the class is a subclass of the checkpoint's own, the Trainer saves, checkpoints
and reloads it like any transformers model (the `crf.*` weights sit beside the
others in model.safetensors), and `AutoModelForTokenClassification` still loads a saved
run as a plain softmax tagger on the same weights (it ignores `crf.*`).

In evaluation the logits are the emissions' log-probabilities with each scored position's
Viterbi tag swapped to the top (the tag that had the top value takes the Viterbi tag's):
everything downstream that takes an argmax (seqeval scores, predictions.conll,
ftlab.predict) reads the Viterbi path, and a probability stays the tagger's own.
"""

from __future__ import annotations

import functools
import inspect
from typing import Any

from ftlab.errors import FtlabError

# the model input that marks the positions the CRF scores (1) and skips (0)
SCORED_MASK = "scored_mask"
INSTALL_HINT = "model.head=crf needs pytorch-crf: pip install 'ftlab[crf]' (or pytorch-crf)"


def _crf_layer(num_tags: int) -> Any:
    try:
        from torchcrf import CRF
    except ImportError as exc:
        raise FtlabError(INSTALL_HINT) from exc
    return CRF(num_tags, batch_first=True)


def check_installed() -> None:
    """One line before any loading when pytorch-crf is missing."""
    _crf_layer(1)


class CrfHead:
    """Mixed in before a transformers `...ForTokenClassification` class (see `crf_class`)."""

    def __init__(self, config: Any, *args: Any, **kwargs: Any) -> None:
        super().__init__(config, *args, **kwargs)
        self.crf = _crf_layer(config.num_labels)
        _reset(self.crf)

    def _init_weights(self, module: Any) -> None:
        # transformers initialises weights the checkpoint lacks through this hook (with
        # torch.nn.init switched off while the model is built): start the CRF neutral,
        # all transitions 0, so it begins as the softmax tagger it sits on
        from torchcrf import CRF

        if isinstance(module, CRF):
            _reset(module)
        else:
            super()._init_weights(module)

    def crf_forward(self, scored_mask: Any, *args: Any, **kwargs: Any) -> Any:
        if scored_mask is None:  # before the encoder runs, not after
            raise FtlabError(
                f"model.head=crf: the model got no '{SCORED_MASK}' input; tokenize with the "
                "run's task (ftlab.predict does), which marks the positions the CRF scores"
            )
        labels = kwargs.pop("labels", None)
        outputs = super().forward(*args, **kwargs)  # no labels: no cross-entropy
        packed = Packed(outputs.logits, scored_mask.bool())
        loss = None if labels is None else self.crf_loss(packed, labels)
        logits = (
            outputs.logits if self.training else viterbi_logits(self.crf, outputs.logits, packed)
        )
        # a new output, so the loss is its first field (as the Trainer and to_tuple expect)
        return type(outputs)(**{**outputs, "loss": loss, "logits": logits})

    def crf_loss(self, packed: Packed, labels: Any) -> Any:
        """The negative log-likelihood of the gold paths, per scored word (the scale of the
        softmax head's token-mean cross-entropy); rows that score no word add nothing."""
        tags = labels.gather(1, packed.index).masked_fill(~packed.mask, 0)
        log_likelihood = self.crf(packed.emissions, tags, packed.crf_mask, reduction="none")
        words = packed.mask.sum().clamp(min=1)
        return -(log_likelihood * packed.any_scored).sum() / words


def _reset(crf: Any) -> None:
    import torch

    with torch.no_grad():
        for parameter in (crf.start_transitions, crf.end_transitions, crf.transitions):
            parameter.zero_()


class Packed:
    """Each row's scored positions moved to its front: `emissions` (batch x words x tags),
    `index` (each word's position in the row), `mask` (real words), and what torchcrf needs
    (its mask must hold the first step of every row, so a row without words gets one)."""

    def __init__(self, emissions: Any, scored: Any) -> None:
        import torch

        counts = scored.sum(dim=1)
        width = max(int(counts.max()), 1) if len(counts) else 1
        # stable: the scored positions first, in their order
        order = torch.argsort((~scored).to(torch.int8), dim=1, stable=True)
        self.index = order[:, :width]
        self.mask = torch.arange(width, device=scored.device)[None, :] < counts[:, None]
        tags = emissions.shape[-1]
        self.emissions = emissions.gather(1, self.index[..., None].expand(-1, -1, tags))
        self.any_scored = counts > 0
        self.crf_mask = self.mask.clone()
        self.crf_mask[:, 0] = True


def viterbi_logits(crf: Any, emissions: Any, packed: Packed) -> Any:
    """Log-probabilities with the Viterbi tag on top at every scored position (a swap with
    the tag that was on top, so the distribution's values stay the emissions')."""
    import torch

    logits = torch.log_softmax(emissions.float(), dim=-1)
    paths = crf.decode(packed.emissions, packed.crf_mask)
    path = torch.zeros_like(packed.index)
    for row, tags in enumerate(paths):
        path[row, : len(tags)] = torch.tensor(tags, device=path.device)
    rows, steps = (packed.mask & packed.any_scored[:, None]).nonzero(as_tuple=True)
    positions = packed.index[rows, steps]
    chosen = path[rows, steps]
    values = logits[rows, positions]  # (scored words x tags)
    top = values.argmax(dim=-1)
    words = torch.arange(len(values), device=values.device)
    top_value, chosen_value = values[words, top].clone(), values[words, chosen].clone()
    values[words, top] = chosen_value
    values[words, chosen] = top_value
    logits[rows, positions] = values
    return logits.to(emissions.dtype)


@functools.cache
def crf_class(base: type) -> type:
    """`Crf<Base>`: the checkpoint's token-classification class with the CRF head, whose
    `forward` takes `scored_mask` besides the base's inputs (the Trainer keeps the columns
    that `forward`'s signature names)."""
    signature = inspect.signature(base.forward)
    parameters = list(signature.parameters.values())
    extra = inspect.Parameter(SCORED_MASK, inspect.Parameter.KEYWORD_ONLY, default=None)
    variadic = [p for p in parameters if p.kind is inspect.Parameter.VAR_KEYWORD]
    named = [p for p in parameters if p.kind is not inspect.Parameter.VAR_KEYWORD]

    def forward(self: Any, *args: Any, scored_mask: Any = None, **kwargs: Any) -> Any:
        return self.crf_forward(scored_mask, *args, **kwargs)

    forward.__signature__ = signature.replace(parameters=[*named, extra, *variadic])
    return type(f"Crf{base.__name__}", (CrfHead, base), {"forward": forward})


class CrfTokenClassification:
    """What `from_pretrained` is called on for `model.head=crf`: it finds the checkpoint's
    token-classification class (as `AutoModelForTokenClassification` would) and loads
    `Crf<That class>` from it."""

    @staticmethod
    def from_pretrained(source: Any, *args: Any, **kwargs: Any) -> Any:
        from transformers import AutoConfig, AutoModelForTokenClassification

        config = AutoConfig.from_pretrained(
            source,
            revision=kwargs.get("revision"),
            trust_remote_code=bool(kwargs.get("trust_remote_code")),
        )
        try:
            base = AutoModelForTokenClassification._model_mapping[type(config)]
        except KeyError as exc:
            raise FtlabError(
                f"model '{source}' ({config.model_type}) has no token-classification class in "
                "transformers, so model.head=crf cannot sit on it"
            ) from exc
        return crf_class(base).from_pretrained(source, *args, **kwargs)


def scored_masks(labels: list[list[int]], ignore: int) -> list[list[int]]:
    """The CRF's positions of tokenized training data: where a label is."""
    return [[int(label != ignore) for label in row] for row in labels]


class PadScoredMask:
    """A collator wrapper: `scored_mask` padded with 0 to the batch's length (the
    tokenizer's `pad` leaves keys it does not know unpadded)."""

    def __init__(self, collator: Any) -> None:
        self.collator = collator

    def __call__(self, features: list[dict[str, Any]]) -> dict[str, Any]:
        import torch

        masks = [list(f[SCORED_MASK]) for f in features]
        batch = self.collator([{k: v for k, v in f.items() if k != SCORED_MASK} for f in features])
        width = batch["input_ids"].shape[1]
        side = getattr(getattr(self.collator, "tokenizer", None), "padding_side", "right")
        padded = [
            m + [0] * (width - len(m)) if side == "right" else [0] * (width - len(m)) + m
            for m in masks
        ]
        batch[SCORED_MASK] = torch.tensor(padded, dtype=torch.long)
        return batch
