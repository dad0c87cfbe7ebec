"""Optional CTC head on the encoder: encoder states float [B, T, D] -> frame log-probs float [B, T, V] and the CTC
loss against token targets (blank = id 0 of tokens.txt).

Reference: Graves et al., "Connectionist temporal classification" (ICML 2006); used as an auxiliary loss in
Paraformer recipes (FunASR ``ctc_weight``).
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from asr.models.ctc_loss import ctc_loss

__all__ = ["CtcHead"]


class CtcHead(nn.Module):
    """Linear projection + log-softmax, and the batch-mean CTC loss.

    Args:
        d_model: Encoder width D.
        vocab_size: V.
    """

    def __init__(self, d_model: int, vocab_size: int):
        super().__init__()
        self.proj = nn.Linear(d_model, vocab_size)

    def forward(self, hidden: Tensor) -> Tensor:
        """float [B, T, D] -> float32 [B, T, V] natural-log probabilities."""
        return F.log_softmax(self.proj(hidden).float(), dim=-1)

    def loss(self, hidden: Tensor, lens: Tensor, targets: Tensor, target_lens: Tensor) -> Tensor:
        """CTC loss summed over each utterance, averaged over the batch.

        Args:
            hidden: float [B, T, D]; lens int64 [B].
            targets: int64 [B, U], -1 padding; target_lens int64 [B].

        Returns:
            float scalar. Utterances too short for their targets contribute zero (``zero_infinity``).
        """
        return self.loss_from_log_probs(self.forward(hidden), lens, targets, target_lens)

    def loss_from_log_probs(
        self, log_probs: Tensor, lens: Tensor, targets: Tensor, target_lens: Tensor
    ) -> Tensor:
        """:meth:`loss` from this head's output float [B, T, V] (e.g. an intermediate block's)."""
        logp = log_probs.transpose(0, 1)  # [T, B, V]
        loss = ctc_loss(
            logp, targets.clamp(min=0), lens, target_lens, blank=0, reduction="sum", zero_infinity=True
        )
        return loss / max(log_probs.shape[0], 1)
