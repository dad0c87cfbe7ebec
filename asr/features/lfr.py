"""Low frame rate (LFR) stacking: fbank ``[T, D]`` -> ``[ceil(T / n), D * m]``, m frames stacked every n frames.

Output row ``i`` is the concatenation of input frames ``i*n - (m-1)//2 ... i*n - (m-1)//2 + m - 1``, with indices
clamped to ``[0, T-1]``: the first frame is repeated ``(m-1)//2`` times at the start and the last frame repeated to
fill the final rows. That is FunASR's ``apply_lfr`` (Paraformer's front end, m=7, n=6: 60 ms rows of 560 dims),
written as one gather instead of a loop over rows, and batched over padded utterances with per-utterance lengths.

Reference: FunASR ``funasr/frontends/wav_frontend.py`` ``apply_lfr``; Gao et al., "Paraformer", Interspeech 2022.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["LfrConfig", "apply_lfr", "apply_lfr_batch", "lfr_lengths"]


@dataclass
class LfrConfig:
    """LFR options (YAML section ``lfr``): stack ``m`` frames, advance ``n`` frames."""

    m: int = 7
    n: int = 6


def _check(m: int, n: int) -> None:
    if m < 1 or n < 1:
        raise ValueError(f"LFR needs m >= 1 and n >= 1, got m={m} n={n}")


def apply_lfr(feats, m: int = 7, n: int = 6):
    """Stack frames of one utterance.

    Args:
        feats: ``[T, D]`` numpy array or torch tensor (any float dtype).
        m: Frames stacked per output row.
        n: Hop in input frames between output rows.

    Returns:
        Same type and dtype as ``feats``, shape ``[ceil(T / n), D * m]`` (``[0, D * m]`` for ``T == 0``).
    """
    _check(m, n)
    num = feats.shape[0]
    dim = feats.shape[1]
    out_rows = -(-num // n)
    if out_rows == 0:
        if isinstance(feats, np.ndarray):
            return np.zeros((0, dim * m), dtype=feats.dtype)
        return feats.new_zeros((0, dim * m))
    idx = np.arange(out_rows)[:, None] * n + np.arange(m)[None, :] - (m - 1) // 2
    idx = np.clip(idx, 0, num - 1).reshape(-1)
    if isinstance(feats, np.ndarray):
        return feats[idx].reshape(out_rows, dim * m)
    import torch

    return feats[torch.as_tensor(idx, device=feats.device)].reshape(out_rows, dim * m)


def lfr_lengths(lens, n: int = 6):
    """Rows after LFR for input lengths ``lens`` (int tensor or array): ``ceil(lens / n)``."""
    return (lens + n - 1) // n


def apply_lfr_batch(feats, lens, m: int = 7, n: int = 6):
    """Stack frames of a padded batch; each utterance is clamped to its own length.

    Args:
        feats: float ``[B, T, D]`` torch tensor (padding beyond ``lens`` is ignored).
        lens: int64 ``[B]`` valid frames per utterance.
        m: Frames stacked per output row.
        n: Hop in input frames.

    Returns:
        ``(out, out_lens)``: float ``[B, ceil(T / n), D * m]`` with zeros beyond ``out_lens``, and int64 ``[B]``
        ``ceil(lens / n)``. Row ``i`` of utterance ``b`` equals ``apply_lfr(feats[b, :lens[b]])[i]``.
    """
    import torch

    _check(m, n)
    bsz, num, dim = feats.shape
    lens = lens.to(device=feats.device, dtype=torch.long)
    out_lens = lfr_lengths(lens, n)
    out_rows = -(-num // n)
    rows = torch.arange(out_rows, device=feats.device)
    offs = torch.arange(m, device=feats.device) - (m - 1) // 2
    idx = rows[:, None] * n + offs[None, :]  # [R, m]
    last = (lens - 1).clamp(min=0)[:, None, None]  # [B, 1, 1]
    idx = torch.minimum(idx.clamp(min=0)[None].expand(bsz, -1, -1), last)  # [B, R, m]
    gathered = torch.gather(feats, 1, idx.reshape(bsz, -1, 1).expand(-1, -1, dim))  # [B, R*m, D]
    out = gathered.reshape(bsz, out_rows, m * dim)
    valid = rows[None, :] < out_lens[:, None]
    out = out.masked_fill(~valid[:, :, None], 0.0)
    return out, out_lens
