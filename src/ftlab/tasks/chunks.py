"""Long documents as overlapping chunks (`task.long_document=chunks`): each text is split
into windows of `max_seq_length` tokens with `chunk_stride` tokens of overlap by the
tokenizer's own overflow support, every chunk carries its document's label(s), and a
document is scored by aggregating its chunks' logits (`chunk_aggregation=mean|max`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ftlab.errors import FtlabError

LONG_DOCUMENT = ("truncate", "chunks")
AGGREGATIONS = ("mean", "max")
DOCUMENT = "document"  # the column of a chunk's document (its row in the split)
MAPPING = "overflow_to_sample_mapping"  # the tokenizer's chunk -> input row
CHUNKS_FILE = "chunks.json"


def check_chunking(long_document: str, stride: int, aggregation: str, max_length: int) -> None:
    if long_document not in LONG_DOCUMENT:
        raise FtlabError(
            f"task.long_document must be one of {', '.join(LONG_DOCUMENT)}, got {long_document!r}"
        )
    if aggregation not in AGGREGATIONS:
        raise FtlabError(
            f"task.chunk_aggregation must be one of {', '.join(AGGREGATIONS)}, got {aggregation!r}"
        )
    # the tokenizer needs room for new tokens in every window beside the overlap
    if long_document == "chunks" and not 0 <= stride < max_length // 2:
        raise FtlabError(
            f"task.chunk_stride={stride} must be at least 0 and below half of "
            f"task.max_seq_length={max_length} (the overlap between consecutive chunks)"
        )


def encode_chunks(tokenizer: Any, texts: list[str], max_length: int, stride: int) -> Any:
    """Token ids of every chunk of every text, and `overflow_to_sample_mapping`: the text
    each chunk belongs to."""
    encoded = tokenizer(
        texts,
        truncation=True,
        max_length=max_length,
        stride=stride,
        return_overflowing_tokens=True,
    )
    if MAPPING not in encoded:
        raise FtlabError(
            "task.long_document=chunks needs a fast tokenizer (its overflow mapping); this "
            "model's tokenizer is a slow one: choose a model with a tokenizer.json"
        )
    return encoded


def chunk_rows(encoded: Any, rows: int) -> list[int]:
    """The input row of each encoded sequence (one each, unless chunked)."""
    return list(encoded.pop(MAPPING)) if MAPPING in encoded else list(range(rows))


def aggregate(logits: np.ndarray, documents: np.ndarray, how: str) -> np.ndarray:
    """One row of logits per document (in document order) from its chunks' rows."""
    order = np.unique(documents)
    pick = np.mean if how == "mean" else np.max
    return np.stack([pick(logits[documents == d], axis=0) for d in order])


def first_of_each(values: np.ndarray, documents: np.ndarray) -> np.ndarray:
    """A document's value (its label) from its first chunk's row."""
    _, first = np.unique(documents, return_index=True)
    return values[first]


def chunk_counts(documents: dict[str, np.ndarray]) -> dict[str, dict[str, float]]:
    """Per split: documents, chunks, chunks per document (mean, max)."""
    record = {}
    for name, column in documents.items():
        per_document = np.bincount(column)
        record[name] = {
            "documents": len(per_document),
            "chunks": len(column),
            "mean_chunks_per_document": round(float(per_document.mean()), 2),
            "max_chunks_per_document": int(per_document.max()),
        }
    return record
