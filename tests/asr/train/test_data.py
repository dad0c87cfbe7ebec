"""The training fbank cache: every item is what the wrapped dataset gives; with a cap, the first items up to the
cap are kept and the rest are loaded on every use. The token resampler (BPE-dropout): one draw per seed, epoch and
item, the wrapped (cached) items untouched."""

from __future__ import annotations

import logging
import random

import torch

from asr.train.data import CachedDataset, TokenResampler


class CountingDataset:
    """Items of 10 x 80 float32 fbank (3,200 bytes) + 3 int64 tokens (24 bytes); counts loads per index."""

    def __init__(self, n: int):
        self.n = n
        self.loads = [0] * n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int):
        self.loads[i] += 1
        if i == 3:
            return None  # an utterance that failed late
        g = torch.Generator().manual_seed(i)
        return {"key": f"u{i}", "feats": torch.randn(10, 80, generator=g), "tokens": torch.tensor([i, 1, 2])}


def _same(a, b) -> bool:
    if a is None or b is None:
        return a is b
    return (
        a["key"] == b["key"] and torch.equal(a["feats"], b["feats"]) and torch.equal(a["tokens"], b["tokens"])
    )


def test_unbounded_cache_loads_each_item_once():
    base = CountingDataset(6)
    cached = CachedDataset(base)
    for _ in range(3):
        for i in (5, 0, 3, 2, 1, 4):
            assert _same(cached[i], CountingDataset(6)[i])
    assert base.loads == [1] * 6
    assert cached.nbytes == 5 * 3224


def test_capped_cache_keeps_the_first_items_and_reloads_the_rest(caplog):
    base = CountingDataset(6)
    cached = CachedDataset(base, max_bytes=2 * 3224 + 100)  # room for two items
    order = (4, 1, 3, 0, 5, 2)
    with caplog.at_level(logging.WARNING, logger="cifst.train"):
        for _ in range(3):
            for i in order:
                assert _same(cached[i], CountingDataset(6)[i])
    # 4 and 1 fill the cache, None (3) costs nothing, 0 does not fit: from then on nothing new is kept
    assert base.loads == [3, 1, 3, 1, 1, 3]
    assert cached.nbytes == 2 * 3224 and cached.full
    warnings = [r for r in caplog.records if "cache full" in r.getMessage()]
    assert len(warnings) == 1 and "3 of 6 utterances" in warnings[0].getMessage()


def _shuffle_tokens(tokens, rng: random.Random) -> list[int]:
    out = list(tokens)
    rng.shuffle(out)
    return out + [rng.randrange(1000)]


def test_token_resampler_draws_per_seed_epoch_and_item():
    base = CountingDataset(6)
    cached = CachedDataset(base)
    res = TokenResampler(cached, _shuffle_tokens, seed=5)
    res.set_epoch(1)
    first = [res[i] for i in range(6)]
    again = TokenResampler(CachedDataset(CountingDataset(6)), _shuffle_tokens, seed=5)
    again.set_epoch(1)
    for i in (4, 2, 0, 5, 1, 3):  # another order (another rank or a resumed run): the same draws
        assert _same(again[i], first[i])
    assert first[3] is None
    for i in (0, 1, 2, 4, 5):
        assert torch.equal(first[i]["feats"], CountingDataset(6)[i]["feats"])
        assert sorted(first[i]["tokens"].tolist()[:3]) == sorted([i, 1, 2])
        assert torch.equal(cached[i]["tokens"], torch.tensor([i, 1, 2]))  # the cached item is not modified
    res.set_epoch(2)
    assert any(not torch.equal(res[i]["tokens"], first[i]["tokens"]) for i in (0, 1, 2, 4, 5))
    other_seed = TokenResampler(cached, _shuffle_tokens, seed=6)
    other_seed.set_epoch(1)
    assert any(not torch.equal(other_seed[i]["tokens"], first[i]["tokens"]) for i in (0, 1, 2, 4, 5))
    assert base.loads == [1] * 6  # the cache still serves every load
