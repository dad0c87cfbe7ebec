"""The model's front end as an ``nn.Module``: padded fbank ``[B, T, 80]`` + lengths ``[B]`` -> LFR-stacked,
CMVN-normalized (and, in training mode, SpecAugmented) features ``[B, ceil(T/n), 80*m]`` + lengths ``[B]``.

Fbank itself is computed per utterance in the data loader (:mod:`asr.features.fbank`, CPU, kaldi-native-fbank);
everything after it is batched tensor work on the model's device. The CMVN stats are buffers, so they travel with
``model.to(device)`` and are saved in the checkpoint's state dict as well as in ``cmvn.json``.

Reference: FunASR ``WavFrontend`` (fbank -> LFR -> CMVN) followed by ``SpecAugLFR`` in Paraformer training.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from asr.features.cmvn import GlobalCmvn
from asr.features.lfr import LfrConfig, apply_lfr_batch
from asr.features.specaug import SpecAugConfig, spec_augment

__all__ = ["FrontendConfig", "Frontend"]


@dataclass
class FrontendConfig:
    """Front-end options (YAML section ``frontend``).

    Attributes:
        input_dim: Fbank bins coming in.
        lfr: LFR stacking.
        specaug: SpecAugment options; ``None`` disables it.
    """

    input_dim: int = 80
    lfr: LfrConfig = field(default_factory=LfrConfig)
    specaug: SpecAugConfig | None = field(default_factory=SpecAugConfig)

    @property
    def output_dim(self) -> int:
        return self.input_dim * self.lfr.m


class Frontend(nn.Module):
    """LFR + global CMVN (+ SpecAugment when ``self.training`` and ``self.specaug_enabled``).

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
        x = (x - self.cmvn_mean) / self.cmvn_std
        if self.training and self.specaug_enabled and self.config.specaug is not None:
            groups = lfr.m if self.config.specaug.lfr_aware_freq_mask else 1
            x = spec_augment(x, x_lens, self.config.specaug, generator, groups)
        valid = torch.arange(x.shape[1], device=x.device)[None, :] < x_lens[:, None]
        return x.masked_fill(~valid[:, :, None], 0.0), x_lens
