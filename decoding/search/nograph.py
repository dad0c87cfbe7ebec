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
icefall's ``modified_beam_search`` with a ``ContextGraph``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

__all__ = ["greedy_search", "prefix_beam_search", "PrefixHyp"]

_NEG = -math.inf


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
        bonus, nxt = context.step(state.repeat_interleave(V), toks)
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
            bonus, ns = context.step(st, tk)
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
