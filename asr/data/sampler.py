"""Length-bucketed batches for one rank: utterance lengths -> lists of dataset indices whose padded size
(``longest * count``) stays under ``max_frames``, shuffled per epoch, split over ``num_replicas`` ranks.

Each epoch the indices are ordered by length bucket (buckets 10 % wide on a log scale, random order inside a
bucket, so batch composition changes between epochs while padding stays low), cut greedily into batches, and the
batch order is shuffled with ``seed + epoch``. The batch list is the same on every rank; rank ``r`` takes batches
``r, r + R, r + 2R, ...``. As with ``torch.utils.data.DistributedSampler``, every rank gets the same number of
batches: the list is padded by repeating batches from its start (``drop_last=False``) or cut to a multiple of
``R`` (``drop_last=True``), so no rank waits at an all-reduce for a batch that never comes.

With ``shard_items=True`` the items are split over the ranks once, not each epoch: rank ``r`` owns items
``r, r + R, r + 2R, ...`` (:func:`rank_items`, the same split as the DDP CMVN pass) and batches only those, in a
new order each epoch. A rank's in-memory fbank cache then holds its own share of the corpus instead of all of it,
and the CMVN pass can fill it. Ranks whose shares cut into different numbers of batches are evened out the same way
(repeat from the start, or cut to the smallest count with ``drop_last``).

With ``sync_ranks=True`` the batches the ranks run at the same step come from the same length range. Under DDP
every update waits at the gradient all-reduce for the slowest rank, and batches of the same padded frames differ
in cost with their shape (many short utterances or a few long ones), so independently shuffled ranks can lose time
at every step. Synced, each rank's batches are kept in length order and one permutation shared by all ranks shuffles the
steps: step ``k`` takes the batch at the same length quantile on every rank. Items, batches and the shuffle of
items inside a bucket are as before; only the pairing of batches across ranks changes. On the 58-hour synthetic
corpus with two CPU ranks (``tools/bench/ddp_batches.py``, docs/benchmarks/models.md) independent ranks lose only
~3% of an update to straggling, synced ~1.4%, and real runs showed no gain within their noise; the trainer keeps
it off unless ``train.sync_batch_lengths`` asks for it.

Reference: PyTorch ``DistributedSampler`` (padding, ``set_epoch``); icefall/lhotse ``DynamicBucketingSampler``
(duration-capped batches from length buckets); NeMo's ``bucketing_strategy: synced_randomized`` (every rank draws
its batches from the same bucket at the same step).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence

import numpy as np

__all__ = ["BucketBatchSampler", "make_batches", "rank_items"]


def rank_items(num_items: int, rank: int, num_replicas: int) -> np.ndarray:
    """The item indices rank ``rank`` of ``num_replicas`` owns when items are sharded: every ``num_replicas``-th
    from ``rank``."""
    return np.arange(rank, num_items, num_replicas, dtype=np.int64)


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
        shard_items: Give each rank a fixed share of the items (:func:`rank_items`) instead of a new share of the
            batches each epoch.
        sync_ranks: Give the ranks batches of the same length range at each step (see the module docstring);
            no effect with one rank.
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
        shard_items: bool = False,
        sync_ranks: bool = False,
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
        self.shard_items = shard_items and num_replicas > 1
        self.sync_ranks = sync_ranks and num_replicas > 1 and shuffle
        self.epoch = 0
        self._cache: tuple[int, list[list[int]]] | None = None
        self._rank_cache: tuple[int, list[list[int]]] | None = None

    def set_epoch(self, epoch: int) -> None:
        """Change the shuffle of the next ``__iter__`` (call it at the start of every epoch, on every rank)."""
        self.epoch = epoch

    def all_batches(self) -> list[list[int]]:
        """This epoch's batches for all ranks, before padding/splitting (computed once per epoch); with
        ``shard_items``, every rank's own batches one after another."""
        if self._cache is not None and self._cache[0] == self.epoch:
            return self._cache[1]
        if self.shard_items:
            batches = [b for r in range(self.num_replicas) for b in self._shard_batches(r)]
        elif self.sync_ranks:
            batches = self._synced_batches()
        else:
            batches = self._batch(
                np.arange(len(self.lengths)), np.random.default_rng([self.seed, self.epoch])
            )
        self._cache = (self.epoch, batches)
        return batches

    def _batch(
        self, items: np.ndarray, rng: np.random.Generator | None, shuffle_batches: bool = True
    ) -> list[list[int]]:
        """Bucket, batch and (with ``shuffle``) shuffle the given items; with ``shuffle_batches=False`` the
        batches stay in length order (shortest bucket first), their items still drawn at random in a bucket."""
        if len(items) == 0:
            return []
        lengths = self.lengths[items]
        if self.shuffle:
            bucket = np.floor(np.log(np.maximum(lengths, 1)) / math.log1p(self.bucket_width)).astype(np.int64)
            order = items[np.lexsort((rng.permutation(len(items)), bucket))]  # by bucket, random inside
        else:
            order = items[np.lexsort((items, lengths))]
        batches = make_batches(self.lengths, order, self.max_frames, self.max_batch)
        if self.shuffle and shuffle_batches:
            batches = [batches[i] for i in rng.permutation(len(batches))]
        return batches

    def _synced_batches(self) -> list[list[int]]:
        """``sync_ranks`` without sharding: the length-ordered batches, evened out to a multiple of the ranks
        (batches at random places repeated next to themselves, or dropped with ``drop_last``), cut into groups of
        ``num_replicas`` neighbours, and the groups shuffled; rank ``r`` then takes the ``r``-th of each group."""
        reps = self.num_replicas
        rng = np.random.default_rng([self.seed, self.epoch])
        batches = self._batch(np.arange(len(self.lengths)), rng, shuffle_batches=False)
        if not batches:
            return []
        extra = len(batches) % reps
        if extra and self.drop_last:
            gone = set(rng.choice(len(batches), extra, replace=False).tolist())
            batches = [b for i, b in enumerate(batches) if i not in gone]
        elif extra:
            again = set(rng.choice(len(batches), reps - extra, replace=len(batches) < reps - extra).tolist())
            batches = [c for i, b in enumerate(batches) for c in ([b, b] if i in again else [b])]
            batches = batches + batches[: (-len(batches)) % reps]  # fewer batches than ranks
        groups = [batches[i : i + reps] for i in range(0, len(batches), reps)]
        return [b for g in rng.permutation(len(groups)) for b in groups[g]]

    def _shard_batches(self, rank: int) -> list[list[int]]:
        """The batches of one rank's own items this epoch, before evening out (in length order with
        ``sync_ranks``)."""
        rng = np.random.default_rng([self.seed, self.epoch, rank])
        items = rank_items(len(self.lengths), rank, self.num_replicas)
        return self._batch(items, rng, shuffle_batches=not self.sync_ranks)

    def _rank_batches(self) -> list[list[int]]:
        if self._rank_cache is not None and self._rank_cache[0] == self.epoch:
            return self._rank_cache[1]
        reps = self.num_replicas
        if self.shard_items:
            per_rank = [self._shard_batches(r) for r in range(reps)]
            target = min(map(len, per_rank)) if self.drop_last else max(map(len, per_rank))
            own = per_rank[self.rank]
            if self.sync_ranks and own:
                # one permutation of the steps for all ranks; step k takes every rank's batch at the same length
                # quantile (a rank with more or fewer batches than the target skips or repeats evenly spaced ones)
                steps = np.random.default_rng([self.seed, self.epoch]).permutation(target)
                batches = [own[int(k) * len(own) // target] for k in steps]
            else:
                batches = [own[i % len(own)] for i in range(target)] if own else []  # repeat from the start
        else:
            batches = list(self.all_batches())
            if batches:
                if self.drop_last:
                    batches = batches[: len(batches) - len(batches) % reps]
                else:
                    pad = (-len(batches)) % reps
                    batches = batches + [batches[i % len(batches)] for i in range(pad)]
                batches = batches[self.rank :: reps]
        self._rank_cache = (self.epoch, batches)
        return batches

    def __iter__(self) -> Iterator[list[int]]:
        return iter(self._rank_batches())

    def __len__(self) -> int:
        """Batches this rank yields this epoch (equal on all ranks)."""
        if self.shard_items:
            return len(self._rank_batches())
        total = len(self.all_batches())
        if self.drop_last:
            return total // self.num_replicas
        return math.ceil(total / self.num_replicas)
