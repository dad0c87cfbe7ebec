"""CIF predictor module: encoder states float [B, T, D] + lengths (+ target lengths in training) -> token
embeddings float [B, U, D], token counts, frame weights and fire frames.

Weights come from a depthwise conv over time (residual) -> ReLU -> linear -> sigmoid, as in Paraformer's
``CifPredictor`` (Gao et al., Interspeech 2022); the integration is :mod:`asr.models.cif`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from asr.models.cif import add_tail, cif, count_tokens, scale_weights
from asr.models.config import PredictorConfig
from asr.models.masks import lengths_to_mask

__all__ = ["PredictorOutput", "CifPredictor"]


@dataclass
class PredictorOutput:
    """What the predictor gives the decoder and the losses.

    Attributes:
        embeds: float [B, U, D] acoustic token embeddings.
        token_lens: int64 [B] tokens (targets in training, predicted at inference).
        quantity: float [B] unscaled sum of weights (the MAE loss compares it with the target length).
        alphas: float [B, T'] weights used for integration (scaled in training, with tail at inference; T' = T+1
            at inference).
        weights: float [B, U, T'] integration weights of frame t in token u.
        fires: int64 [B, U] fire frame per token, -1 beyond token_lens.
    """

    embeds: Tensor
    token_lens: Tensor
    quantity: Tensor
    alphas: Tensor
    weights: Tensor
    fires: Tensor


class CifPredictor(nn.Module):
    """Frame weights + CIF.

    Args:
        d_model: Encoder width D.
        cfg: :class:`PredictorConfig`.
    """

    def __init__(self, d_model: int, cfg: PredictorConfig):
        super().__init__()
        self.cfg = cfg
        self.conv = nn.Conv1d(d_model, d_model, cfg.l_order + cfg.r_order + 1, groups=d_model)
        self.proj = nn.Linear(d_model, 1)
        self.dropout = nn.Dropout(cfg.dropout)

    def frame_weights(self, hidden: Tensor, lens: Tensor) -> Tensor:
        """float [B, T, D] -> float [B, T] weights in [0, 1], zero on padding."""
        mask = lengths_to_mask(lens, hidden.shape[1])
        x = hidden.transpose(1, 2)
        y = self.conv(F.pad(x, (self.cfg.l_order, self.cfg.r_order))) + x
        y = torch.relu(self.dropout(y.transpose(1, 2)))
        alphas = torch.sigmoid(self.proj(y).squeeze(-1).float())
        alphas = torch.relu(alphas * self.cfg.smooth_factor - self.cfg.noise_threshold)
        return alphas * mask.to(alphas.dtype)

    def forward(self, hidden: Tensor, lens: Tensor, target_lens: Tensor | None = None) -> PredictorOutput:
        """Integrate the encoder states into tokens.

        Args:
            hidden: float [B, T, D] encoder output.
            lens: int64 [B] valid frames.
            target_lens: int64 [B] target token counts (training); ``None`` at inference.

        Returns:
            :class:`PredictorOutput`.
        """
        alphas = self.frame_weights(hidden, lens)
        quantity = alphas.sum(-1)
        threshold = self.cfg.threshold
        if target_lens is not None:
            alphas = scale_weights(alphas, target_lens, threshold)
            num = target_lens
        else:
            hidden, alphas = add_tail(hidden, alphas, lens, self.cfg.tail_threshold)
            num = count_tokens(alphas, threshold)
        out = cif(hidden.float(), alphas, num, threshold)
        return PredictorOutput(out.embeds.to(hidden.dtype), num, quantity, alphas, out.weights, out.fires)
