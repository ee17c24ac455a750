"""Length-grouped training batches in a random order (`train_sampling_strategy=group_by_length`).

The Trainer's `LengthGroupedSampler` cuts a random permutation into mega-batches of 50
batches and sorts each one by length, longest first, so training walks from the longest
examples to the shortest every 50 steps. Its batches are kept here (the same examples
together, the same padding saved) and only their order is drawn at random.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from transformers.trainer_pt_utils import LengthGroupedSampler, get_length_grouped_indices


class ShuffledLengthGroups(LengthGroupedSampler):
    """`LengthGroupedSampler`'s batches, each whole, in a random order (the last, partial
    one stays last: elsewhere it would shift every later batch's boundaries)."""

    def __iter__(self) -> Iterator[int]:
        size = self.batch_size
        indices = get_length_grouped_indices(self.lengths, size, generator=self.generator)
        batches = [indices[i : i + size] for i in range(0, len(indices), size)]
        whole = len(indices) // size
        order = torch.randperm(whole, generator=self.generator).tolist()
        return iter([i for b in [*order, *range(whole, len(batches))] for i in batches[b]])


def shuffled(sampler: LengthGroupedSampler) -> ShuffledLengthGroups:
    """The Trainer's length-grouped sampler with its batches in a random order."""
    return ShuffledLengthGroups(
        sampler.batch_size, lengths=sampler.lengths, generator=sampler.generator
    )
