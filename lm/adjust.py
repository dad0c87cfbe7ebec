"""Highest-order counts -> per-order n-gram tables with raw and Kneser-Ney adjusted counts (lmplz stage 2).

Input: :class:`lm.counts.NgramCounts` (distinct order-N n-grams in suffix order with counts), optional count
pruning thresholds and a word filter (``--limit_vocab_file``). Output: :class:`NgramTables`, one
:class:`OrderTable` per order 1..N, each in suffix order, giving for every n-gram its first word, the index of its
suffix (words 2..n) in the order below, its raw count, its *adjusted* count, whether it is pruned, and the
count-of-counts per order that the discounts are estimated from.

Reference: kenlm ``lm/builder/adjust_counts.cc`` (our own vectorized code): the adjusted count of an n-gram below
the highest order is the number of distinct words seen to its left (continuation count), except for n-grams that
begin with ``<s>``, which keep their raw count, and for the highest order, which keeps raw counts. N-grams with
``<s>`` past their first position (``<s> <s> a``, an artefact of padding) are dropped. ``<unk>`` and ``<s>`` are
unigrams with adjusted count 0. Like lmplz, the count-of-counts see the *raw* count of the last n-gram of each
order that lmplz flushes at the end of its pass (the suffixes of the last n-gram in suffix order); this keeps our
discounts equal to lmplz's to the last digit. Pruning marks an n-gram whose raw count is <= the order's threshold
or that contains a word outside the limit vocabulary; ``<s>``, ``</s>``, ``<unk>`` unigrams are never pruned.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lm.counts import BOS, EOS, UNK, NgramCounts

__all__ = ["OrderTable", "NgramTables", "build_tables", "ngram_columns"]


@dataclass
class OrderTable:
    """All n-grams of one order, in suffix order.

    Attributes:
        order: n.
        first: int32 [m] id of the first word.
        suffix: int32 [m] index of words 2..n in the order n-1 table (-1 at order 1; int64 past 2^31 rows).
        raw: int32 [m] raw occurrence counts (int64 for corpora over 2^31 tokens).
        adjusted: int32/int64 [m] counts used by Kneser-Ney (continuation counts below the top order).
        pruned: bool [m] removed by count pruning or the vocabulary limit.
    """

    order: int
    first: np.ndarray
    suffix: np.ndarray
    raw: np.ndarray
    adjusted: np.ndarray
    pruned: np.ndarray

    def __len__(self) -> int:
        return len(self.first)

    def keys(self, vocab_size: int) -> np.ndarray:
        """uint64 [m] strictly increasing keys ``suffix * V + first`` (order 1: the word id)."""
        if self.order == 1:
            return self.first.astype(np.uint64)
        return self.suffix.astype(np.uint64) * np.uint64(vocab_size) + self.first.astype(np.uint64)


@dataclass
class NgramTables:
    """Per-order tables plus the statistics the discounts need.

    Attributes:
        vocab: Words by id.
        tables: ``tables[n-1]`` is the :class:`OrderTable` of order n.
        count_of_counts: int64 [N, 5]: ``[n-1, c]`` = number of order-n n-grams with (lmplz's) adjusted count c,
            for c < 5 (pruned n-grams included, as lmplz counts them).
    """

    vocab: list[str]
    tables: list[OrderTable]
    count_of_counts: np.ndarray

    @property
    def order(self) -> int:
        return len(self.tables)


def _change_flags(rows: np.ndarray) -> list[np.ndarray]:
    """flags[L][i]: row i's last-L-word suffix differs from row i-1's (L = 0..N; row 0 always True for L >= 1)."""
    m, n = rows.shape
    flags = [np.zeros(m, bool)]
    acc = np.zeros(m, bool)
    for length in range(1, n + 1):
        col = rows[:, n - length]
        diff = np.empty(m, bool)
        if m:
            diff[0] = True
            np.not_equal(col[1:], col[:-1], out=diff[1:])
        acc = acc | diff
        flags.append(acc)
    return flags


def build_tables(
    counts: NgramCounts,
    prune_thresholds: list[int] | None = None,
    allowed_words: np.ndarray | None = None,
) -> NgramTables:
    """Derive every order's n-gram table from the highest-order counts.

    Args:
        counts: Distinct order-N n-grams in suffix order with counts.
        prune_thresholds: N non-decreasing ints; an order-n n-gram with raw count <= ``prune_thresholds[n-1]`` is
            pruned (lmplz ``--prune``); ``None`` prunes nothing.
        allowed_words: bool [V] (limit vocabulary) or ``None``; n-grams containing a word with False are pruned.

    Returns:
        :class:`NgramTables`.
    """
    rows = np.asarray(counts.rows)
    raw_full = np.asarray(counts.counts, dtype=np.int64)
    n_ord = counts.order
    vsize = len(counts.vocab)
    thr = list(prune_thresholds) if prune_thresholds else [0] * n_ord
    m = len(rows)
    bad_word = None if allowed_words is None else ~np.asarray(allowed_words, bool)
    if bad_word is not None:
        bad_word = bad_word.copy()
        bad_word[[UNK, BOS, EOS]] = False

    flags = _change_flags(rows)
    coc = np.zeros((n_ord, 5), np.int64)
    tables: list[OrderTable] = []
    group_to_index: list[
        np.ndarray | None
    ] = []  # per order: row -> table index (only meaningful for valid groups)
    prev_bad: np.ndarray | None = (
        None  # per entry of the order below: contains a word outside the limit vocab
    )

    # Raw count of the last n-gram of each order that lmplz flushes at the end (see module docstring).
    last_flush_orders = 0
    if m and n_ord > 1:
        lead = 0
        while lead < n_ord and rows[-1, lead] == BOS:
            lead += 1
        last_flush_orders = n_ord - 1 if lead == 0 else min(n_ord - 1, n_ord - lead + 1)

    idx_t = np.int32 if m < 2**31 else np.int64
    small = np.int32 if m == 0 or int(raw_full.sum()) < 2**31 else np.int64
    for k in range(1, n_ord + 1):
        chg = flags[k]
        # Valid groups only, as int32 row numbers: keeps this order's temporaries small.
        starts = np.flatnonzero(chg).astype(idx_t)
        if k >= 2 and m:
            valid = rows[starts, n_ord - k + 1] != BOS
        else:
            valid = np.ones(len(starts), bool)
        raw = np.add.reduceat(raw_full, starts, dtype=np.int64).astype(small) if m else np.zeros(0, small)
        if k == n_ord:
            adjusted = raw
        else:
            ext = (
                np.add.reduceat(flags[k + 1], starts, dtype=np.int64).astype(small)
                if m
                else np.zeros(0, small)
            )
            col_first = rows[starts, n_ord - k] if m else np.zeros(0, np.uint32)
            adjusted = np.where(col_first == BOS, raw, ext)
            del ext, col_first
        starts = starts[valid]
        raw_v, adj_v = raw[valid], adjusted[valid]
        del raw, adjusted
        first = rows[starts, n_ord - k].astype(np.int32) if m else np.zeros(0, np.int32)
        if k == 1:
            suffix = np.full(len(first), -1, np.int32)
        else:
            suffix = group_to_index[-1][starts].astype(idx_t)
        if k == 1:
            # Unigrams are exactly the ids 2..V-1 (every word ends some row); add <unk> and <s> with count 0.
            full_first = np.arange(vsize, dtype=np.int32)
            full_raw = np.zeros(vsize, raw_v.dtype)
            full_adj = np.zeros(vsize, adj_v.dtype)
            full_raw[first] = raw_v
            full_adj[first] = adj_v
            first, raw_v, adj_v = full_first, full_raw, full_adj
            suffix = np.full(vsize, -1, np.int32)
            row_to_index = rows[:, n_ord - 1].astype(np.int32) if m else np.zeros(0, np.int32)
        else:
            # row -> table index of its group (rows of dropped groups get a neighbour's index; never looked up)
            starts_valid = np.zeros(m, bool)
            starts_valid[starts] = True
            row_to_index = np.cumsum(starts_valid, dtype=np.int32 if m < 2**31 else np.int64)
            row_to_index -= 1
            del starts_valid
        group_to_index.append(row_to_index)
        if len(group_to_index) > 1:
            group_to_index[-2] = None  # only the order below is needed

        # Pruning: raw count at or below the threshold, or a word outside the limit vocabulary.
        pruned = raw_v <= thr[k - 1]
        if bad_word is not None:
            contains_bad = bad_word[first]
            if k > 1:
                contains_bad = contains_bad | prev_bad[suffix]
            prev_bad = contains_bad
            pruned = pruned | contains_bad
        if k == 1:
            pruned[[UNK, BOS]] = False
            if n_ord == 1:
                pruned[EOS] = False  # lmplz keeps ids <= 2 at order 1
        tables.append(OrderTable(k, first, suffix, raw_v, adj_v, pruned))

        # Count-of-counts with lmplz's quirk for the n-grams it flushes last.
        stat_counts = adj_v.copy()
        if k <= last_flush_orders and len(stat_counts):
            stat_counts[-1] = raw_v[-1]
        below5 = stat_counts[stat_counts < 5]
        coc[k - 1] = np.bincount(below5, minlength=5)[:5]

    return NgramTables(vocab=counts.vocab, tables=tables, count_of_counts=coc)


def ngram_columns(tables: list[OrderTable], order: int, index: np.ndarray) -> np.ndarray:
    """Word ids of n-grams given by table index.

    Args:
        tables: Per-order tables (``tables[n-1]`` is order n) with ``first`` and ``suffix``.
        order: n.
        index: int64 [r] indices into the order-n table.

    Returns:
        int64 [r, n] word ids, oldest first.
    """
    out = np.empty((len(index), order), np.int64)
    idx = np.asarray(index, np.int64)
    for j in range(order):
        t = tables[order - 1 - j]
        out[:, j] = t.first[idx]
        if j < order - 1:
            idx = t.suffix[idx]
    return out
