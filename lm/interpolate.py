"""Adjusted counts + discounts -> interpolated modified Kneser-Ney probabilities and back-offs (lmplz stages 3-4).

Input: :class:`lm.adjust.NgramTables` and one :class:`lm.discount.Discount` per order. Output:
:class:`lm.model.NgramModel` with the un-pruned n-grams, log10 probabilities and log10 back-offs.

Reference: kenlm ``lm/builder/initial_probabilities.cc`` and ``interpolate.cc`` (our own vectorized code), after
Chen & Goodman (1998). For a context h (all n-grams of one order sharing words 1..n-1), with a = adjusted counts:
``u(w|h) = (a(hw) - D(a(hw))) / sum_w a(hw)`` and
``gamma(h) = (D1 N1(h) + D2 N2(h) + D3 N3+(h) + pruned mass) / sum_w a(hw)``, where N_c counts the kept
n-grams with adjusted count c and the pruned mass is the adjusted count of pruned n-grams (so the model still sums
to 1). Interpolation: ``p(w|h) = u(w|h) + gamma(h) p(w|h')``, down to the uniform ``1 / (kept unigrams - 1)``
(``<s>`` excluded) with ``interpolate_unigrams`` (lmplz's default; otherwise ``<unk>`` gets the whole unigram
gamma, as SRILM). ``p(<s>) = 1`` (log10 0). The back-off of an n-gram is ``gamma`` of it as a context (0 in log10
when it is not a context, and always for n-grams ending in ``</s>`` or ``<unk>``).
"""

from __future__ import annotations

import numpy as np

from lm.adjust import NgramTables
from lm.counts import BOS, EOS, UNK
from lm.discount import Discount
from lm.model import ModelOrder, NgramModel

__all__ = ["context_groups", "modified_kneser_ney", "assemble_model"]


