"""Interpolated (kn, absolute, witten-bell) and back-off (add-k, katz) estimators over :class:`NgramTables`.

Input: per-order tables (raw and adjusted counts, pruning marks) from :func:`lm.adjust.build_tables`. Output:
probabilities and back-off weights per order, assembled into an :class:`lm.model.NgramModel`. References are listed
in :mod:`lm.smoothing`; formulas in each function's docstring. Our own vectorized code.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from asr.errors import CifstError
from lm.adjust import NgramTables, build_tables
from lm.counts import BOS, EOS, UNK, NgramCounts
from lm.discount import Discount
from lm.interpolate import assemble_model, context_groups, modified_kneser_ney
from lm.model import NgramModel

__all__ = ["build_smoothed", "raw_count_tables", "single_discounts"]


def raw_count_tables(tables: NgramTables) -> NgramTables:
    """The same tables with ``adjusted`` replaced by raw counts (and count-of-counts recomputed from them)."""
    new = [replace(t, adjusted=t.raw.copy()) for t in tables.tables]
    coc = np.zeros_like(tables.count_of_counts)
    for i, t in enumerate(new):
        small = t.raw[t.raw < 5]
        coc[i] = np.bincount(small, minlength=5)[:5]
    return NgramTables(vocab=tables.vocab, tables=new, count_of_counts=coc)


def single_discounts(tables: NgramTables, fixed: float | None) -> list[Discount]:
    """One discount per order: ``fixed``, or n1 / (n1 + 2 n2) from the tables' count-of-counts.

    Raises:
        CifstError: No singletons/doubletons to estimate from (names the order and the option that fixes it).
    """
    out = []
    for i, n in enumerate(tables.count_of_counts):
        if fixed is not None:
            d = fixed
        else:
            if n[1] == 0:
                raise CifstError(
                    f"cannot estimate the discount of {i + 1}-grams: none has count 1 "
                    f"(n1={n[1]}, n2={n[2]}); give one with --discount 0.7"
                )
            d = n[1] / (n[1] + 2.0 * n[2])
        if not 0.0 <= d <= 1.0:
            raise CifstError(f"--discount must be in [0, 1], got {d}")
        out.append(Discount(d, d, d))
    return out


def _groups(tables: NgramTables, ctx_prev, n: int):
    """Context grouping of order n: (ctx per entry, perm, starts of groups in perm order, group id per entry)."""
    ctx, perm = context_groups(tables, ctx_prev, n)
    sc = ctx[perm]
    new = np.empty(len(sc), bool)
    if len(sc):
        new[0] = True
        np.not_equal(sc[1:], sc[:-1], out=new[1:])
    starts = np.flatnonzero(new)
    gid = np.empty(len(sc), np.int64)
    gid[perm] = np.cumsum(new) - 1
    return ctx, perm, starts, gid


def _group_sum(values: np.ndarray, perm: np.ndarray, starts: np.ndarray) -> np.ndarray:
    if len(perm) == 0:
        return np.zeros(0)
    return np.add.reduceat(values[perm].astype(np.float64), starts)


def witten_bell(tables: NgramTables) -> NgramModel:
    """Interpolated Witten-Bell on raw counts.

    ``p(w|h) = c(hw) / (c(h) + T(h)) + gamma(h) p(w|h')``, ``gamma(h) = (T(h) + pruned(h)) / (c(h) + T(h))`` with
    T(h) the number of distinct words seen after h and c(h) the total count of its extensions.
    """
    n_ord = tables.order
    probs, gammas = [], []
    ctx_prev = None
    for n in range(1, n_ord + 1):
        t = tables.tables[n - 1]
        c = t.raw.astype(np.float64)
        gammas.append(np.ones(len(t)))
        pruned_c = np.where(t.pruned, c, 0.0)
        if n == 1:
            types = float((c > 0).sum())
            tot = c.sum()
            gamma = (types + pruned_c.sum()) / (tot + types)
            kept = int((~t.pruned).sum())
            p = c / (tot + types) + gamma / (kept - 1)
            p[BOS] = 1.0
            probs.append(p)
            continue
        ctx, perm, starts, gid = _groups(tables, ctx_prev, n)
        tot = _group_sum(c, perm, starts)
        types = _group_sum(np.ones(len(t)), perm, starts)
        gamma_g = (types + _group_sum(pruned_c, perm, starts)) / (tot + types)
        p = c / (tot + types)[gid] + gamma_g[gid] * probs[n - 2][t.suffix]
        probs.append(p)
        gammas[n - 2][ctx[perm[starts]]] = gamma_g
        ctx_prev = ctx
    return assemble_model(tables, probs, gammas)


def _backoff_model(tables: NgramTables, explicit) -> NgramModel:
    """Back-off model: ``explicit(n, counts, group_total, vocab_size)`` gives p for the kept n-grams of order n.

    Unseen words get ``alpha(h) p(w|h')`` with ``alpha(h) = (1 - sum_seen p(w|h)) / (1 - sum_seen p(w|h'))``.
    Unigrams: ``explicit`` for the counts plus the left-over mass spread uniformly over the vocabulary (no ``<s>``).
    """
    n_ord = tables.order
    probs, alphas = [], []
    ctx_prev = None
    vsize = int((~tables.tables[0].pruned).sum()) - 1  # predictable words: all kept unigrams but <s>
    for n in range(1, n_ord + 1):
        t = tables.tables[n - 1]
        c = t.raw.astype(np.float64)
        kept = ~t.pruned
        alphas.append(np.ones(len(t)))
        if n == 1:
            cc = np.where(kept, c, 0.0)
            cc[BOS] = 0.0
            p = explicit(1, cc, np.array([cc.sum()]), vsize)
            left = 1.0 - float(np.where(kept, p, 0.0).sum() - p[BOS])
            if left <= 1e-9:
                # Nothing left for unseen words (no discounting possible): reserve one count's worth for them.
                left = 1.0 / (cc.sum() + 1.0)
                p = p * (1.0 - left)
            p = p + left / vsize
            p[BOS] = 1.0
            probs.append(p)
            continue
        ctx, perm, starts, gid = _groups(tables, ctx_prev, n)
        tot = _group_sum(c, perm, starts)
        p = explicit(n, c, tot[gid], vsize)
        p = np.where(kept, p, 0.0)
        lower = np.where(kept, probs[n - 2][t.suffix], 0.0)
        s1 = _group_sum(p, perm, starts)
        s2 = _group_sum(lower, perm, starts)
        # Where the order below leaves no mass for the unseen words, renormalise the seen ones instead.
        full = 1.0 - s2 <= 1e-9
        with np.errstate(divide="ignore", invalid="ignore"):
            alpha = np.where(full, 1.0, (1.0 - s1) / (1.0 - s2))
            p = np.where(full[gid] & (s1[gid] > 0), p / s1[gid], p)
        alphas[n - 2][ctx[perm[starts]]] = np.maximum(alpha, 1e-30)
        probs.append(np.where(kept, p, 1.0))
        ctx_prev = ctx
    for n in range(1, n_ord):
        t = tables.tables[n - 1]
        idx = np.arange(len(t))
        for k in range(n, 1, -1):
            idx = tables.tables[k - 1].suffix[idx]
        alphas[n - 1][(idx == EOS) | (idx == UNK)] = 1.0
    return assemble_model(tables, probs, alphas)


def add_k(tables: NgramTables, k: float) -> NgramModel:
    """Add-k: ``p(w|h) = (c(hw) + k) / (c(h) + k |V|)`` for seen n-grams, back-off for the rest."""
    if k <= 0:
        raise CifstError(f"--add-k must be > 0, got {k}")

    def explicit(n, c, tot, vsize):
        return (c + k) / (tot + k * max(vsize, 1))

    return _backoff_model(tables, explicit)


def katz(tables: NgramTables, kmax: int) -> NgramModel:
    """Katz back-off with Good-Turing discounts: ``p(w|h) = d_c c(hw) / c(h)`` for seen n-grams, with
    ``d_r = (r*/r - (K+1) n_{K+1}/n_1) / (1 - (K+1) n_{K+1}/n_1)``, ``r* = (r+1) n_{r+1} / n_r`` for r <= K and
    ``d_r = 1`` above K (or where Good-Turing is undefined or out of (0, 1], as SRILM does)."""
    if kmax < 1:
        raise CifstError(f"--katz-k must be >= 1, got {kmax}")
    discounts = []
    for t in tables.tables:
        counts = t.raw[t.raw > 0]
        nr = np.bincount(counts, minlength=kmax + 2)[: kmax + 2].astype(np.float64)
        d = np.ones(kmax + 1)
        if nr[1] > 0:
            common = (kmax + 1) * nr[kmax + 1] / nr[1]
            for r in range(1, kmax + 1):
                if nr[r] > 0 and nr[r + 1] > 0 and common < 1:
                    dr = ((r + 1) * nr[r + 1] / nr[r] / r - common) / (1 - common)
                    if 0 < dr <= 1:
                        d[r] = dr
        discounts.append(d)

    def explicit(n, c, tot, vsize):
        d = discounts[n - 1]
        ci = c.astype(np.int64)
        factor = np.where(ci <= kmax, d[np.minimum(ci, kmax)], 1.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(tot > 0, factor * c / tot, 0.0)

    return _backoff_model(tables, explicit)


def build_smoothed(counts: NgramCounts, config, allowed: np.ndarray | None) -> NgramModel:
    """Build a model with ``config.smoothing`` in ``kn``, ``absolute``, ``witten-bell``, ``add-k``, ``katz``.

    Args:
        counts: Highest-order counts.
        config: :class:`lm.build.LmBuildConfig`.
        allowed: Limit-vocabulary mask or ``None``.
    """
    tables = build_tables(counts, config.prune or None, allowed)
    method = config.smoothing
    if method == "kn":
        return modified_kneser_ney(
            tables, single_discounts(tables, config.discount), config.interpolate_unigrams
        )
    if method == "absolute":
        raw = raw_count_tables(tables)
        return modified_kneser_ney(raw, single_discounts(raw, config.discount), config.interpolate_unigrams)
    if method == "witten-bell":
        return witten_bell(tables)
    if method == "add-k":
        return add_k(tables, config.add_k)
    if method == "katz":
        return katz(tables, config.katz_k)
    raise CifstError(f"unknown smoothing {method!r}")
