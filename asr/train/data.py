"""Batch sources for the training loop: an ``AsrDataset`` + ``BucketBatchSampler`` -> padded batches of one rank
for one epoch, resumable at any batch (the skipped batches are never loaded), with an optional in-memory fbank
cache for runs where the fbank is deterministic.

Reference: PyTorch ``DataLoader(batch_sampler=...)``; icefall's resumable samplers (skip what was consumed).
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch.utils.data import DataLoader

__all__ = ["CachedDataset", "LoaderSource"]


class CachedDataset:
    """Wraps a dataset and keeps each item after its first load (only valid when items are deterministic).

    With ``num_workers > 0`` each worker holds its own cache for the life of the worker.
    """

    def __init__(self, dataset):
        self.dataset = dataset
        self._cache: dict[int, dict | None] = {}

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int):
        if index not in self._cache:
            self._cache[index] = self.dataset[index]
        return self._cache[index]

    def set_epoch(self, epoch: int) -> None:
        if hasattr(self.dataset, "set_epoch"):
            self.dataset.set_epoch(epoch)


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
