"""Graph-less decoding of posteriors: greedy (best token per row) and prefix beam search, for comparison with TLG.

Input: log-posteriors ``float32 [B, T, V]`` (CTC frames or CIF token rows, column = token id, 0 = blank), lengths,
and optionally a hotword ``ContextGraph``. Output: per utterance a label path (one token id per row, for greedy) or
an n-best list of token sequences with their scores.

Greedy: argmax per row (with a context: argmax of ``logpost + bonus`` where the bonus is the context graph's score
of taking that token). Prefix beam search follows Hannun et al. 2014 ("First-pass large vocabulary continuous speech
recognition using bi-directional recurrent DNNs", the CTC prefix beam search): every prefix keeps the log-probability
of its row paths ending in blank and in non-blank, equal prefixes are merged by log-add; for CIF rows there is no
repeat rule (blank means "no token in this slot"). Hotword bonuses are added to the ranking score of a prefix when a
token is appended (the context state rides along with the prefix) and taken back by ``finalize`` at the end, as in
icefall's ``modified_beam_search`` with a ``ContextGraph``. ``prefix_beam_search_batch`` is the same search over a
padded batch in tensors (prefixes of all utterances as flat arrays, identified by a rolling hash of their tokens,
merged by a grouped log-sum-exp); ``prefix_beam_search`` is the per-utterance reference it is tested against.

For CIF rows the caller chooses the blank column (``cifst decode`` reads it as ``-cif_skip_penalty``: a Paraformer
has no trained blank); these functions use the matrix as given.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

__all__ = ["greedy_search", "prefix_beam_search", "prefix_beam_search_batch", "PrefixHyp"]

_NEG = -math.inf
_PREFIX_MULT = 1_000_000_007
_PREFIX_MASK = (1 << 62) - 1


def greedy_search(
    logprobs: torch.Tensor,
    lengths: torch.Tensor,
    row_type: str = "frame",
    blank_penalty: float = 0.0,
    context=None,
    context_start: torch.Tensor | None = None,
) -> list[np.ndarray]:
    """Best label per row.

    Args:
        logprobs: float32 [B, T, V] log-posteriors.
        lengths: int64 [B] valid rows.
        row_type: ``"frame"`` or ``"cif"`` (only matters with a context: CTC repeats are not new tokens).
        blank_penalty: Subtracted from the blank log-posterior before the argmax.
        context: Optional hotword ``ContextGraph``.
        context_start: int64 [B] start states (zeros when omitted).

    Returns:
        B arrays int64 [T_b]: the token id chosen at each row.
    """
    lp = logprobs.float()
    if blank_penalty:
        lp = lp.clone()
        lp[:, :, 0] -= blank_penalty
    B, T, V = lp.shape
    if context is None:
        best = lp.argmax(dim=-1).cpu().numpy()
        return [best[b, : int(lengths[b])].astype(np.int64) for b in range(B)]
    dev = lp.device
    context = context.to(dev)
    state = torch.zeros(B, dtype=torch.int64, device=dev) if context_start is None else context_start.to(dev)
    prev = torch.zeros(B, dtype=torch.int64, device=dev)
    toks = torch.arange(V, device=dev).clamp(min=1).repeat(B)
    out = torch.zeros(B, T, dtype=torch.int64, device=dev)
    for t in range(T):
        gate_lp = lp[:, t].reshape(-1) if getattr(context, "gate_logp", None) is not None else None
        bonus, nxt = context.step(state.repeat_interleave(V), toks, gate_lp)
        bonus = bonus.view(B, V).to(lp.dtype)
        new = torch.ones(B, V, dtype=torch.bool, device=dev)
        new[:, 0] = False
        if row_type == "frame":
            new &= torch.arange(V, device=dev)[None, :] != prev[:, None]
        score = lp[:, t] + torch.where(new, bonus, torch.zeros_like(bonus))
        choice = score.argmax(dim=-1)
        took_new = new.gather(1, choice[:, None]).squeeze(1) & (t < lengths.to(dev))
        state = torch.where(took_new, nxt.view(B, V).gather(1, choice[:, None]).squeeze(1), state)
        prev = choice
        out[:, t] = choice
    o = out.cpu().numpy()
    return [o[b, : int(lengths[b])] for b in range(B)]


@dataclass
class PrefixHyp:
    """A prefix beam search result: the token sequence, its log-probability and its ranking score."""

    tokens: tuple[int, ...]
    logprob: float
    score: float


def _logadd(a: float, b: float) -> float:
    if a == _NEG:
        return b
    if b == _NEG:
        return a
    m = max(a, b)
    return m + math.log1p(math.exp(-abs(a - b)))


def prefix_beam_search(
    logprobs: np.ndarray,
    beam: int = 10,
    row_type: str = "frame",
    nbest: int = 1,
    token_beam: int | None = None,
    blank_penalty: float = 0.0,
    context=None,
    context_start: int = 0,
) -> list[PrefixHyp]:
    """Prefix beam search over one utterance.

    Args:
        logprobs: float32 [T, V] log-posteriors.
        beam: Prefixes kept after each row.
        row_type: ``"frame"`` (CTC rules) or ``"cif"`` (one token slot per row, blank = empty slot).
        nbest: Results returned.
        token_beam: Tokens tried per row (the best ones; default ``beam``), blank always included.
        blank_penalty: Subtracted from the blank log-posterior.
        context: Optional hotword ``ContextGraph``; its bonus is added when a token is appended.
        context_start: The utterance's start state in ``context``.

    Returns:
        Up to ``nbest`` :class:`PrefixHyp`, best score first (score = logprob + hotword bonus).
    """
    lp = np.asarray(logprobs, dtype=np.float64)
    if blank_penalty:
        lp = lp.copy()
        lp[:, 0] -= blank_penalty
    k_tok = min(lp.shape[1], token_beam or beam)
    if context is not None:
        context = context.to(
            "cpu"
        )  # this search walks one utterance in Python: its small tensors live on the CPU
    # prefix -> [p_blank, p_nonblank, context state, context score]
    beams: dict[tuple[int, ...], list] = {(): [0.0, _NEG, int(context_start), 0.0]}
    for t in range(lp.shape[0]):
        row = lp[t]
        cand = np.argpartition(-row, k_tok - 1)[:k_tok] if k_tok < len(row) else np.arange(len(row))
        cand = [int(c) for c in cand if c != 0]
        nxt: dict[tuple[int, ...], list] = {}
        ext: list[tuple[tuple[int, ...], int, float, int, float]] = []
        for prefix, (pb, pnb, cs, csc) in beams.items():
            tot = _logadd(pb, pnb)
            e = nxt.setdefault(prefix, [_NEG, _NEG, cs, csc])
            e[0] = _logadd(e[0], tot + row[0])
            last = prefix[-1] if prefix else None
            for c in cand:
                if row_type == "frame" and c == last:
                    e[1] = _logadd(e[1], pnb + row[c])  # repeat collapses
                    ext.append((prefix, c, pb + row[c], cs, csc))  # a new token after a blank
                else:
                    ext.append((prefix, c, tot + row[c], cs, csc))
        if ext and context is not None:
            st = torch.tensor([x[3] for x in ext], dtype=torch.int64)
            tk = torch.tensor([x[1] for x in ext], dtype=torch.int64)
            gate_lp = None
            if getattr(context, "gate_logp", None) is not None:
                gate_lp = torch.tensor([row[x[1]] for x in ext], dtype=torch.float32)
            bonus, ns = context.step(st, tk, gate_lp)
            bonus, ns = bonus.tolist(), ns.tolist()
        for i, (prefix, c, p, cs, csc) in enumerate(ext):
            if p == _NEG:
                continue
            new = prefix + (c,)
            if new not in nxt:
                if context is not None:
                    nxt[new] = [_NEG, _NEG, int(ns[i]), csc + float(bonus[i])]
                else:
                    nxt[new] = [_NEG, _NEG, cs, csc]
            e = nxt[new]
            e[1] = _logadd(e[1], p)
        ranked = sorted(nxt.items(), key=lambda kv: -(_logadd(kv[1][0], kv[1][1]) + kv[1][3]))
        if context is not None and len(ranked) > beam and hasattr(context, "pending"):
            beams = dict(_honest_select(ranked, beam, context))
        else:
            beams = dict(ranked[:beam])
    out = []
    for prefix, (pb, pnb, cs, csc) in beams.items():
        logp = _logadd(pb, pnb)
        score = logp + csc
        if context is not None:
            score += float(context.finalize(torch.tensor([cs], dtype=torch.int64))[0])
        out.append(PrefixHyp(prefix, logp, score))
    out.sort(key=lambda h: -h.score)
    return out[:nbest]


def _honest_select(ranked: list, beam: int, context) -> list:
    """The prefixes kept after a row when a hotword context is active (``ranked``: (prefix, [pb, pnb, cs, csc])
    best biased score first). As in the TLG search, the cut is set by the *honest* scores (the bonus that unfinished
    matches hold, ``context.pending``, taken off), and each prefix is tested with its biased score: the ``beam``
    best honest prefixes always stay, so a partial match cannot push the unbiased best out, and a partial match stays
    when its biased score reaches the ``beam``-th honest score. At most ``2 * beam`` prefixes are kept."""
    states = torch.tensor([v[2] for _, v in ranked], dtype=torch.int64)
    pend = context.pending(states).tolist()
    biased = [_logadd(v[0], v[1]) + v[3] for _, v in ranked]
    honest = sorted((b - q for b, q in zip(biased, pend)), reverse=True)
    cut = honest[beam - 1]
    return [kv for kv, b in zip(ranked, biased) if b >= cut][: 2 * beam]


def _logsumexp_groups(x: torch.Tensor, group: torch.Tensor, n: int) -> torch.Tensor:
    """float64 [n]: log(sum(exp(x))) of the values of each group (-inf for a group of -inf or no values)."""
    m = torch.full((n,), _NEG, dtype=x.dtype, device=x.device).scatter_reduce(0, group, x, "amax")
    shift = torch.where(torch.isfinite(m), m, torch.zeros_like(m))
    s = torch.zeros(n, dtype=x.dtype, device=x.device).index_add(0, group, torch.exp(x - shift[group]))
    return torch.where(s > 0, torch.log(s) + shift, torch.full_like(s, _NEG))


def _rank_in_utt(score: torch.Tensor, utt: torch.Tensor, i64: dict) -> tuple[torch.Tensor, torch.Tensor]:
    """Order of the entries by (utterance, score descending) and each ordered entry's rank inside its utterance."""
    order = torch.argsort(score, descending=True, stable=True)
    order = order[torch.argsort(utt[order], stable=True)]
    us = utt[order]
    start = torch.zeros_like(us)
    if us.numel():
        new_grp = torch.ones_like(us, dtype=torch.bool)
        new_grp[1:] = us[1:] != us[:-1]
        start = torch.cummax(torch.where(new_grp, torch.arange(us.numel(), **i64), 0), 0).values
    return order, torch.arange(us.numel(), **i64) - start


