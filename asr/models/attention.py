"""Shared transformer pieces: multi-head attention over masked sequences [B, T, D] -> [B, T, D], the position-wise
feed-forward layer, and the FSMN memory block (a depthwise convolution over time with a residual connection).

References: Vaswani et al. (2017) for attention; Zhang et al., "Deep-FSMN for large vocabulary continuous speech
recognition" (ICASSP 2018) and Gao et al., "SAN-M: Memory equipped self-attention for end-to-end speech recognition"
(Interspeech 2020) for the memory block.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["MultiHeadAttention", "FeedForward", "FsmnMemory"]


class MultiHeadAttention(nn.Module):
    """Scaled dot-product attention with separate query and key/value inputs (self- or cross-attention).

    Args:
        d_model: Model width D.
        num_heads: Heads H (D divisible by H).
        dropout: Attention-probability dropout (training only).
    """

    def __init__(self, d_model: int, num_heads: int, dropout: float = 0.0):
        super().__init__()
        self.h = num_heads
        self.d_k = d_model // num_heads
        self.q = nn.Linear(d_model, d_model)
        self.kv = nn.Linear(d_model, 2 * d_model)
        self.out = nn.Linear(d_model, d_model)
        self.dropout = dropout

    def split(self, x: Tensor) -> Tensor:
        """[B, T, D] -> [B, H, T, D/H]."""
        b, t, _ = x.shape
        return x.view(b, t, self.h, self.d_k).transpose(1, 2)

    def attend(self, q: Tensor, k: Tensor, v: Tensor, key_mask: Tensor) -> Tensor:
        """Attention of split heads; ``key_mask`` bool [B, Tk] (True = real key). Returns [B, Tq, D]."""
        b, _, tq, _ = q.shape
        mask = key_mask[:, None, None, :]
        out = F.scaled_dot_product_attention(
            q, k, v, attn_mask=mask, dropout_p=self.dropout if self.training else 0.0
        )
        return self.out(out.transpose(1, 2).reshape(b, tq, self.h * self.d_k))

    def forward(self, query: Tensor, memory: Tensor, key_mask: Tensor) -> Tensor:
        """Args: query float [B, Tq, D]; memory float [B, Tk, D]; key_mask bool [B, Tk]. Returns float [B, Tq, D]."""
        k, v = self.kv(memory).chunk(2, dim=-1)
        return self.attend(self.split(self.q(query)), self.split(k), self.split(v), key_mask)


class FeedForward(nn.Module):
    """Linear -> activation -> dropout -> linear, float [B, T, D] -> [B, T, D]."""

    def __init__(self, d_model: int, ffn_dim: int, dropout: float = 0.0, activation: str = "relu"):
        super().__init__()
        self.w1 = nn.Linear(d_model, ffn_dim)
        self.w2 = nn.Linear(ffn_dim, d_model)
        self.act = nn.SiLU() if activation == "swish" else nn.ReLU()
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor) -> Tensor:
        return self.w2(self.dropout(self.act(self.w1(x))))


class FsmnMemory(nn.Module):
    """FSMN memory block: ``y = x + depthwise_conv(x)`` over time, padding frames zeroed before and after.

    Args:
        d_model: Channels D.
        kernel: Taps; centred (``(kernel-1)//2`` past and the rest future) unless ``left`` is given.
        dropout: Dropout on the output.
        left: Past taps (e.g. ``kernel - 1`` for a causal block).
    """

    def __init__(self, d_model: int, kernel: int, dropout: float = 0.0, left: int | None = None):
        super().__init__()
        self.left = (kernel - 1) // 2 if left is None else left
        self.right = kernel - 1 - self.left
        self.conv = nn.Conv1d(d_model, d_model, kernel, groups=d_model, bias=False)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        """Args: x float [B, T, D]; mask bool [B, T]. Returns float [B, T, D], zero on padding."""
        m = mask[:, :, None].to(x.dtype)
        x = x * m
        y = F.pad(x.transpose(1, 2), (self.left, self.right))
        y = self.conv(y).transpose(1, 2)
        return self.dropout(y + x) * m
