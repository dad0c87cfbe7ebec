"""SAN-M encoder: LFR features float [B, T, 560] + lengths -> encoder states float [B, T, D] + lengths.

Each block is pre-norm self-attention whose value path also feeds an FSMN memory block (depthwise conv over time),
the two summed ("memory equipped self-attention"), then a feed-forward layer. Reference: Gao et al., "SAN-M: Memory
equipped self-attention for end-to-end speech recognition" (Interspeech 2020), the encoder of Paraformer
(FunASR ``SANMEncoder``). Departure: features enter through a linear projection to D plus sinusoidal positions,
instead of a first block whose input size differs from the rest.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch.nn.functional as F
from torch import Tensor, nn

from asr.models.attention import FeedForward, FsmnMemory, MultiHeadAttention
from asr.models.config import EncoderConfig
from asr.models.masks import lengths_to_mask, sinusoidal_positions

__all__ = [
    "SanmAttention",
    "SanmEncoderLayer",
    "SanmEncoder",
    "InputProjection",
    "FreqConvInput",
    "make_input_layer",
]


class SanmAttention(MultiHeadAttention):
    """Self-attention plus an FSMN memory block on the values: ``out = attn(x) + fsmn(v)``."""

    def __init__(self, d_model: int, num_heads: int, fsmn_kernel: int, dropout: float = 0.0):
        super().__init__(d_model, num_heads, dropout)
        self.fsmn = FsmnMemory(d_model, fsmn_kernel, dropout=0.0)

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:  # type: ignore[override]
        """Args: x float [B, T, D]; mask bool [B, T]. Returns float [B, T, D]."""
        q = self.q(x)
        k, v = self.kv(x).chunk(2, dim=-1)
        memory = self.fsmn(v, mask)
        return self.attend(self.split(q), self.split(k), self.split(v), mask) + memory


class SanmEncoderLayer(nn.Module):
    """Pre-norm block: ``x += drop(sanm(ln(x)))``; ``x += drop(ffn(ln(x)))``."""

    def __init__(self, cfg: EncoderConfig):
        super().__init__()
        d = cfg.d_model
        self.norm1 = nn.LayerNorm(d)
        self.attn = SanmAttention(d, cfg.num_heads, cfg.fsmn_kernel, cfg.attn_dropout)
        self.norm2 = nn.LayerNorm(d)
        self.ffn = FeedForward(d, cfg.ffn_dim, cfg.dropout)
        self.dropout = nn.Dropout(cfg.dropout)

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        x = x + self.dropout(self.attn(self.norm1(x), mask))
        return x + self.dropout(self.ffn(self.norm2(x)))


class InputProjection(nn.Module):
    """float [B, T, input_dim] -> float [B, T, D]: linear, LayerNorm (times sqrt(D) with ``scale``), plus
    sinusoidal positions, dropout."""

    def __init__(self, input_dim: int, d_model: int, dropout: float, scale: bool = False):
        super().__init__()
        self.linear = nn.Linear(input_dim, d_model)
        self.norm = nn.LayerNorm(d_model)
        self.scale = math.sqrt(d_model) if scale else 1.0
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor) -> Tensor:
        x = self.norm(self.linear(x)) * self.scale
        x = x + sinusoidal_positions(x.shape[1], x.shape[2], x.device, x.dtype)[None]
        return self.dropout(x)


class FreqConvInput(nn.Module):
    """float [B, T, m * bins] -> float [B, T, D]: each LFR frame (m stacked fbank frames of ``bins`` mel bins)
    through two convolutions along the mel axis, then linear, LayerNorm, sinusoidal positions, dropout.

    The m stacked frames are the input channels of the first convolution (kernel 5, stride 2, ``channels[0]``
    outputs), a second one (kernel 3, stride 2, ``channels[1]`` outputs) follows, SiLU after each, both padded to
    keep ``ceil(bins / 4)`` bins; the result is flattened into the projection to D. Weights shared along the mel
    axis see a formant or harmonic pattern the same wherever a voice puts it, which the plain projection has to
    learn once per position. Frames never mix (time is the encoder's business), so padding stays exact. Both
    convolutions are unfold + matmul (equal to ``F.conv1d``, tested); a per-frame ``nn.Conv2d`` front end measured
    ~2.7x slower on the CPU.
    """

    KERNELS = (5, 3)

    def __init__(self, input_dim: int, bins: int, channels: list[int], d_model: int, dropout: float):
        super().__init__()
        if bins < 1 or input_dim % bins:
            raise ValueError(f"input_dim {input_dim} is not a whole number of {bins}-bin frames")
        self.frames, self.bins = input_dim // bins, bins
        k1, k2 = self.KERNELS
        c1, c2 = channels
        self.conv1 = nn.Linear(self.frames * k1, c1)  # weight [c1, frames * k1] = Conv1d's [c1, frames, k1]
        self.conv2 = nn.Linear(c1 * k2, c2)  # weight [c2, c1 * k2] = Conv1d's [c2, c1, k2]
        self.bins1 = (bins - 1) // 2 + 1
        self.bins2 = (self.bins1 - 1) // 2 + 1
        self.linear = nn.Linear(c2 * self.bins2, d_model)
        self.norm = nn.LayerNorm(d_model)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor) -> Tensor:
        b, t, _ = x.shape
        k1, k2 = self.KERNELS
        y = x.reshape(b * t, self.frames, self.bins)
        y = F.pad(y, (k1 // 2, k1 // 2)).unfold(2, k1, 2)  # [N, frames, bins1, k1]
        y = y.transpose(1, 2).reshape(b * t, self.bins1, self.frames * k1)
        y = F.silu(self.conv1(y))  # [N, bins1, c1]
        y = F.pad(y, (0, 0, k2 // 2, k2 // 2)).unfold(1, k2, 2)  # [N, bins2, c1, k2]
        y = F.silu(self.conv2(y.reshape(b * t, self.bins2, -1)))  # [N, bins2, c2]
        x = self.norm(self.linear(y.reshape(b, t, -1)))
        x = x + sinusoidal_positions(x.shape[1], x.shape[2], x.device, x.dtype)[None]
        return self.dropout(x)


def make_input_layer(cfg: EncoderConfig) -> nn.Module:
    """The encoder's input layer named by ``cfg.input_layer``."""
    if cfg.input_layer == "freq_conv":
        return FreqConvInput(cfg.input_dim, cfg.input_bins, cfg.input_channels, cfg.d_model, cfg.dropout)
    return InputProjection(cfg.input_dim, cfg.d_model, cfg.dropout, cfg.scale_input)


class SanmEncoder(nn.Module):
    """The SAN-M encoder stack.

    Args:
        cfg: :class:`EncoderConfig` (``kind='san_m'``).
    """

    def __init__(self, cfg: EncoderConfig):
        super().__init__()
        self.input = make_input_layer(cfg)
        self.layers = nn.ModuleList(SanmEncoderLayer(cfg) for _ in range(cfg.num_layers))
        self.norm = nn.LayerNorm(cfg.d_model)
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
        return self.norm(x) * mask[:, :, None].to(x.dtype), lens

    def intermediate_norm(self, x: Tensor) -> Tensor:
        """A block's output as the final output would be normalized (for an intermediate CTC)."""
        return self.norm(x)