def prefix_beam_search_batch(
    logprobs: torch.Tensor,
    lengths: torch.Tensor,
    beam: int = 10,
    row_type: str = "frame",
    nbest: int = 1,
    token_beam: int | None = None,
    blank_penalty: float = 0.0,
    context=None,
    context_start: torch.Tensor | None = None,
) -> list[list[PrefixHyp]]:
    """:func:`prefix_beam_search` for a padded batch, in tensors: the prefixes of all utterances are flat arrays,
    a prefix is identified by a 62-bit rolling hash of its tokens (parent hash, token), equal prefixes are merged
    by a grouped log-sum-exp, and each utterance keeps its ``beam`` best after every row; tokens are traced back
    through (parent, token) entries at the end. The Python loop is over rows only.

    Args:
        logprobs: float [B, T, V] log-posteriors (any device; the search runs there in float64).
        lengths: int64 [B] valid rows.
        beam, row_type, nbest, token_beam, blank_penalty, context: as in :func:`prefix_beam_search`.
        context_start: int64 [B] start state of each utterance in ``context`` (zeros when omitted).

    Returns:
        Per utterance up to ``nbest`` :class:`PrefixHyp`, best score first.
    """
    dev = logprobs.device
    lp = logprobs.to(torch.float64)
    if blank_penalty:
        lp = lp.clone()
        lp[:, :, 0] -= blank_penalty
    B, T, V = lp.shape
    k_tok = min(V, token_beam or beam)
    lens = lengths.to(dev, torch.int64)
    i64 = dict(dtype=torch.int64, device=dev)
    neg = torch.tensor(_NEG, dtype=torch.float64, device=dev)
    if context is not None:
        context = context.to(dev)
    # the prefixes: utterance, hash, last token (-1: empty), log p ending in blank / non-blank, context, history id
    p_utt = torch.arange(B, **i64)
    p_hash = torch.zeros(B, **i64)
    p_last = torch.full((B,), -1, **i64)
    p_b = torch.zeros(B, dtype=torch.float64, device=dev)
    p_nb = torch.full((B,), _NEG, dtype=torch.float64, device=dev)
    p_cs = torch.zeros(B, **i64) if context_start is None else context_start.to(dev, torch.int64).clone()
    p_csc = torch.zeros(B, dtype=torch.float64, device=dev)
    p_hist = torch.full((B,), -1, **i64)
    hist_parent: list[torch.Tensor] = []
    hist_tok: list[torch.Tensor] = []
    n_hist = 0
    for t in range(T):
        on = lens[p_utt] > t
        if not bool(on.any()):
            break
        frozen = torch.nonzero(~on).flatten()
        act = torch.nonzero(on).flatten()
        u, h, last = p_utt[act], p_hash[act], p_last[act]
        pb, pnb, cs, csc, hist = p_b[act], p_nb[act], p_cs[act], p_csc[act], p_hist[act]
        A = act.numel()
        row = lp[u, t]  # [A, V]
        tot = torch.logaddexp(pb, pnb)
        top = torch.topk(lp[:, t], k_tok, dim=1).indices[u]  # [A, k] the row's best tokens
        valid = top != 0
        # stays: the same prefix, the row read as blank (or, for frames, as a repeat of the last token)
        s_b = tot + row[:, 0]
        s_nb = torch.full_like(pb, _NEG)
        if row_type == "frame":
            rep_ok = (last >= 0) & (top == last[:, None]).any(1)  # the repeat is one of the tried tokens
            s_nb = torch.where(rep_ok, pnb + row.gather(1, last.clamp(min=0)[:, None]).squeeze(1), s_nb)
        # extensions by each tried token c
        c = top
        lp_c = row.gather(1, c)
        base = tot[:, None].expand(A, k_tok)
        if row_type == "frame":
            base = torch.where(c == last[:, None], pb[:, None].expand(A, k_tok), base)
        e_p = base + lp_c
        ok = valid & (e_p > _NEG)
        ei, ej = torch.nonzero(ok, as_tuple=True)
        e_tok = c[ei, ej]
        e_hash = (h[ei] * _PREFIX_MULT + e_tok) & _PREFIX_MASK
        e_cs, e_csc = cs[ei], csc[ei]
        if context is not None and ei.numel():
            gate_lp = lp_c[ei, ej] if getattr(context, "gate_logp", None) is not None else None
            bonus, ns = context.step(cs[ei], e_tok, gate_lp)
            e_cs, e_csc = ns.to(torch.int64), csc[ei] + bonus.to(torch.float64)
        # merge equal prefixes: stays first, so a group's fields come from the existing prefix when there is one
        all_u = torch.cat([u, u[ei]])
        all_h = torch.cat([h, e_hash])
        key = (all_h * 1_000_003 + all_u) & _PREFIX_MASK
        uniq, grp = torch.unique(key, return_inverse=True)
        G = uniq.numel()
        g_b = _logsumexp_groups(torch.cat([s_b, neg.expand(ei.numel())]), grp, G)
        g_nb = _logsumexp_groups(torch.cat([s_nb, e_p[ei, ej]]), grp, G)
        idx = torch.arange(grp.numel(), **i64)
        rep = torch.full((G,), grp.numel(), **i64).scatter_reduce(0, grp, idx, "amin")
        from_ext = rep >= A
        g_u, g_h = all_u[rep], all_h[rep]
        g_last = torch.cat([last, e_tok])[rep]
        g_cs, g_csc = torch.cat([cs, e_cs])[rep], torch.cat([csc, e_csc])[rep]
        g_parent = torch.cat([hist, hist[ei]])[rep]  # for extensions: the parent's history id
        # keep the `beam` best of each utterance (with hotwords: see _honest_select)
        score = torch.logaddexp(g_b, g_nb) + g_csc
        order, rank = _rank_in_utt(score, g_u, i64)
        if context is not None and hasattr(context, "pending"):
            honest = score - context.pending(g_cs).to(torch.float64)
            h_order, h_rank = _rank_in_utt(honest, g_u, i64)
            cut = torch.full((B,), float("-inf"), dtype=torch.float64, device=dev)
            at = h_order[h_rank == beam - 1]  # the beam-th honest score of each utterance that has that many
            cut[g_u[at]] = honest[at]
            sel = (score[order] >= cut[g_u[order]]) & (rank < 2 * beam)
            keep = order[sel]
        else:
            keep = order[rank < beam]
        g_hist = g_parent[keep]
        ext_kept = from_ext[keep]
        n_new = int(ext_kept.sum())
        if n_new:
            hist_parent.append(g_parent[keep][ext_kept])
            hist_tok.append(g_last[keep][ext_kept])
            g_hist = g_hist.clone()
            g_hist[ext_kept] = torch.arange(n_hist, n_hist + n_new, **i64)
            n_hist += n_new
        p_utt = torch.cat([p_utt[frozen], g_u[keep]])
        p_hash = torch.cat([p_hash[frozen], g_h[keep]])
        p_last = torch.cat([p_last[frozen], g_last[keep]])
        p_b = torch.cat([p_b[frozen], g_b[keep]])
        p_nb = torch.cat([p_nb[frozen], g_nb[keep]])
        p_cs = torch.cat([p_cs[frozen], g_cs[keep]])
        p_csc = torch.cat([p_csc[frozen], g_csc[keep]])
        p_hist = torch.cat([p_hist[frozen], g_hist])
    logp = torch.logaddexp(p_b, p_nb)
    score = logp + p_csc
    if context is not None:
        score = score + context.finalize(p_cs).to(torch.float64)
    par = torch.cat(hist_parent).cpu().numpy() if hist_parent else np.zeros(0, np.int64)
    tok = torch.cat(hist_tok).cpu().numpy() if hist_tok else np.zeros(0, np.int64)
    out: list[list[PrefixHyp]] = [[] for _ in range(B)]
    for b_, hi, lg, sc in zip(p_utt.tolist(), p_hist.tolist(), logp.tolist(), score.tolist()):
        seq = []
        while hi >= 0:
            seq.append(int(tok[hi]))
            hi = int(par[hi])
        out[b_].append(PrefixHyp(tuple(reversed(seq)), lg, sc))
    for b_ in range(B):
        out[b_].sort(key=lambda x: -x.score)
        out[b_] = out[b_][:nbest]
    return out
