"""Batch sources for the training loop: an ``AsrDataset`` + ``BucketBatchSampler`` -> padded batches of one rank
for one epoch, resumable at any batch (the skipped batches are never loaded), with an optional in-memory fbank
cache for runs where the fbank is deterministic.

Reference: PyTorch ``DataLoader(batch_sampler=...)``; icefall's resumable samplers (skip what was consumed).
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Iterator, Sequence

import torch
from torch.utils.data import DataLoader

__all__ = ["CachedDataset", "LoaderSource", "TokenResampler"]

LOG = logging.getLogger("cifst.train")


class CachedDataset:
    """Wraps a dataset and keeps each item after its first load (only valid when items are deterministic).

    Args:
        dataset: Map-style dataset of ``{"feats": tensor, "tokens": tensor, ...}`` items (or ``None``).
        max_bytes: Stop adding items once the cached tensors hold this many bytes (``None``: no limit). Items
            already cached stay; later ones are loaded on every use. A fixed set beats a recency policy here:
            batches visit items in a new random order each epoch, so any eviction would miss as often as it hits.

    With ``num_workers > 0`` each worker holds its own cache for the life of the worker.
    """

    def __init__(self, dataset, max_bytes: int | None = None):
        self.dataset = dataset
        self.max_bytes = max_bytes
        self.nbytes = 0
        self.full = False
        self._cache: dict[int, dict | None] = {}

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int):
        if index in self._cache:
            return self._cache[index]
        item = self.dataset[index]
        if not self.full:
            size = _item_bytes(item)
            if self.max_bytes is not None and self.nbytes + size > self.max_bytes:
                self.full = True
                LOG.warning(
                    "fbank cache full at %.2f GB (train.cache_max_gb) after %d of %d utterances; the rest are "
                    "read and computed on every use",
                    self.nbytes / 1e9,
                    len(self._cache),
                    len(self.dataset),
                )
            else:
                self._cache[index] = item
                self.nbytes += size
        return item

    def set_epoch(self, epoch: int) -> None:
        if hasattr(self.dataset, "set_epoch"):
            self.dataset.set_epoch(epoch)


class TokenResampler:
    """Wraps a dataset and redraws each item's ``tokens`` on every use, e.g. a BPE-dropout segmentation
    (:class:`asr.text.bpe_dropout.BpeDropout`) of the canonical tokens.

    Args:
        dataset: Map-style dataset of ``{"tokens": int64 tensor, ...}`` items (or ``None``); its items are not
            modified (a :class:`CachedDataset` keeps the canonical tokens).
        resample: ``(token ids, random.Random) -> token ids``.
        seed: With the epoch and the item index, seeds the draw, so an item gets the same tokens in an epoch
            whichever rank, worker or resumed run loads it, and new ones in the next epoch.
    """

    def __init__(self, dataset, resample: Callable[[Sequence[int], random.Random], list[int]], seed: int):
        self.dataset = dataset
        self.resample = resample
        self.seed = seed
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int):
        item = self.dataset[index]
        if item is None:
            return None
        rng = random.Random(f"{self.seed}/{self.epoch}/{index}")
        tokens = self.resample(item["tokens"].tolist(), rng)
        return {**item, "tokens": torch.tensor(tokens, dtype=torch.int64)}

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch
        if hasattr(self.dataset, "set_epoch"):
            self.dataset.set_epoch(epoch)


def _item_bytes(item) -> int:
    """Bytes held by the tensors of one dataset item (0 for ``None``)."""
    if not item:
        return 0
    return sum(v.numel() * v.element_size() for v in item.values() if isinstance(v, torch.Tensor))


class LoaderSource:
    """A :class:`asr.train.loop.BatchSource` over a map-style dataset and a batch sampler.

    Args:
        dataset: Items for ``collate_fn`` (``AsrDataset`` or :class:`CachedDataset`).
        batch_sampler: Has ``set_epoch``, ``__len__`` and yields lists of indices (``BucketBatchSampler``).
        collate_fn: List of items -> batch dict (``collate_asr``).
        num_workers: DataLoader workers.
        seed: Seed of the DataLoader's own generator (kept apart from the global RNG so that creating an iterator
            mid-epoch after a resume draws nothing from it).
    """

    def __init__(self, dataset, batch_sampler, collate_fn, num_workers: int = 0, seed: int = 0):
        self.dataset = dataset
        self.batch_sampler = batch_sampler
        self.collate_fn = collate_fn
        self.num_workers = num_workers
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch
        self.batch_sampler.set_epoch(epoch)
        if hasattr(self.dataset, "set_epoch"):
            self.dataset.set_epoch(epoch)

    def num_batches(self) -> int:
        return len(self.batch_sampler)

    def iterate(self, skip: int = 0) -> Iterator[dict]:
        """This epoch's batches after the first ``skip``; batches whose items all failed to load are dropped
        (with the dataset's warning) unless that would leave the step count short, see ``Trainer``."""
        batches = list(self.batch_sampler)[skip:]
        if not batches:
            return iter(())
        gen = torch.Generator().manual_seed(self.seed * 100003 + self.epoch)
        loader = DataLoader(
            self.dataset,
            batch_sampler=batches,
            collate_fn=self.collate_fn,
            num_workers=self.num_workers,
            generator=gen,
            persistent_workers=False,
        )
        return iter(loader)
