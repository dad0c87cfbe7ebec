"""Acoustic features: fbank (kaldi-native-fbank), LFR stacking, global CMVN, SpecAugment, speed perturbation and
the batched :class:`Frontend` module (LFR + CMVN, optionally per-utterance CMVN, + SpecAugment)."""

from asr.features.cmvn import CmvnAccumulator, GlobalCmvn
from asr.features.fbank import FbankConfig, compute_fbank, num_frames
from asr.features.lfr import LfrConfig, apply_lfr, apply_lfr_batch, lfr_lengths
from asr.features.specaug import SpecAugConfig, spec_augment
from asr.features.speed import SpeedPerturbConfig, speed_perturb

__all__ = [
    "FbankConfig",
    "compute_fbank",
    "num_frames",
    "LfrConfig",
    "apply_lfr",
    "apply_lfr_batch",
    "lfr_lengths",
    "GlobalCmvn",
    "CmvnAccumulator",
    "SpecAugConfig",
    "spec_augment",
    "SpeedPerturbConfig",
    "speed_perturb",
    "Frontend",
    "FrontendConfig",
    "UtteranceCmvnConfig",
]


def __getattr__(name: str):
    # Frontend imports torch.nn; load it on first use so numpy-only users of this package stay light.
    if name in ("Frontend", "FrontendConfig", "UtteranceCmvnConfig"):
        from asr.features import frontend

        return getattr(frontend, name)
    raise AttributeError(name)
