"""Length vectors int64 [B] -> boolean masks [B, T] (True = a real frame), and sinusoidal positions [T, D].

Reference: Vaswani et al., "Attention is all you need" (2017) for the sinusoidal encoding.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

__all__ = ["lengths_to_mask", "sinusoidal_positions"]


def lengths_to_mask(lens: Tensor, max_len: int | None = None) -> Tensor:
    """Boolean [B, T] mask, True for positions ``< lens[b]``.

    Args:
        lens: int64 [B].
        max_len: T; defaults to ``lens.max()``.
    """
    t = int(lens.max().item()) if max_len is None and lens.numel() else (max_len or 0)
    return torch.arange(t, device=lens.device)[None, :] < lens[:, None]


def sinusoidal_positions(length: int, dim: int, device=None, dtype=torch.float32) -> Tensor:
    """Sinusoidal position encodings float [length, dim] (sin on even, cos on odd channels)."""
    pos = torch.arange(length, device=device, dtype=torch.float32)[:, None]
    div = torch.exp(torch.arange(0, dim, 2, device=device, dtype=torch.float32) * (-math.log(10000.0) / dim))
    pe = torch.zeros(length, dim, device=device, dtype=torch.float32)
    pe[:, 0::2] = torch.sin(pos * div)
    pe[:, 1::2] = torch.cos(pos * div[: dim // 2])
    return pe.to(dtype)
