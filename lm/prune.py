"""Relative-entropy (Stolcke) pruning of a back-off n-gram model, to a threshold or to a target size.

Input: an :class:`lm.model.NgramModel` (built here or read from any ARPA) and either a threshold on the relative
increase of perplexity or a target total number of n-grams. Output: a smaller model whose back-off weights are
recomputed so every context still sums to one.

Reference: A. Stolcke, "Entropy-based pruning of backoff language models", 1998, and SRILM's ``ngram -prune``
semantics (an n-gram is dropped when removing it alone raises the model's perplexity by less than the threshold,
relatively). Our own vectorized code. For an explicit n-gram (h, w) with history probability P(h), seen-word mass
S(h) = sum_{v seen after h} p(v|h) and L(h) = sum_{v seen after h} p(v|h'):
``alpha'(h) = (1 - S(h) + p(w|h)) / (1 - L(h) + p(w|h'))`` and
``dH = -P(h) [p(w|h) (log p'(w|h) - log p(w|h)) + (1 - S(h)) (log alpha'(h) - log alpha(h))]`` (log10), pruned when
``10^dH - 1 < threshold``. Orders are pruned from the highest down; an n-gram that is the context or the suffix of
a surviving longer n-gram is kept (the ARPA file stays well-formed). Unigrams (below ``min_order``) are never pruned.
A target size is met by bisecting the threshold (in log space).
"""

from __future__ import annotations

import numpy as np

from asr.errors import CifstError
from lm.model import ModelOrder, NgramModel

__all__ = ["relative_entropy_prune", "entropy_increase", "history_probabilities", "recompute_backoffs"]


def history_probabilities(model: NgramModel) -> list[np.ndarray]:
    """P(g) of every n-gram g read as a word sequence (chain rule; ``P(<s>) = 1``).

    Returns:
        Per order float64 [m_n].
    """
    out = []
    bos = model.vocab.index("<s>") if "<s>" in model.vocab else -1
    uni_p = np.full(len(model.vocab), 0.0)
    uni_p[model.orders[0].first] = 10.0 ** model.orders[0].logprob
    if bos >= 0:
        uni_p[bos] = 1.0
    out.append(uni_p[model.orders[0].first])
    for n in range(2, model.order + 1):
        o = model.orders[n - 1]
        ctx = model.context_index(n)
        p = 10.0**o.logprob
        with_ctx = out[n - 2][np.maximum(ctx, 0)] * p
        # A missing context (possible in foreign ARPA files): P(first word) * P(rest).
        without = uni_p[o.first] * out[n - 2][o.suffix]
        out.append(np.where(ctx >= 0, with_ctx, without))
    return out


def recompute_backoffs(model: NgramModel) -> NgramModel:
    """Set every context's back-off so that its distribution sums to one (log10 0 for non-contexts).

    ``alpha(h) = (1 - sum_{w seen} p(w|h)) / (1 - sum_{w seen} p(w|h'))``; at order 2 ``p(w|h')`` is the unigram.
    """
    for n in range(2, model.order + 1):
        o = model.orders[n - 1]
        lower = model.orders[n - 2]
        ctx = model.context_index(n)
        p = 10.0**o.logprob
        pl = 10.0 ** model.orders[n - 2].logprob[o.suffix]
        valid = ctx >= 0
        s = np.bincount(ctx[valid], weights=p[valid], minlength=len(lower))
        low = np.bincount(ctx[valid], weights=pl[valid], minlength=len(lower))
        has = np.bincount(ctx[valid], minlength=len(lower)) > 0
        num = np.maximum(1.0 - s, 1e-30)
        den = np.maximum(1.0 - low, 1e-30)
        lower.backoff = np.where(has, np.log10(num / den), 0.0)
    return model


