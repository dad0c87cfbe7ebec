"""The model's front end as an ``nn.Module``: padded fbank ``[B, T, 80]`` + lengths ``[B]`` -> LFR-stacked,
CMVN-normalized (optionally also per utterance; in training mode SpecAugmented) features ``[B, ceil(T/n), 80*m]`` +
lengths ``[B]``.

Fbank itself is computed per utterance in the data loader (:mod:`asr.features.fbank`, CPU, kaldi-native-fbank);
everything after it is batched tensor work on the model's device. The CMVN stats are buffers, so they travel with
``model.to(device)`` and are saved in the checkpoint's state dict as well as in ``cmvn.json``.

Per-utterance CMVN (``frontend.utterance_cmvn``, off by default) replaces the global mean by the utterance's own:
each fbank bin's mean over the utterance's speech frames is taken out of each stacked frame, as Kaldi's
``apply-cmvn`` does with per-utterance stats, and the result is scaled by the global std (or by the utterance's own
with ``norm_vars``), so a change of gain or of the voice's long-term spectrum moves nothing. Speech frames are fbank
frames whose energy is within ``floor_db`` of the utterance's loudest (the rule of ``cifst data trim``), so leading
and trailing silence, present at test time but cut from trimmed training data, does not shift the mean.

Reference: FunASR ``WavFrontend`` (fbank -> LFR -> CMVN) followed by ``SpecAugLFR`` in Paraformer training; Kaldi
``apply-cmvn`` with per-utterance statistics.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from torch import nn

from asr.features.cmvn import GlobalCmvn
from asr.features.lfr import LfrConfig, apply_lfr_batch
from asr.features.specaug import SpecAugConfig, spec_augment

__all__ = ["FrontendConfig", "Frontend", "UtteranceCmvnConfig", "utterance_stats"]


@dataclass
class UtteranceCmvnConfig:
    """Per-utterance CMVN options (YAML section ``frontend.utterance_cmvn``).

    Attributes:
        floor_db: Fbank frames whose energy (log of the summed mel power) is more than this many dB below the
            utterance's loudest frame are left out of the statistics; ``null`` uses every frame.
        norm_vars: Divide by the utterance's standard deviation (per bin) over those frames instead of the global
            one.
    """

    floor_db: float | None = 40.0
    norm_vars: bool = False


@dataclass
class FrontendConfig:
    """Front-end options (YAML section ``frontend``).

    Attributes:
        input_dim: Fbank bins coming in.
        lfr: LFR stacking.
        specaug: SpecAugment options; ``None`` disables it.
        utterance_cmvn: Per-utterance CMVN: each utterance's own mean in place of the global one; ``None`` (the
            default) disables it.
    """

    input_dim: int = 80
    lfr: LfrConfig = field(default_factory=LfrConfig)
    specaug: SpecAugConfig | None = field(default_factory=SpecAugConfig)
    utterance_cmvn: UtteranceCmvnConfig | None = None

    @property
    def output_dim(self) -> int:
        return self.input_dim * self.lfr.m


def utterance_stats(
    feats: torch.Tensor,
    lens: torch.Tensor,
    floor_db: float | None = 40.0,
    eps: float = 1e-5,
    with_std: bool = True,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Each utterance's mean and standard deviation per fbank bin over its speech frames.

    Args:
        feats: float ``[B, T, D]`` padded log-mel fbank.
        lens: int64 ``[B]`` valid frames.
        floor_db: A frame counts when its energy (log of the summed mel power) is at most this many dB below the
            utterance's loudest valid frame; ``None`` counts every valid frame. The loudest frame always counts, so
            no non-empty utterance is left without statistics.
        eps: Floor of the standard deviation.
        with_std: Compute the standard deviation; ``False`` returns ``None`` in its place (the mean-only front end
            does not pay for it on every batch).

    Returns:
        ``(mean, std)``, float ``[B, D]`` each (zeros and ``eps`` for an empty utterance).
    """
    valid = torch.arange(feats.shape[1], device=feats.device)[None, :] < lens[:, None]
    counted = valid
    if floor_db is not None:
        energy = torch.logsumexp(feats, dim=2)
        loudest = energy.masked_fill(~valid, float("-inf")).amax(dim=1, keepdim=True)
        counted = valid & (energy >= loudest - floor_db * math.log(10.0) / 10.0)
    w = counted.to(feats.dtype)[:, :, None]
    n = w.sum(dim=1).clamp_min(1.0)
    mean = (feats * w).sum(dim=1) / n
    if not with_std:
        return mean, None
    var = ((feats - mean[:, None, :]).square() * w).sum(dim=1) / n
    return mean, var.sqrt().clamp_min(eps)


