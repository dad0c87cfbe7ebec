"""BucketBatchSampler: frame caps respected, every index exactly once across ranks, equal batch counts per rank,
epochs reshuffle deterministically, and it drives a real DataLoader."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from asr.data.sampler import BucketBatchSampler, make_batches


def _lengths(n=203, seed=0):
    return np.random.default_rng(seed).integers(50, 1500, size=n)


def test_frame_cap_and_low_padding():
    lengths = _lengths()
    s = BucketBatchSampler(lengths, max_frames=6000, shuffle=True, seed=1)
    batches = list(s)
    padded = 0
    for b in batches:
        longest = lengths[b].max()
        assert longest * len(b) <= 6000 or len(b) == 1
        padded += longest * len(b) - lengths[b].sum()
    assert padded / lengths.sum() < 0.15  # bucketing keeps padding small
    assert len(batches) == len(s)


def test_oversized_item_gets_its_own_batch():
    assert make_batches(np.array([10, 500, 10]), np.array([0, 1, 2]), 100) == [[0], [1], [2]]


@pytest.mark.parametrize("replicas", [1, 2, 3, 4])
def test_ranks_cover_every_index_exactly_once_when_even(replicas):
    lengths = _lengths(240)
    # choose a cap that gives a batch count divisible by the replicas: try caps until it does
    for cap in range(3000, 9000, 7):
        total = len(BucketBatchSampler(lengths, cap, seed=5).all_batches())
        if total % replicas == 0:
            break
    samplers = [
        BucketBatchSampler(lengths, cap, seed=5, num_replicas=replicas, rank=r) for r in range(replicas)
    ]
    seen = Counter(i for s in samplers for b in s for i in b)
    assert sorted(seen) == list(range(240)) and set(seen.values()) == {1}
    assert len({len(list(s)) for s in samplers}) == 1


@pytest.mark.parametrize("drop_last", [False, True])
def test_uneven_batches_padded_or_dropped(drop_last):
    lengths = _lengths(101)
    for cap in range(3000, 9000, 7):
        total = len(BucketBatchSampler(lengths, cap, seed=2).all_batches())
        if total % 3:
            break
    samplers = [
        BucketBatchSampler(lengths, cap, seed=2, num_replicas=3, rank=r, drop_last=drop_last)
        for r in range(3)
    ]
    per_rank = [list(s) for s in samplers]
    counts = {len(b) for b in per_rank}
    assert len(counts) == 1 and counts == {len(samplers[0])}
    seen = Counter(i for batches in per_rank for b in batches for i in b)
    if drop_last:
        assert max(seen.values()) == 1 and len(seen) < 101
    else:
        assert set(seen) == set(range(101))  # all covered, a few repeated to even out the ranks
        # the only indices seen twice are those of the batches repeated from the start of the list
        all_batches = samplers[0].all_batches()
        pad = (-len(all_batches)) % 3
        assert pad > 0
        assert {i for i, c in seen.items() if c > 1} == {i for b in all_batches[:pad] for i in b}
        assert max(seen.values()) == 2


def test_epochs_reshuffle_deterministically():
    lengths = _lengths()
    s = BucketBatchSampler(lengths, 6000, seed=3)
    e0 = list(s)
    assert list(s) == e0
    s.set_epoch(1)
    e1 = list(s)
    assert e1 != e0
    assert sorted(i for b in e1 for i in b) == list(range(len(lengths)))
    other = BucketBatchSampler(lengths, 6000, seed=3)
    other.set_epoch(1)
    assert list(other) == e1  # every rank computes the same list
    fixed = BucketBatchSampler(lengths, 6000, shuffle=False)
    flat = [i for b in fixed for i in b]
    assert list(lengths[flat]) == sorted(lengths)


def test_bad_arguments():
    with pytest.raises(ValueError, match="rank"):
        BucketBatchSampler([1, 2], 10, num_replicas=2, rank=2)
    with pytest.raises(ValueError, match="max_frames"):
        BucketBatchSampler([1, 2], 0)
    assert list(BucketBatchSampler([], 10)) == []


def test_with_dataloader():
    import torch
    from torch.utils.data import DataLoader

    lengths = _lengths(50)
    data = [torch.zeros(int(n)) for n in lengths]
    loader = DataLoader(data, batch_sampler=BucketBatchSampler(lengths, 5000), collate_fn=lambda xs: len(xs))
    assert sum(loader) == 50


@pytest.mark.parametrize("replicas", [2, 3])
@pytest.mark.parametrize("drop_last", [False, True])
def test_sharded_ranks_keep_their_own_items_every_epoch(replicas, drop_last):
    from asr.data.sampler import rank_items

    lengths = _lengths(301, seed=4)
    owned = {r: set(rank_items(len(lengths), r, replicas).tolist()) for r in range(replicas)}
    assert set().union(*owned.values()) == set(range(len(lengths)))
    assert sum(len(v) for v in owned.values()) == len(lengths)
    orders = []
    for epoch in range(3):
        samplers = [
            BucketBatchSampler(
                lengths, 4000, seed=7, num_replicas=replicas, rank=r, drop_last=drop_last, shard_items=True
            )
            for r in range(replicas)
        ]
        for s in samplers:
            s.set_epoch(epoch)
        per_rank = [list(s) for s in samplers]
        assert len({len(b) for b in per_rank}) == 1  # no rank waits at an all-reduce
        assert all(len(s) == len(per_rank[0]) for s in samplers)
        for r, batches in enumerate(per_rank):
            used = Counter(i for b in batches for i in b)
            assert set(used) <= owned[r]  # a rank never loads another rank's items
            for b in batches:
                assert lengths[b].max() * len(b) <= 4000 or len(b) == 1
            if not drop_last:
                assert set(used) == owned[r]  # every owned item at least once per epoch
        if drop_last:
            assert max(len(s._shard_batches(r)) for r, s in enumerate(samplers)) >= len(per_rank[0])
        orders.append(per_rank[0])
        # the same epoch on a fresh sampler gives the same batches (resume after a kill)
        again = BucketBatchSampler(
            lengths, 4000, seed=7, num_replicas=replicas, rank=0, drop_last=drop_last, shard_items=True
        )
        again.set_epoch(epoch)
        assert list(again) == per_rank[0]
    assert orders[0] != orders[1]  # a new order each epoch


def test_sharding_is_off_for_one_rank():
    lengths = _lengths()
    plain = BucketBatchSampler(lengths, 6000, seed=1)
    sharded = BucketBatchSampler(lengths, 6000, seed=1, shard_items=True)
    assert list(plain) == list(sharded)


def _longest_ratio(per_rank: list[list[list[int]]], lengths: np.ndarray) -> np.ndarray:
    """Per step: longest item of the rank with the longest batch over that of the rank with the shortest."""
    longest = np.array([[lengths[b].max() for b in batches] for batches in per_rank])
    return longest.max(0) / longest.min(0)


@pytest.mark.parametrize("shard", [True, False])
@pytest.mark.parametrize("drop_last", [False, True])
def test_synced_ranks_run_batches_of_the_same_length_range(shard, drop_last):
    from asr.data.sampler import rank_items

    lengths = _lengths(3001, seed=6)
    replicas = 2

    def make(r, sync, epoch):
        s = BucketBatchSampler(
            lengths,
            4000,
            seed=9,
            num_replicas=replicas,
            rank=r,
            drop_last=drop_last,
            shard_items=shard,
            sync_ranks=sync,
        )
        s.set_epoch(epoch)
        return s

    orders = []
    for epoch in range(2):
        synced = [list(make(r, True, epoch)) for r in range(replicas)]
        plain = [list(make(r, False, epoch)) for r in range(replicas)]
        assert len({len(b) for b in synced}) == 1 and len(synced[0]) == len(make(0, True, epoch))
        used = [Counter(i for b in batches for i in b) for batches in synced]
        if shard:
            for r in range(replicas):
                assert set(used[r]) <= set(rank_items(len(lengths), r, replicas).tolist())
        everything = Counter(i for u in used for i in u.elements())
        if drop_last:
            assert max(everything.values()) == 1
        else:
            assert set(everything) == set(range(len(lengths)))  # every item at least once per epoch
        # the same batches as without syncing (only their pairing across ranks and their order change)
        if shard:
            for r in range(replicas):
                assert sorted(map(sorted, make(r, True, epoch)._shard_batches(r))) == sorted(
                    map(sorted, make(r, False, epoch)._shard_batches(r))
                )
        # the point of it: at each step the ranks' longest utterances are close, not random against each other
        ratio, ratio_plain = _longest_ratio(synced, lengths), _longest_ratio(plain, lengths)
        assert np.median(ratio) < 1.1 and np.quantile(ratio, 0.95) < 1.3
        assert np.median(ratio_plain) > 1.25  # independent shuffles (uniform lengths 50-1500)
        # the steps are still shuffled: lengths are not in order along the epoch
        first = np.array([lengths[b].max() for b in synced[0]])
        assert abs(np.corrcoef(np.arange(len(first)), first)[0, 1]) < 0.3
        # a fresh sampler gives the same epoch (resume after a kill)
        assert [list(make(r, True, epoch)) for r in range(replicas)] == synced
        orders.append(synced[0])
    assert orders[0] != orders[1]


def test_sync_is_off_for_one_rank():
    lengths = _lengths()
    assert list(BucketBatchSampler(lengths, 6000, seed=1)) == list(
        BucketBatchSampler(lengths, 6000, seed=1, sync_ranks=True)
    )
