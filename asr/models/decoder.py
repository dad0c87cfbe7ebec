"""Paraformer non-autoregressive decoder: acoustic token embeddings float [B, U, D] + encoder states float [B, T, D]
-> token logits float [B, U, V], all slots at once; and the glancing (GLM) sampler used in training.

Each block: FSMN memory over the token slots (the decoder's "self-attention" in SAN-M form), cross-attention to the
encoder, feed-forward; pre-norm residuals. Reference: Gao et al., "Paraformer: Fast and accurate parallel
transformer for non-autoregressive end-to-end speech recognition" (Interspeech 2022) and FunASR's
``ParaformerSANMDecoder``; the sampler follows Qian et al., "Glancing transformer for non-autoregressive neural
machine translation" (ACL 2021) as Paraformer uses it.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from asr.models.attention import FeedForward, FsmnMemory, MultiHeadAttention
from asr.models.config import DecoderConfig
from asr.models.masks import lengths_to_mask

__all__ = ["DecoderLayer", "ParaformerDecoder", "glancing_sample"]


class DecoderLayer(nn.Module):
    """FSMN memory over slots -> cross-attention -> feed-forward, pre-norm residual."""

    def __init__(self, d_model: int, cfg: DecoderConfig):
        super().__init__()
        self.norm1 = nn.LayerNorm(d_model)
        self.memory = FsmnMemory(d_model, cfg.fsmn_kernel, dropout=0.0)
        self.norm2 = nn.LayerNorm(d_model)
        self.cross = MultiHeadAttention(d_model, cfg.num_heads, cfg.attn_dropout)
        self.norm3 = nn.LayerNorm(d_model)
        self.ffn = FeedForward(d_model, cfg.ffn_dim, cfg.dropout)
        self.dropout = nn.Dropout(cfg.dropout)

    def forward(self, x: Tensor, mask: Tensor, memory: Tensor, memory_mask: Tensor) -> Tensor:
        x = x + self.dropout(self.memory(self.norm1(x), mask))
        x = x + self.dropout(self.cross(self.norm2(x), memory, memory_mask))
        return x + self.dropout(self.ffn(self.norm3(x)))


class ParaformerDecoder(nn.Module):
    """The NAR decoder.

    Args:
        vocab_size: V (tokens.txt size).
        d_model: D, equal to the encoder width (the CIF embeddings are encoder states).
        cfg: :class:`DecoderConfig`.
    """

    def __init__(self, vocab_size: int, d_model: int, cfg: DecoderConfig):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, d_model)  # target embeddings for the glancing sampler
        self.layers = nn.ModuleList(DecoderLayer(d_model, cfg) for _ in range(cfg.num_layers))
        self.norm = nn.LayerNorm(d_model)
        self.output = nn.Linear(d_model, vocab_size)

    def forward(self, embeds: Tensor, token_lens: Tensor, memory: Tensor, memory_lens: Tensor) -> Tensor:
        """Args:
            embeds: float [B, U, D] acoustic embeddings (from CIF, or mixed by :func:`glancing_sample`).
            token_lens: int64 [B].
            memory: float [B, T, D] encoder output.
            memory_lens: int64 [B].

        Returns:
            float [B, U, V] logits.
        """
        mask = lengths_to_mask(token_lens, embeds.shape[1])
        memory_mask = lengths_to_mask(memory_lens, memory.shape[1])
        x = embeds
        for layer in self.layers:
            x = layer(x, mask, memory, memory_mask)
        return self.output(self.norm(x))


def glancing_sample(
    decoder: ParaformerDecoder,
    embeds: Tensor,
    token_lens: Tensor,
    memory: Tensor,
    memory_lens: Tensor,
    targets: Tensor,
    ratio: float,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Glancing sampler: a first decoder pass without gradient counts each utterance's wrong slots n; then
    ``floor(ratio * n)`` slots chosen uniformly among the real ones get the target token's embedding instead of the
    acoustic one. The harder the utterance, the more of the answer the second pass sees.

    Args:
        decoder: The decoder (its ``embed`` table gives target embeddings).
        embeds: float [B, U, D] CIF embeddings.
        token_lens: int64 [B].
        memory: float [B, T, D]; memory_lens int64 [B].
        targets: int64 [B, U] target ids, -1 padding.
        ratio: Sampling ratio (Paraformer uses 0.75).
        generator: Optional RNG for the slot choice.

    Returns:
        float [B, U, D] mixed embeddings (``embeds`` itself when ratio is 0).
    """
    if ratio <= 0:
        return embeds
    with torch.no_grad():
        was_training = decoder.training
        pred = decoder(embeds, token_lens, memory, memory_lens).argmax(-1)
        decoder.train(was_training)
        valid = targets >= 0
        wrong = ((pred != targets) & valid).sum(-1)
        n_pick = torch.floor(wrong.float() * ratio).long()  # [B]
        scores = torch.rand(targets.shape, device=targets.device, generator=generator)
        scores = scores.masked_fill(~valid, 2.0)  # padding ranks last
        rank = scores.argsort(-1).argsort(-1)
        pick = rank < n_pick[:, None]
    target_embeds = decoder.embed(targets.clamp(min=0)).to(embeds.dtype)
    return torch.where(pick[:, :, None], target_embeds, embeds)