def entropy_increase(model: NgramModel, n: int, hist: list[np.ndarray] | None = None) -> np.ndarray:
    """Stolcke's relative-entropy cost (log10 units) of removing each order-n n-gram alone.

    Args:
        model: The model.
        n: Order (>= 2).
        hist: :func:`history_probabilities` of the model (computed when ``None``).

    Returns:
        float64 [m_n] ``dH``; ``nan``-free, 0 for n-grams without a context in the model.
    """
    hist = history_probabilities(model) if hist is None else hist
    o = model.orders[n - 1]
    lower = model.orders[n - 2]
    ctx = model.context_index(n)
    p = 10.0**o.logprob
    pl = 10.0 ** lower.logprob[o.suffix]
    valid = ctx >= 0
    c = np.maximum(ctx, 0)
    s = np.bincount(c[valid], weights=p[valid], minlength=len(lower))[c]
    low = np.bincount(c[valid], weights=pl[valid], minlength=len(lower))[c]
    alpha_log = lower.backoff[c]
    with np.errstate(divide="ignore", invalid="ignore"):
        new_alpha = np.maximum(1.0 - s + p, 1e-30) / np.maximum(1.0 - low + pl, 1e-30)
        new_alpha_log = np.log10(new_alpha)
        d_word = p * (new_alpha_log + np.log10(pl) - o.logprob)
        d_rest = np.maximum(1.0 - s, 0.0) * (new_alpha_log - alpha_log)
    ph = np.where(valid, hist[n - 2][c], 0.0)
    return np.where(valid, -ph * (d_word + d_rest), 0.0)


def _prune_order(model: NgramModel, n: int, threshold: float, protected: np.ndarray, hist: list[np.ndarray]):
    """bool [m_n]: which order-n n-grams to keep."""
    dh = entropy_increase(model, n, hist)
    increase = np.power(10.0, dh) - 1.0
    valid = model.context_index(n) >= 0
    return protected | ~valid | ~(increase < threshold)


def _apply(model: NgramModel, threshold: float, min_order: int) -> NgramModel:
    orders = [
        ModelOrder(o.first.copy(), o.suffix.copy(), o.logprob.copy(), o.backoff.copy()) for o in model.orders
    ]
    m = NgramModel(vocab=model.vocab, orders=orders, info=dict(model.info))
    hist = history_probabilities(m)
    for n in range(m.order, max(min_order, 2) - 1, -1):
        o = m.orders[n - 1]
        protected = np.zeros(len(o), bool)
        if n < m.order:
            up = m.orders[n]
            protected[up.suffix] = True
            ctx_up = m.context_index(n + 1)
            protected[ctx_up[ctx_up >= 0]] = True
        keep = _prune_order(m, n, threshold, protected, hist)
        idx = np.flatnonzero(keep)
        m.orders[n - 1] = ModelOrder(o.first[idx], o.suffix[idx], o.logprob[idx], o.backoff[idx])
        hist[n - 1] = hist[n - 1][idx]
        if n < m.order:
            remap = np.cumsum(keep) - 1
            m.orders[n].suffix = remap[m.orders[n].suffix]
        recompute_backoffs(m)
    top = m.order
    m.orders[top - 1].backoff = np.zeros(len(m.orders[top - 1]))
    return m


def relative_entropy_prune(
    model: NgramModel,
    threshold: float | None = None,
    target_size: int | None = None,
    min_order: int = 2,
) -> NgramModel:
    """Prune a model by relative entropy.

    Args:
        model: The model (not modified).
        threshold: Prune n-grams whose removal raises perplexity by less than this fraction (e.g. ``1e-8``).
        target_size: Instead of a threshold, keep at most this many n-grams in total (all orders), as many as the
            threshold search allows.
        min_order: Lowest order that may be pruned (>= 2).

    Returns:
        A new :class:`NgramModel` with recomputed back-offs.

    Raises:
        CifstError: Neither or both of threshold/target given, or a target below the number of unigrams.
    """
    if (threshold is None) == (target_size is None):
        raise CifstError("give exactly one of --threshold and --target-size")
    if model.order < 2:
        return model
    if threshold is not None:
        if threshold < 0:
            raise CifstError(f"--threshold must be >= 0, got {threshold}")
        return _apply(model, threshold, min_order)
    keep_min = sum(len(o) for o in model.orders[: max(min_order, 2) - 1])
    if target_size < keep_min:
        raise CifstError(
            f"--target-size {target_size} is below the {keep_min} n-grams of orders that are never pruned "
            f"(orders below --min-order {min_order}); raise it or lower --min-order"
        )
    total = sum(len(o) for o in model.orders)
    if total <= target_size:
        return recompute_backoffs(_apply(model, 0.0, min_order))
    lo, hi = -14.0, 2.0  # log10 threshold bounds
    best = _apply(model, 10.0**hi, min_order)
    for _ in range(30):
        mid = (lo + hi) / 2
        cand = _apply(model, 10.0**mid, min_order)
        if sum(len(o) for o in cand.orders) <= target_size:
            best, hi = cand, mid
        else:
            lo = mid
        if hi - lo < 1e-3:
            break
    return best
