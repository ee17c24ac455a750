"""Length-grouped training batches in a random order (`train_sampling_strategy=group_by_length`).

The Trainer's `LengthGroupedSampler` cuts a random permutation into mega-batches of up to
50 batches and sorts each one by length, longest first, so training walks from the longest
examples to the shortest every 50 steps. Its batches are kept here (the same examples
together, the same padding saved) and only their order is drawn at random.
`trainer.length_group_batches` sets the mega-batch's size in batches: fewer keep each batch
closer to a random draw (2: the longer or the shorter half of 64 random rows) and save less
padding.

With labels per token (NER), a batch's loss is the mean over its labelled tokens, so a
token in a batch of short rows would weigh several times what one in a batch of long rows
does; random batches hold about as many tokens each, grouped ones do not. Grouped training
therefore divides each batch's summed token loss by the labelled tokens an average batch of
as many rows holds (`expected_items`): every token weighs alike, as with random batches.
(The CRF head's loss is a mean per scored word too.) Measured on CoNLL-2003
(experiments/RESULTS.md): 0.6-0.7 dev F1 back at each group size, and groups of 2 then match
random batches over 3 seeds.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch
from transformers.trainer_pt_utils import LengthGroupedSampler, get_length_grouped_indices

from ftlab.tasks.alignment import IGNORE


class ShuffledLengthGroups(LengthGroupedSampler):
    """`LengthGroupedSampler`'s batches, each whole, in a random order (the last, partial
    one stays last: elsewhere it would shift every later batch's boundaries); `group_batches`
    batches are sorted by length together (None: the Trainer's choice, up to 50)."""

    def __init__(self, *args: Any, group_batches: int | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.group_batches = group_batches

    def __iter__(self) -> Iterator[int]:
        size = self.batch_size
        indices = get_length_grouped_indices(
            self.lengths, size, mega_batch_mult=self.group_batches, generator=self.generator
        )
        batches = [indices[i : i + size] for i in range(0, len(indices), size)]
        whole = len(indices) // size
        order = torch.randperm(whole, generator=self.generator).tolist()
        return iter([i for b in [*order, *range(whole, len(batches))] for i in batches[b]])


def labelled_per_row(dataset: Any) -> float | None:
    """The mean number of labelled positions (labels other than IGNORE) per training row,
    where labels come per token; None where a row has one label (or a multi-hot vector),
    whose batch mean already weighs every row alike."""
    if dataset is None or "labels" not in getattr(dataset, "column_names", ()) or not len(dataset):
        return None
    first = dataset[0]["labels"]  # the whole column is read only for labels per token
    if not isinstance(first, list) or not all(isinstance(x, int) for x in first):
        return None
    labels = dataset["labels"]
    return sum(sum(1 for x in row if x != IGNORE) for row in labels) / len(labels)


def expected_items(per_row: float, rows: int) -> float:
    """The labelled tokens an average batch of `rows` rows holds."""
    return per_row * rows


def shuffled(
    sampler: LengthGroupedSampler, group_batches: int | None = None
) -> ShuffledLengthGroups:
    """The Trainer's length-grouped sampler with its batches in a random order."""
    return ShuffledLengthGroups(
        sampler.batch_size,
        lengths=sampler.lengths,
        generator=sampler.generator,
        group_batches=group_batches,
    )
