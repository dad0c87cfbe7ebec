"""Continuous Integrate-and-Fire (CIF) as pure tensor functions: frame weights alphas [B, T] and encoder states
[B, T, D] -> token embeddings [B, U, D], token counts and fire positions.

Reference: Dong & Xu, "CIF: Continuous Integrate-and-Fire for end-to-end speech recognition" (ICASSP 2020), and
Gao et al., "Paraformer" (Interspeech 2022): weights come from a conv layer + sigmoid, are scaled to the target
length in training, a tail weight is appended at inference, the token count is the integrated weight floored.

Instead of the frame loop of the reference implementations (accumulate, fire when the sum reaches the threshold,
carry the remainder), token k here is the integral of the states over the k-th unit of the cumulative weight:
with ``c_t = alpha_1 + ... + alpha_t`` the weight of frame t in token k is the overlap of ``[c_{t-1}, c_t]`` with
``[(k-1) b, k b]`` (b = threshold). That is the same split as the loop (the part of a frame's weight that completes a
token goes to it, the remainder to the next), computed for all tokens at once and differentiable in alphas.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

__all__ = [
    "CifOutput",
    "cif",
    "cif_weight_matrix",
    "scale_weights",
    "add_tail",
    "count_tokens",
    "fire_frames",
    "token_spans",
]

# Tolerance on the cumulative weight: float32 cumsums of weights scaled to an integer total land a hair short of it.
EPS = 1e-4


class CifOutput(NamedTuple):
    """Result of :func:`cif`.

    Attributes:
        embeds: float [B, U, D] integrated states, zero beyond ``token_lens``.
        token_lens: int64 [B] tokens per utterance.
        weights: float [B, U, T] weight of frame t in token u (rows sum to the threshold for complete tokens).
        fires: int64 [B, U] frame at which token u fires (its integral reaches u * threshold), -1 beyond token_lens.
    """

    embeds: Tensor
    token_lens: Tensor
    weights: Tensor
    fires: Tensor


def cif_weight_matrix(alphas: Tensor, num_tokens: Tensor, threshold: float = 1.0) -> Tensor:
    """Integration weights of each frame in each token.

    Args:
        alphas: float [B, T] non-negative frame weights (zero on padding).
        num_tokens: int64 [B] tokens to integrate per utterance (U = max).
        threshold: Firing threshold b.

    Returns:
        float [B, U, T]: ``max(0, min(c_t, k b) - max(c_{t-1}, (k-1) b))`` for k = u + 1 <= num_tokens, else 0.
    """
    b, _ = alphas.shape
    u_max = int(num_tokens.max().item()) if b else 0
    cum = torch.cumsum(alphas, dim=-1)  # [B, T]
    prev = cum - alphas
    k = torch.arange(1, u_max + 1, device=alphas.device, dtype=alphas.dtype) * threshold  # [U]
    upper = torch.minimum(cum[:, None, :], k[None, :, None])
    lower = torch.maximum(prev[:, None, :], (k - threshold)[None, :, None])
    weights = (upper - lower).clamp(min=0.0)
    valid = torch.arange(u_max, device=alphas.device)[None, :] < num_tokens[:, None]  # [B, U]
    return weights * valid[:, :, None].to(weights.dtype)


def fire_frames(alphas: Tensor, num_tokens: Tensor, threshold: float = 1.0) -> Tensor:
    """Frame index at which each token fires: the first t with ``c_t >= k b`` (within EPS).

    Args:
        alphas: float [B, T] frame weights.
        num_tokens: int64 [B].
        threshold: Firing threshold b.

    Returns:
        int64 [B, U], -1 beyond ``num_tokens``; clamped to T-1 when the weights fall a hair short.
    """
    b, t = alphas.shape
    u_max = int(num_tokens.max().item()) if b else 0
    cum = torch.cumsum(alphas.detach().float(), dim=-1).contiguous()
    k = torch.arange(1, u_max + 1, device=alphas.device, dtype=torch.float32) * threshold - EPS
    idx = torch.searchsorted(cum, k.expand(b, u_max).contiguous()).clamp(max=max(t - 1, 0))
    valid = torch.arange(u_max, device=alphas.device)[None, :] < num_tokens[:, None]
    return torch.where(valid, idx, torch.full_like(idx, -1))


def cif(hidden: Tensor, alphas: Tensor, num_tokens: Tensor, threshold: float = 1.0) -> CifOutput:
    """Integrate ``hidden`` into ``num_tokens`` token embeddings with frame weights ``alphas``.

    Args:
        hidden: float [B, T, D] encoder states.
        alphas: float [B, T] weights (already scaled in training / with tail at inference).
        num_tokens: int64 [B] tokens per utterance (target lengths in training, :func:`count_tokens` at inference).
        threshold: Firing threshold.

    Returns:
        :class:`CifOutput`.
    """
    weights = cif_weight_matrix(alphas, num_tokens, threshold)
    embeds = torch.bmm(weights.to(hidden.dtype), hidden)
    return CifOutput(embeds, num_tokens, weights, fire_frames(alphas, num_tokens, threshold))


def scale_weights(alphas: Tensor, target_lens: Tensor, threshold: float = 1.0) -> Tensor:
    """Training-time scaling: make each utterance's weights sum to ``target_lens * threshold``.

    Args:
        alphas: float [B, T] (zero on padding).
        target_lens: int64 [B] target token counts.

    Returns:
        float [B, T].
    """
    total = alphas.sum(-1, keepdim=True)
    return alphas * (target_lens[:, None].to(alphas.dtype) * threshold / total.clamp(min=1e-6))


def add_tail(hidden: Tensor, alphas: Tensor, lens: Tensor, tail: float) -> tuple[Tensor, Tensor]:
    """Inference-time tail: one extra zero frame after each utterance's last frame with weight ``tail``, so a last
    token integrated to more than ``1 - tail`` still fires.

    Args:
        hidden: float [B, T, D].
        alphas: float [B, T], zero at and beyond ``lens``.
        lens: int64 [B] valid frames.
        tail: Tail weight (0.45 in Paraformer).

    Returns:
        hidden [B, T+1, D] (zero frame appended) and alphas [B, T+1] with ``tail`` at index ``lens[b]``.
    """
    b, t, d = hidden.shape
    hidden = torch.cat([hidden, hidden.new_zeros(b, 1, d)], dim=1)
    pos = torch.arange(t + 1, device=alphas.device)[None, :]
    alphas = torch.cat([alphas, alphas.new_zeros(b, 1)], dim=1)
    mask = torch.arange(t + 1, device=alphas.device)[None, :] < lens[:, None]
    alphas = alphas * mask + (pos == lens[:, None]).to(alphas.dtype) * tail
    return hidden, alphas


def count_tokens(alphas: Tensor, threshold: float = 1.0) -> Tensor:
    """Token count from the integrated weight: ``floor(sum(alphas) / threshold)`` (within EPS).

    Args:
        alphas: float [B, T].

    Returns:
        int64 [B].
    """
    return torch.floor(alphas.detach().float().sum(-1) / threshold + EPS).long()


def token_spans(weights: Tensor, fires: Tensor, min_weight: float = 0.05) -> tuple[Tensor, Tensor]:
    """Start and end frame of each token from its integration weights.

    A token starts at the first frame that gives it at least ``min_weight`` (so low-weight silence before it is not
    counted) and ends after the frame where it fires.

    Args:
        weights: float [B, U, T] from :func:`cif_weight_matrix`.
        fires: int64 [B, U] from :func:`fire_frames` (-1 = no token).
        min_weight: Weight a frame must give a token to count as part of it.

    Returns:
        start int64 [B, U] and end int64 [B, U] (exclusive) frame indices; -1 where there is no token.
    """
    b, u, t = weights.shape
    strong = weights >= min_weight
    idx = torch.arange(t, device=weights.device).expand(b, u, t)
    first = torch.where(strong, idx, torch.full_like(idx, t)).amin(-1) if t else fires.clone()
    start = torch.minimum(first, fires.clamp(min=0))
    end = fires + 1
    none = fires < 0
    return start.masked_fill(none, -1), end.masked_fill(none, -1)
