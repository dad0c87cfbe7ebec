"""CTC loss for CPU training: the forward-backward recursions compiled with numba over the gathered label
log-probabilities only, so the cost does not grow with the vocabulary.

PyTorch's CPU ``F.ctc_loss`` walks the whole ``[T, B, V]`` tensor in its backward (it writes ``exp(log_prob) -
posterior`` for every vocabulary entry of every frame), which at V = 2,000-4,000 costs more than the output
projection itself (``tools/bench/ctc_loss.py``). Here the recursions run on ``[T, B, 2U+1]`` (the target labels with
blanks between them, gathered from the log-probs), the gradient with respect to those gathered entries is minus the
state occupation posterior, and autograd scatters it back through the gather (repeated labels add up) and through the
log-softmax. The result equals ``F.ctc_loss(..., reduction="none", zero_infinity=...)`` in value and in the gradient
with respect to the logits (PyTorch's backward returns the gradient as if its input were log-softmax output; the two
agree once it has passed through the log-softmax).

On CUDA (and for any other device) :func:`ctc_loss` calls ``F.ctc_loss``, whose kernels are fast there.

Reference: Graves et al., "Connectionist temporal classification" (ICML 2006), sections 4.1-4.2 (the alpha/beta
recursions in log space).
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from numba import njit
from torch import Tensor

__all__ = ["ctc_loss"]

_NEG_INF = -math.inf


@njit(cache=True, inline="always")
def _lse2(a: float, b: float) -> float:
    if a == _NEG_INF:
        return b
    if b == _NEG_INF:
        return a
    if a > b:
        return a + math.log1p(math.exp(b - a))
    return b + math.log1p(math.exp(a - b))


@njit(cache=True)
def _ctc_forward_backward(lpe, ext, in_lens, ext_lens, nll, post):  # pragma: no cover - compiled
    """lpe float32/64 [T, B, S] gathered log-probs; ext int64 [B, S] extended labels (blank 0 at even s);
    in_lens, ext_lens int64 [B]. Writes nll float64 [B] and post [T, B, S] of lpe's dtype (state occupation posteriors,
    zero outside each utterance's lattice and for utterances no path fits)."""
    n_t, n_b, n_s = lpe.shape
    alpha = np.empty((n_t, n_s), dtype=np.float64)
    beta = np.empty((n_t, n_s), dtype=np.float64)
    for b in range(n_b):
        t_len = in_lens[b]
        s_len = ext_lens[b]
        if t_len <= 0:
            nll[b] = math.inf
            continue
        for t in range(t_len):
            for s in range(s_len):
                alpha[t, s] = _NEG_INF
                beta[t, s] = _NEG_INF
        alpha[0, 0] = lpe[0, b, 0]
        if s_len > 1:
            alpha[0, 1] = lpe[0, b, 1]
        for t in range(1, t_len):
            # states that can still reach the end and can have been reached from the start
            lo = max(0, s_len - 2 * (t_len - t))
            hi = min(s_len, 2 * t + 2)
            for s in range(lo, hi):
                a = alpha[t - 1, s]
                if s > 0:
                    a = _lse2(a, alpha[t - 1, s - 1])
                    if s > 1 and ext[b, s] != 0 and ext[b, s] != ext[b, s - 2]:
                        a = _lse2(a, alpha[t - 1, s - 2])
                if a != _NEG_INF:
                    alpha[t, s] = a + lpe[t, b, s]
        last = t_len - 1
        log_z = alpha[last, s_len - 1]
        if s_len > 1:
            log_z = _lse2(log_z, alpha[last, s_len - 2])
        if log_z == _NEG_INF:
            nll[b] = math.inf
            continue
        nll[b] = -log_z
        beta[last, s_len - 1] = lpe[last, b, s_len - 1]
        if s_len > 1:
            beta[last, s_len - 2] = lpe[last, b, s_len - 2]
        for t in range(last - 1, -1, -1):
            lo = max(0, s_len - 2 * (t_len - t))
            hi = min(s_len, 2 * t + 2)
            for s in range(lo, hi):
                v = beta[t + 1, s]
                if s + 1 < s_len:
                    v = _lse2(v, beta[t + 1, s + 1])
                    if s + 2 < s_len and ext[b, s + 2] != 0 and ext[b, s + 2] != ext[b, s]:
                        v = _lse2(v, beta[t + 1, s + 2])
                if v != _NEG_INF:
                    beta[t, s] = v + lpe[t, b, s]
        for t in range(t_len):
            for s in range(s_len):
                ab = alpha[t, s] + beta[t, s]
                if ab != _NEG_INF:
                    post[t, b, s] = math.exp(ab - lpe[t, b, s] - log_z)