def context_groups(tables: NgramTables, ctx_prev: np.ndarray | None, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Find each order-n n-gram's context (words 1..n-1) in the order n-1 table.

    Args:
        tables: The tables.
        ctx_prev: int64 [m_{n-1}] context index of each order n-1 n-gram (from the call for order n-1), or
            ``None`` for n = 2.
        n: The order (>= 2).

    Returns:
        (ctx int64 [m_n] index into the order n-1 table, perm int64 [m_n] that sorts order n by context).
    """
    t = tables.tables[n - 1]
    vsize = np.uint64(len(tables.vocab))
    if n == 2:
        key = t.first.astype(np.uint64)
        perm = np.argsort(key, kind="stable")
        return t.first.copy(), perm
    key = ctx_prev[t.suffix].astype(np.uint64)
    key *= vsize
    key += t.first.astype(np.uint64)
    perm = np.argsort(key)
    sk = key[perm]
    del key
    pos = np.searchsorted(tables.tables[n - 2].keys(len(tables.vocab)), sk)
    del sk
    ctx = np.empty(len(t), np.int32 if len(pos) == 0 or int(pos.max()) < 2**31 else np.int64)
    ctx[perm] = pos
    return ctx, perm


def _gamma32(d: Discount, n1, n2, n3, pruned_mass, denom) -> np.ndarray:
    """gamma in float32 with kenlm's operation order: ((D1 n1 + D2 n2) + D3 n3 + pruned) / denominator."""
    f32 = np.float32
    a = d.amounts().astype(f32)
    g = a[1] * np.asarray(n1).astype(f32)
    g = g + a[2] * np.asarray(n2).astype(f32)
    g = g + a[3] * np.asarray(n3).astype(f32)
    g = g + np.asarray(pruned_mass).astype(f32)
    with np.errstate(divide="ignore", invalid="ignore"):
        return g / np.asarray(denom).astype(f32)


def _uninterp32(d: Discount, adj: np.ndarray, denom: np.ndarray) -> np.ndarray:
    """(a - D(a)) / denominator in float32, as kenlm's ``Discount::Apply(count) / denominator``."""
    a = d.amounts().astype(np.float32)
    return (adj.astype(np.float32) - a[np.minimum(adj, 3)]) / np.asarray(denom).astype(np.float32)


def _group_stats(adj: np.ndarray, pruned: np.ndarray, d: Discount, perm: np.ndarray, ctx: np.ndarray):
    """Per-context sums over n-grams sorted by context: returns (starts, group ctx index, denominator, gamma)."""
    sa = adj[perm]
    sp = pruned[perm]
    sc = ctx[perm]
    m = len(sa)
    new = np.empty(m, bool)
    if m:
        new[0] = True
        np.not_equal(sc[1:], sc[:-1], out=new[1:])
    starts = np.flatnonzero(new)
    if not m:
        z = np.zeros(0)
        return starts, np.zeros(0, np.int64), z, z.astype(np.float32)
    denom = np.add.reduceat(sa, starts, dtype=np.int64)
    cut = np.where(sp, 0, sa)
    n1 = np.add.reduceat(cut == 1, starts, dtype=np.int64)
    n2 = np.add.reduceat(cut == 2, starts, dtype=np.int64)
    n3 = np.add.reduceat(cut >= 3, starts, dtype=np.int64)
    pruned_mass = np.add.reduceat(np.where(sp, sa, 0), starts, dtype=np.int64)
    gamma = _gamma32(d, n1, n2, n3, pruned_mass, denom)
    return starts, sc[starts], denom, gamma


def unigram_probs(
    adjusted: np.ndarray, pruned: np.ndarray, d: Discount, interpolate_unigrams: bool, vocab_pad: int = 0
) -> np.ndarray:
    """Interpolated unigram probabilities as lmplz computes them: float32 [V] from the adjusted counts and pruning
    marks of order 1 (the gamma goes to the uniform distribution over ``max(vocab_pad, kept - 1)`` words, or all to
    ``<unk>`` without ``interpolate_unigrams``; ``<s>`` gets 1, its log10 0 as in lmplz)."""
    denom = int(adjusted.sum())
    cut = np.where(pruned, 0, adjusted)
    gamma = _gamma32(
        d, (cut == 1).sum(), (cut == 2).sum(), (cut >= 3).sum(), int(adjusted[pruned].sum()), denom
    )
    uninterp = _uninterp32(d, adjusted, denom)
    if interpolate_unigrams:
        kept = int((~pruned).sum())
        uniform = np.float32(1.0 / float(np.float32(max(vocab_pad, kept - 1))))
        p = uninterp + gamma * uniform
    else:
        p = uninterp.copy()
        p[UNK] = gamma
    p[BOS] = 1.0
    return p.astype(np.float32, copy=False)


def modified_kneser_ney(
    tables: NgramTables, discounts: list[Discount], interpolate_unigrams: bool = True, vocab_pad: int = 0
) -> NgramModel:
    """Interpolated modified Kneser-Ney exactly as lmplz computes it.

    Args:
        tables: Per-order n-gram tables with adjusted counts and pruning marks.
        discounts: One :class:`Discount` per order.
        interpolate_unigrams: Interpolate unigrams with the uniform distribution (lmplz default ``1``); ``False``
            gives all of the unigram gamma to ``<unk>`` (``--interpolate_unigrams 0``, SRILM's behaviour).
        vocab_pad: lmplz ``--vocab_pad``: the uniform distribution is over ``max(vocab_pad, kept unigrams - 1)``
            words, as if the vocabulary were padded with unseen words that all map to ``<unk>``.

    Returns:
        The model (pruned n-grams removed), in suffix order.
    """
    n_ord = tables.order
    orders: list[ModelOrder] = []
    p_prev = gam_prev = last_prev = ctx_prev = remap = None
    for n in range(1, n_ord + 1):
        t = tables.tables[n - 1]
        d = discounts[n - 1]
        adj = t.adjusted
        gam = np.ones(len(t), np.float32)  # gamma of each n-gram as a context (1.0 when it is not one)
        if n == 1:
            p = unigram_probs(adj, t.pruned, d, interpolate_unigrams, vocab_pad)
            last = t.first
        else:
            ctx, perm = context_groups(tables, ctx_prev, n)
            starts, gctx, denom, gamma = _group_stats(adj, t.pruned, d, perm, ctx)
            gid = np.empty(len(t), np.int32 if len(starts) < 2**31 else np.int64)
            gid[perm] = np.repeat(
                np.arange(len(starts), dtype=gid.dtype), np.diff(np.append(starts, len(perm)))
            )
            del perm, starts
            p = _uninterp32(d, adj, denom[gid])
            p += gamma[gid] * p_prev[t.suffix]
            del gid
            gam_prev[gctx] = gamma
            ctx_prev = ctx.astype(np.int32) if len(ctx) and int(ctx.max()) < 2**31 else ctx
            del ctx
            last = last_prev[t.suffix]
            # the order below is complete now: n-grams ending in </s> or <unk> carry no back-off (lmplz)
            gam_prev[(last_prev == EOS) | (last_prev == UNK)] = 1.0
            order_below, remap = _finalize(tables.tables[n - 2], p_prev, gam_prev, remap)
            orders.append(order_below)
        p_prev, gam_prev, last_prev = p, gam, last
    top, _ = _finalize(tables.tables[n_ord - 1], p_prev, None, remap)
    orders.append(top)
    return NgramModel(vocab=list(tables.vocab), orders=orders)


def _finalize(t, p: np.ndarray, gamma: np.ndarray | None, remap: np.ndarray | None):
    """One order of the model: drop pruned n-grams, renumber suffixes, log10 (double, rounded to float32).

    Returns:
        (ModelOrder, remap of this order's table indices to kept indices or ``None`` when all are kept).
    """
    keep = ~t.pruned
    if keep.all():  # share the table's arrays instead of copying them
        idx = slice(None)
        first = t.first
        suffix = t.suffix if remap is None else remap[t.suffix]
        new_remap = None
    else:
        idx = np.flatnonzero(keep)
        first = t.first[idx]
        suffix = t.suffix[idx] if remap is None else remap[t.suffix[idx]]
        new_remap = np.cumsum(keep, dtype=np.int64) - 1
    with np.errstate(divide="ignore"):
        lp = np.log10(p[idx].astype(np.float64)).astype(np.float32)
        if gamma is None:
            bo = np.zeros(len(lp), np.float32)
        else:
            bo = np.log10(gamma[idx].astype(np.float64)).astype(np.float32)
    return ModelOrder(first, suffix, lp, bo), new_remap


def assemble_model(tables: NgramTables, probs: list[np.ndarray], backoffs: list[np.ndarray]) -> NgramModel:
    """Drop pruned n-grams and convert to log10.

    Args:
        tables: The tables (for ``first``, ``suffix``, ``pruned``).
        probs: Per order float64 [m_n] probabilities.
        backoffs: Per order float64 [m_n] back-off weights (linear; 1.0 = none).

    Returns:
        :class:`NgramModel` holding the kept n-grams, suffix pointers renumbered.
    """
    orders: list[ModelOrder] = []
    remap = None
    with np.errstate(divide="ignore"):
        for n, t in enumerate(tables.tables, 1):
            keep = ~t.pruned
            if keep.all():  # share the tables' arrays instead of copying them
                idx = slice(None)
                first = t.first
                suffix = t.suffix if remap is None else remap[t.suffix]
            else:
                idx = np.flatnonzero(keep)
                first = t.first[idx]
                suffix = t.suffix[idx] if remap is None else remap[t.suffix[idx]]
            # float32 values, log10 in double rounded to float32: what glibc's correctly rounded log10f gives
            # (numpy's float32 log10 is off by an ulp at times).
            lp = np.log10(probs[n - 1][idx].astype(np.float32).astype(np.float64)).astype(np.float32)
            bo = np.zeros(len(lp), np.float32)
            if n < tables.order:
                bo = np.log10(backoffs[n - 1][idx].astype(np.float32).astype(np.float64)).astype(np.float32)
            orders.append(ModelOrder(first, suffix, lp, bo))
            remap = None if keep.all() else np.cumsum(keep, dtype=np.int64) - 1
    return NgramModel(vocab=list(tables.vocab), orders=orders)
