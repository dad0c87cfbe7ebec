"""lmplz --renumber ids: MurmurHash64A of the words (hand-checked values), <unk> kept at 0, and the suffix order of
each order under the new ids against a plain sort of the word tuples."""

from __future__ import annotations

import numpy as np

from lm.renumber import murmur_hash64a, renumbered_ids, renumbered_order

M = 0xC6A4A7935BD1E995
MASK = (1 << 64) - 1


def reference_murmur64a(data: bytes, seed: int = 0) -> int:
    """MurmurHash64A written out in plain Python integers (the published algorithm, step by step)."""
    h = (seed ^ ((len(data) * M) & MASK)) & MASK
    nblocks = len(data) // 8
    for i in range(nblocks):
        k = int.from_bytes(data[8 * i : 8 * i + 8], "little")
        k = (k * M) & MASK
        k ^= k >> 47
        k = (k * M) & MASK
        h ^= k
        h = (h * M) & MASK
    tail = data[8 * nblocks :]
    if tail:
        for j in range(len(tail) - 1, -1, -1):
            h ^= tail[j] << (8 * j)
        h = (h * M) & MASK
    h ^= h >> 47
    h = (h * M) & MASK
    h ^= h >> 47
    return h


def test_murmur_matches_the_reference_on_all_tail_lengths():
    words = ["", "a", "ab", "abc", "abcdefg", "abcdefgh", "abcdefghi", "<unk>", "</s>", "词语", "x" * 37]
    got = murmur_hash64a(words)
    assert [int(x) for x in got] == [reference_murmur64a(w.encode()) for w in words]
    assert reference_murmur64a(b"") == 0  # h = 0 * m, mixed: stays 0


def test_renumbered_ids_keep_unk_and_follow_the_hash():
    vocab = ["<unk>", "<s>", "</s>", "the", "cat", "sat"]
    new = renumbered_ids(vocab)
    assert new[0] == 0 and sorted(new.tolist()) == list(range(len(vocab)))
    h = murmur_hash64a(vocab)
    by_new = np.argsort(new)[1:]
    assert np.all(np.diff(h[by_new].astype(np.float64)) >= 0)


def test_renumbered_order_is_suffix_order_of_new_ids():
    rng = np.random.default_rng(0)
    v = 7
    new_id = rng.permutation(v)
    bigrams = sorted({(int(a), int(b)) for a, b in rng.integers(0, v, (30, 2))}, key=lambda t: (t[1], t[0]))
    first = np.array([a for a, _ in bigrams])
    suffix = np.array([b for _, b in bigrams])  # order 1 index = word id
    perm, pos = renumbered_order(new_id, first, suffix, new_id)
    want = sorted(range(len(bigrams)), key=lambda i: (new_id[bigrams[i][1]], new_id[bigrams[i][0]]))
    assert perm.tolist() == want
    assert np.array_equal(pos[perm], np.arange(len(perm)))
