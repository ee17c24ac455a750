"""A sentence encoder as the module ftlab.export traces into an ONNX graph.

sentence-transformers' models take a dict of features and return a dict; the exporter (and
its check against PyTorch) calls a transformers-style `forward(input_ids, attention_mask,
...)` that returns `logits`. This wrapper is that: the sentence embedding, pooled and
normalised as the encoder's own modules do, under the name `logits`.
"""

from __future__ import annotations

from typing import Any

import torch
from transformers.modeling_outputs import SequenceClassifierOutput


class SentenceEmbedding(torch.nn.Module):
    def __init__(self, encoder: Any) -> None:
        super().__init__()
        self.encoder = encoder
        self.config = encoder[0].auto_model.config  # which inputs it takes, what is saved

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        token_type_ids: torch.Tensor | None = None,
    ) -> SequenceClassifierOutput:
        features = {"input_ids": input_ids, "attention_mask": attention_mask}
        if token_type_ids is not None:
            features["token_type_ids"] = token_type_ids
        return SequenceClassifierOutput(logits=self.encoder(features)["sentence_embedding"])