class _GatheredCtc(torch.autograd.Function):
    """[T, B, S] gathered log-probs -> [B] negative log-likelihoods; backward: minus the occupation posteriors."""

    @staticmethod
    def forward(
        ctx, lpe: Tensor, ext: Tensor, in_lens: Tensor, ext_lens: Tensor, zero_infinity: bool
    ) -> Tensor:
        work = lpe.detach()
        if work.dtype not in (torch.float32, torch.float64):
            work = work.float()
        lpe_np = work.contiguous().numpy()
        nll = np.zeros(lpe_np.shape[1], dtype=np.float64)
        post = np.zeros(lpe_np.shape, dtype=lpe_np.dtype)
        _ctc_forward_backward(
            lpe_np,
            ext.contiguous().numpy(),
            in_lens.contiguous().numpy(),
            ext_lens.contiguous().numpy(),
            nll,
            post,
        )
        nll_t = torch.from_numpy(nll).to(lpe.dtype)
        if zero_infinity:
            nll_t = torch.where(torch.isinf(nll_t), torch.zeros_like(nll_t), nll_t)
        ctx.save_for_backward(torch.from_numpy(post))
        ctx.grad_dtype = lpe.dtype
        return nll_t

    @staticmethod
    def backward(ctx, grad_nll: Tensor):
        (post,) = ctx.saved_tensors
        grad = post.mul(-grad_nll.to(post.dtype).view(1, -1, 1)).to(ctx.grad_dtype)
        return grad, None, None, None, None


def ctc_loss(
    log_probs: Tensor,
    targets: Tensor,
    input_lengths: Tensor,
    target_lengths: Tensor,
    *,
    blank: int = 0,
    reduction: str = "sum",
    zero_infinity: bool = True,
) -> Tensor:
    """CTC loss with ``F.ctc_loss``'s arguments (padded targets form only).

    Args:
        log_probs: float [T, B, V] log-softmax output.
        targets: int64 [B, U], padded with any value beyond each target length.
        input_lengths, target_lengths: int64 [B].
        blank: Blank id; the numba path supports 0 only (others go to ``F.ctc_loss``).
        reduction: ``"none"`` ([B]), ``"sum"`` or ``"mean"`` (each loss divided by its target length, then averaged,
            as PyTorch).
        zero_infinity: Utterances no alignment fits (too few frames) give 0 and no gradient.

    Returns:
        The loss, as ``F.ctc_loss`` would return it.

    Raises:
        ValueError: lengths outside the tensors (which ``F.ctc_loss`` refuses too).
    """
    if log_probs.device.type != "cpu" or blank != 0 or targets.dim() != 2:
        return F.ctc_loss(
            log_probs,
            targets,
            input_lengths,
            target_lengths,
            blank=blank,
            reduction=reduction,
            zero_infinity=zero_infinity,
        )
    n_t, n_b = log_probs.shape[:2]
    max_u = targets.shape[1]
    in_lens = torch.as_tensor(input_lengths, dtype=torch.int64).cpu()
    tgt_lens = torch.as_tensor(target_lengths, dtype=torch.int64).cpu()
    # the compiled recursions do not check bounds: refuse what F.ctc_loss refuses
    if in_lens.shape != (n_b,) or tgt_lens.shape != (n_b,) or targets.shape[0] != n_b:
        raise ValueError(
            f"ctc_loss: batch of {n_b} but input_lengths {tuple(in_lens.shape)}, target_lengths "
            f"{tuple(tgt_lens.shape)}, targets {tuple(targets.shape)}"
        )
    if n_b and (int(in_lens.min()) < 0 or int(in_lens.max()) > n_t):
        raise ValueError(f"ctc_loss: input_lengths must be in 0..{n_t} (the frames of log_probs)")
    if n_b and (int(tgt_lens.min()) < 0 or int(tgt_lens.max()) > max_u):
        raise ValueError(f"ctc_loss: target_lengths must be in 0..{max_u} (the columns of targets)")
    ext = torch.zeros(n_b, 2 * max_u + 1, dtype=torch.int64)
    ext[:, 1::2] = targets.to(torch.int64).clamp(min=0)  # padding beyond a target's length is never read
    lpe = log_probs.gather(2, ext.unsqueeze(0).expand(log_probs.shape[0], -1, -1))
    nll = _GatheredCtc.apply(lpe, ext, in_lens, 2 * tgt_lens + 1, zero_infinity)
    if reduction == "none":
        return nll
    if reduction == "sum":
        return nll.sum()
    if reduction == "mean":
        return (nll / tgt_lens.clamp(min=1).to(nll.dtype)).mean()
    raise ValueError(f"ctc_loss: unknown reduction {reduction!r} (none, sum, mean)")
