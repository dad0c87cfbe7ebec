"""Timestamp predictor: encoder states float [B, T, D] -> upsampled CIF weights float [B, T*u] -> token start/end
times in seconds float [B, U, 2].

The encoder frames (60 ms after LFR) are upsampled u times by a transposed convolution, a depthwise conv + linear +
sigmoid gives a weight per upsampled frame, trained with its own quantity (MAE) loss; at inference the weights are
rescaled to the token count the main predictor found, integrated as in CIF, and each token spans from the first
sub-frame that gives it weight to the sub-frame where it fires. Reference: the upsampled-CIF timestamp predictor of
FunASR's Paraformer-large (``CifPredictorV3``, Shi et al., "Achieving timestamp prediction while recognizing with
non-autoregressive end-to-end ASR model", 2023). Departure: a separate small head on the encoder output instead of
sharing the main predictor's hidden layer, and spans read from the integration weights rather than from fire peaks.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from asr.models.cif import cif_weight_matrix, fire_frames, scale_weights, token_spans
from asr.models.config import TimestampConfig
from asr.models.masks import lengths_to_mask

__all__ = ["TimestampPredictor", "spans_to_seconds"]


class TimestampPredictor(nn.Module):
    """Upsampled CIF weights for token times.

    Args:
        d_model: Encoder width D.
        cfg: :class:`TimestampConfig`.
    """

    def __init__(self, d_model: int, cfg: TimestampConfig):
        super().__init__()
        self.u = cfg.upsample
        self.upsample = nn.ConvTranspose1d(d_model, d_model, cfg.upsample, stride=cfg.upsample)
        self.conv = nn.Conv1d(d_model, d_model, cfg.kernel, padding=cfg.kernel // 2, groups=d_model)
        self.proj = nn.Linear(d_model, 1)

    def forward(self, hidden: Tensor, lens: Tensor) -> tuple[Tensor, Tensor]:
        """Args: hidden float [B, T, D]; lens int64 [B]. Returns (alphas float32 [B, T*u], lens*u int64 [B])."""
        up_lens = lens * self.u
        mask = lengths_to_mask(up_lens, hidden.shape[1] * self.u)
        x = self.upsample(hidden.transpose(1, 2))  # [B, D, T*u]
        x = x * mask[:, None, :].to(x.dtype)
        x = F.relu(self.conv(x) + x).transpose(1, 2)
        alphas = torch.sigmoid(self.proj(x).squeeze(-1).float())
        return alphas * mask.to(alphas.dtype), up_lens

    def spans(self, alphas: Tensor, token_lens: Tensor, threshold: float = 1.0) -> tuple[Tensor, Tensor]:
        """Token spans in upsampled frames.

        Args:
            alphas: float [B, T*u] from :meth:`forward`.
            token_lens: int64 [B] token counts (from the main predictor).

        Returns:
            start int64 [B, U] and end int64 [B, U] (exclusive), -1 beyond token_lens.
        """
        scaled = scale_weights(alphas, token_lens, threshold)
        weights = cif_weight_matrix(scaled, token_lens, threshold)
        return token_spans(weights, fire_frames(scaled, token_lens, threshold))


def spans_to_seconds(start: Tensor, end: Tensor, frame_seconds: float) -> Tensor:
    """Frame spans -> float32 [B, U, 2] (start, end) seconds; ``frame_seconds`` is the duration of one (sub)frame."""
    return torch.stack([start, end], dim=-1).float() * frame_seconds
