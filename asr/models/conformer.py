"""Conformer encoder: LFR features float [B, T, 560] + lengths -> encoder states float [B, T, D] + lengths.

Each block: half-step feed-forward, multi-head self-attention, convolution module (pointwise + GLU, depthwise,
norm, swish, pointwise), half-step feed-forward, final LayerNorm. Reference: Gulati et al., "Conformer:
Convolution-augmented transformer for speech recognition" (Interspeech 2020). Departures, both to keep padded
batches exact: absolute sinusoidal positions instead of relative positional attention, and LayerNorm instead of
BatchNorm in the convolution module (padding frames never enter a statistic). No subsampling layer: LFR already
gives 60 ms frames.
"""

from __future__ import annotations

from collections.abc import Callable

import torch.nn.functional as F
from torch import Tensor, nn

from asr.models.attention import FeedForward, MultiHeadAttention
from asr.models.config import EncoderConfig
from asr.models.masks import lengths_to_mask
from asr.models.san_m import make_input_layer

__all__ = ["ConvModule", "ConformerLayer", "ConformerEncoder"]


class ConvModule(nn.Module):
    """Conformer convolution module, float [B, T, D] -> [B, T, D], padding zeroed before the depthwise conv."""

    def __init__(self, d_model: int, kernel: int, dropout: float):
        super().__init__()
        self.pointwise1 = nn.Linear(d_model, 2 * d_model)
        self.depthwise = nn.Conv1d(d_model, d_model, kernel, padding=kernel // 2, groups=d_model)
        self.norm = nn.LayerNorm(d_model)
        self.pointwise2 = nn.Linear(d_model, d_model)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        m = mask[:, :, None].to(x.dtype)
        x = F.glu(self.pointwise1(x), dim=-1) * m
        x = self.depthwise(x.transpose(1, 2)).transpose(1, 2)
        x = F.silu(self.norm(x))
        return self.dropout(self.pointwise2(x)) * m


class ConformerLayer(nn.Module):
    """One Conformer block (macaron feed-forwards around attention and convolution)."""

    def __init__(self, cfg: EncoderConfig):
        super().__init__()
        d = cfg.d_model
        self.ff1_norm, self.ff1 = nn.LayerNorm(d), FeedForward(d, cfg.ffn_dim, cfg.dropout, "swish")
        self.attn_norm, self.attn = nn.LayerNorm(d), MultiHeadAttention(d, cfg.num_heads, cfg.attn_dropout)
        self.conv_norm, self.conv = nn.LayerNorm(d), ConvModule(d, cfg.conv_kernel, cfg.dropout)
        self.ff2_norm, self.ff2 = nn.LayerNorm(d), FeedForward(d, cfg.ffn_dim, cfg.dropout, "swish")
        self.final_norm = nn.LayerNorm(d)
        self.dropout = nn.Dropout(cfg.dropout)

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        x = x + 0.5 * self.dropout(self.ff1(self.ff1_norm(x)))
        h = self.attn_norm(x)
        x = x + self.dropout(self.attn(h, h, mask))
        x = x + self.conv(self.conv_norm(x), mask)
        x = x + 0.5 * self.dropout(self.ff2(self.ff2_norm(x)))
        return self.final_norm(x)


class ConformerEncoder(nn.Module):
    """The Conformer encoder stack (same interface as :class:`asr.models.san_m.SanmEncoder`)."""

    def __init__(self, cfg: EncoderConfig):
        super().__init__()
        self.input = make_input_layer(cfg)
        self.layers = nn.ModuleList(ConformerLayer(cfg) for _ in range(cfg.num_layers))
        self.output_dim = cfg.d_model

    def forward(
        self, feats: Tensor, lens: Tensor, after_block: Callable[[int, Tensor], Tensor] | None = None
    ) -> tuple[Tensor, Tensor]:
        """Args: feats float [B, T, input_dim]; lens int64 [B]; ``after_block(i, x)`` (optional) is called with each
        block's 1-based index and output and returns the next block's input (intermediate CTC). Returns (float
        [B, T, D] zero on padding, lens)."""
        mask = lengths_to_mask(lens, feats.shape[1])
        x = self.input(feats)
        for i, layer in enumerate(self.layers, start=1):
            x = layer(x, mask)
            if after_block is not None and i < len(self.layers):
                x = after_block(i, x)
        return x * mask[:, :, None].to(x.dtype), lens

    def intermediate_norm(self, x: Tensor) -> Tensor:
        """A block's output as the final output would be normalized (for an intermediate CTC): each Conformer
        block ends in its own LayerNorm, so as it is."""
        return x
