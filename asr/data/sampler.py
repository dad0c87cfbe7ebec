"""Length-bucketed batches for one rank: utterance lengths -> lists of dataset indices whose padded size
(``longest * count``) stays under ``max_frames``, shuffled per epoch, split over ``num_replicas`` ranks.

Each epoch the indices are ordered by length bucket (buckets 10 % wide on a log scale, random order inside a
bucket, so batch composition changes between epochs while padding stays low), cut greedily into batches, and the
batch order is shuffled with ``seed + epoch``. The batch list is the same on every rank; rank ``r`` takes batches
``r, r + R, r + 2R, ...``. As with ``torch.utils.data.DistributedSampler``, every rank gets the same number of
batches: the list is padded by repeating batches from its start (``drop_last=False``) or cut to a multiple of
``R`` (``drop_last=True``), so no rank waits at an all-reduce for a batch that never comes.

Reference: PyTorch ``DistributedSampler`` (padding, ``set_epoch``); icefall/lhotse ``DynamicBucketingSampler``
(duration-capped batches from length buckets).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence

import numpy as np

__all__ = ["BucketBatchSampler", "make_batches"]


def make_batches(
    lengths: np.ndarray, order: np.ndarray, max_frames: int, max_batch: int = 0
) -> list[list[int]]:
    """Cut ``order`` greedily into batches with ``max(len) * count <= max_frames`` (and ``count <= max_batch``).

    An item longer than ``max_frames`` forms a batch of its own.

    Args:
        lengths: int ``[N]`` frames per item.
        order: int ``[N']`` item indices in the order to batch them.
        max_frames: Cap on padded frames per batch.
        max_batch: Cap on items per batch, 0 for none.

    Returns:
        Batches as lists of item indices.
    """
    batches: list[list[int]] = []
    cur: list[int] = []
    longest = 0
    for i in order.tolist():
        n = int(lengths[i])
        new_longest = max(longest, n)
        too_many = max_batch > 0 and len(cur) >= max_batch
        if cur and (new_longest * (len(cur) + 1) > max_frames or too_many):
            batches.append(cur)
            cur, new_longest = [], n
        cur.append(i)
        longest = new_longest
    if cur:
        batches.append(cur)
    return batches


class BucketBatchSampler:
    """Batch sampler (for ``DataLoader(batch_sampler=...)``) with DistributedSampler semantics.

    Args:
        lengths: Frames (or any length unit) per dataset item.
        max_frames: Cap on ``longest * batch_size`` per batch, in the same unit.
        shuffle: Shuffle within buckets and the batch order each epoch (off: sorted by length, fixed).
        seed: Base seed; the same on all ranks.
        num_replicas: Number of ranks (``world_size``).
        rank: This rank.
        drop_last: Drop the last batches instead of repeating batches to even out the ranks.
        max_batch: Cap on items per batch, 0 for none.
        bucket_width: Relative width of a length bucket (0.1 = 10 %).
    """

    def __init__(
        self,
        lengths: Sequence[int] | np.ndarray,
        max_frames: int,
        shuffle: bool = True,
        seed: int = 0,
        num_replicas: int = 1,
        rank: int = 0,
        drop_last: bool = False,
        max_batch: int = 0,
        bucket_width: float = 0.1,
    ):
        if num_replicas < 1 or not 0 <= rank < num_replicas:
            raise ValueError(f"rank {rank} is not in [0, num_replicas={num_replicas})")
        if max_frames <= 0:
            raise ValueError(f"max_frames must be positive, got {max_frames}")
        self.lengths = np.asarray(lengths, dtype=np.int64)
        self.max_frames = int(max_frames)
        self.shuffle = shuffle
        self.seed = seed
        self.num_replicas = num_replicas
        self.rank = rank
        self.drop_last = drop_last
        self.max_batch = max_batch
        self.bucket_width = bucket_width
        self.epoch = 0
        self._cache: tuple[int, list[list[int]]] | None = None

    def set_epoch(self, epoch: int) -> None:
        """Change the shuffle of the next ``__iter__`` (call it at the start of every epoch, on every rank)."""
        self.epoch = epoch

    def all_batches(self) -> list[list[int]]:
        """This epoch's batches for all ranks, before padding/splitting (computed once per epoch)."""
        if self._cache is not None and self._cache[0] == self.epoch:
            return self._cache[1]
        batches = self._make_all_batches()
        self._cache = (self.epoch, batches)
        return batches

    def _make_all_batches(self) -> list[list[int]]:
        n = len(self.lengths)
        if n == 0:
            return []
        bucket = np.floor(np.log(np.maximum(self.lengths, 1)) / math.log1p(self.bucket_width)).astype(
            np.int64
        )
        if self.shuffle:
            rng = np.random.default_rng([self.seed, self.epoch])
            noise = rng.permutation(n)
            order = np.lexsort((noise, bucket))  # by bucket, random inside
        else:
            rng = None
            order = np.lexsort((np.arange(n), self.lengths))
        batches = make_batches(self.lengths, order, self.max_frames, self.max_batch)
        if rng is not None:
            batches = [batches[i] for i in rng.permutation(len(batches))]
        return batches

    def _rank_batches(self) -> list[list[int]]:
        batches = list(self.all_batches())
        reps = self.num_replicas
        if not batches:
            return []
        if self.drop_last:
            batches = batches[: len(batches) - len(batches) % reps]
        else:
            pad = (-len(batches)) % reps
            batches = batches + [batches[i % len(batches)] for i in range(pad)]
        return batches[self.rank :: reps]

    def __iter__(self) -> Iterator[list[int]]:
        return iter(self._rank_batches())

    def __len__(self) -> int:
        """Batches this rank yields this epoch (equal on all ranks)."""
        total = len(self.all_batches())
        if self.drop_last:
            return total // self.num_replicas
        return math.ceil(total / self.num_replicas)