class Frontend(nn.Module):
    """LFR + global CMVN (the utterance's own mean instead of the global one when ``utterance_cmvn`` is set)
    (+ SpecAugment when ``self.training`` and ``self.specaug_enabled``).

    ``specaug_enabled`` (default ``True``) lets the trainer hold SpecAugment back for the first epochs
    (``train.specaug_from_epoch``); it is not saved with the model.

    Args:
        config: Options.
        cmvn: Stats over the LFR features (``output_dim`` dims); ``None`` means identity until
            :meth:`set_cmvn` (e.g. when the state dict is loaded from a checkpoint).
    """

    def __init__(self, config: FrontendConfig | None = None, cmvn: GlobalCmvn | None = None):
        super().__init__()
        self.config = config or FrontendConfig()
        dim = self.config.output_dim
        self.specaug_enabled = True
        self.register_buffer("cmvn_mean", torch.zeros(dim))
        self.register_buffer("cmvn_std", torch.ones(dim))
        if cmvn is not None:
            self.set_cmvn(cmvn)

    @property
    def output_dim(self) -> int:
        return self.config.output_dim

    def set_cmvn(self, cmvn: GlobalCmvn) -> None:
        """Load CMVN stats into the buffers.

        Raises:
            ValueError: the stats' dimension is not ``output_dim``.
        """
        if cmvn.dim != self.output_dim:
            raise ValueError(
                f"cmvn.json has {cmvn.dim} dims but the front end outputs {self.output_dim} "
                f"({self.config.input_dim} bins x LFR m={self.config.lfr.m}); recompute it for this config"
            )
        self.cmvn_mean.copy_(torch.as_tensor(cmvn.mean))
        self.cmvn_std.copy_(torch.as_tensor(cmvn.std))

    def forward(self, feats: torch.Tensor, lens: torch.Tensor, generator: torch.Generator | None = None):
        """Args:
            feats: float32 ``[B, T, input_dim]`` padded fbank.
            lens: int64 ``[B]`` valid frames.
            generator: Optional CPU generator for SpecAugment.

        Returns:
            ``(x, x_lens)``: float32 ``[B, ceil(T/n), output_dim]`` (zeros beyond ``x_lens``) and int64 ``[B]``.
        """
        if feats.dim() != 3 or feats.shape[2] != self.config.input_dim:
            raise ValueError(
                f"Frontend expects [B, T, {self.config.input_dim}] features, got {tuple(feats.shape)}"
            )
        lfr = self.config.lfr
        x, x_lens = apply_lfr_batch(feats, lens, lfr.m, lfr.n)
        ucmvn = self.config.utterance_cmvn
        if ucmvn is None:
            x = (x - self.cmvn_mean) / self.cmvn_std
        else:
            # stats over the utterance's speech fbank frames, taken out of each of the m stacked frames; the
            # global std still scales the result unless the utterance's own std does
            mean, std = utterance_stats(feats, lens, ucmvn.floor_db, with_std=ucmvn.norm_vars)
            scale = std.repeat(1, lfr.m)[:, None, :] if ucmvn.norm_vars else self.cmvn_std
            x = (x - mean.repeat(1, lfr.m)[:, None, :]) / scale
        if self.training and self.specaug_enabled and self.config.specaug is not None:
            groups = lfr.m if self.config.specaug.lfr_aware_freq_mask else 1
            x = spec_augment(x, x_lens, self.config.specaug, generator, groups)
        valid = torch.arange(x.shape[1], device=x.device)[None, :] < x_lens[:, None]
        return x.masked_fill(~valid[:, :, None], 0.0), x_lens
