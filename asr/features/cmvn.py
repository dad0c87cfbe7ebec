"""Global cepstral mean and variance normalization: feature matrices of a training set -> per-dimension mean and
standard deviation (``cmvn.json``, stored with the model) -> ``(x - mean) / std``.

Statistics are accumulated in float64 as count, sum and sum of squares (Kaldi's ``compute-cmvn-stats`` layout,
global rather than per speaker). The stats are taken over the features the model sees before SpecAugment: for
Paraformer that is the LFR-stacked fbank (560 dims), as in FunASR's ``am.mvn``.

Reference: Kaldi ``featbin/compute-cmvn-stats.cc`` and ``apply-cmvn``; FunASR ``WavFrontend.apply_cmvn``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from asr.data.atomic import atomic_write
from asr.errors import CifstError, InputError

__all__ = ["GlobalCmvn", "CmvnAccumulator"]


class CmvnAccumulator:
    """Running float64 count / sum / sum of squares over feature rows.

    Args:
        dim: Feature dimension; fixed by the first matrix when ``None``.
    """

    def __init__(self, dim: int | None = None):
        self.dim = dim
        self.count = 0
        self.sum = None if dim is None else np.zeros(dim, dtype=np.float64)
        self.sumsq = None if dim is None else np.zeros(dim, dtype=np.float64)

    def add(self, feats) -> None:
        """Add the rows of a float ``[T, D]`` matrix (numpy or torch)."""
        x = feats.detach().cpu().numpy() if hasattr(feats, "detach") else np.asarray(feats)
        if x.ndim != 2:
            raise ValueError(f"CMVN takes [T, D] matrices, got shape {x.shape}")
        if self.dim is None:
            self.dim = x.shape[1]
            self.sum = np.zeros(self.dim, dtype=np.float64)
            self.sumsq = np.zeros(self.dim, dtype=np.float64)
        if x.shape[1] != self.dim:
            raise ValueError(f"feature dimension changed from {self.dim} to {x.shape[1]}")
        x = x.astype(np.float64, copy=False)
        self.count += x.shape[0]
        self.sum += x.sum(axis=0)
        self.sumsq += np.square(x).sum(axis=0)

    def consume(
        self, feats: Iterable, total: int | None = None, progress: bool = True, desc: str = "CMVN stats"
    ) -> CmvnAccumulator:
        """Add every matrix of an iterable (``None`` and empty items are skipped); returns ``self``."""
        from tqdm import tqdm

        for x in tqdm(feats, total=total, desc=desc, disable=not progress, unit="utt"):
            if x is not None and len(x):
                self.add(x)
        return self

    def to_array(self) -> np.ndarray:
        """The stats as one float64 vector ``[count, sum..., sumsq...]`` (for a DDP all-reduce); needs ``dim``."""
        if self.dim is None:
            raise ValueError("an accumulator without a dimension has no array form")
        return np.concatenate([[float(self.count)], self.sum, self.sumsq])

    @classmethod
    def from_array(cls, a: np.ndarray) -> CmvnAccumulator:
        """Inverse of :meth:`to_array`."""
        a = np.asarray(a, dtype=np.float64)
        acc = cls((a.shape[0] - 1) // 2)
        acc.count = int(round(a[0]))
        acc.sum, acc.sumsq = a[1 : 1 + acc.dim].copy(), a[1 + acc.dim :].copy()
        return acc

    def merge(self, other: CmvnAccumulator) -> None:
        """Add another accumulator's stats (e.g. from another DDP rank)."""
        if other.count == 0:
            return
        if self.dim is None:
            self.dim, self.sum, self.sumsq = other.dim, other.sum.copy(), other.sumsq.copy()
            self.count = other.count
            return
        self.count += other.count
        self.sum += other.sum
        self.sumsq += other.sumsq

    def finish(self, floor: float = 1e-5) -> GlobalCmvn:
        """Turn the stats into a :class:`GlobalCmvn` (std floored at ``floor`` so a constant dim stays finite)."""
        if self.count == 0:
            raise CifstError(
                "no feature frames to compute CMVN from: every training utterance was skipped or empty "
                "(check the warnings above and the data dir with `cifst data validate`)"
            )
        mean = self.sum / self.count
        var = np.maximum(self.sumsq / self.count - np.square(mean), 0.0)
        std = np.maximum(np.sqrt(var), floor)
        return GlobalCmvn(mean.astype(np.float32), std.astype(np.float32), self.count)


@dataclass
class GlobalCmvn:
    """Per-dimension mean and standard deviation.

    Attributes:
        mean: float32 ``[D]``.
        std: float32 ``[D]`` (positive).
        frames: Number of frames the stats came from.
    """

    mean: np.ndarray
    std: np.ndarray
    frames: int = 0

    @property
    def dim(self) -> int:
        return int(self.mean.shape[0])

    @classmethod
    def compute(
        cls, feats: Iterable, total: int | None = None, progress: bool = True, desc: str = "CMVN stats"
    ):
        """Compute the stats over an iterable of ``[T, D]`` matrices (``None`` items are skipped).

        Args:
            feats: Matrices, e.g. LFR features of every training utterance.
            total: Length for the progress bar.
            progress: Show a tqdm progress bar.
            desc: Progress-bar label.
        """
        return CmvnAccumulator().consume(feats, total, progress, desc).finish()

    def apply(self, feats):
        """Normalize ``feats`` ``[..., D]`` (numpy or torch, any device); returns the same type."""
        if feats.shape[-1] != self.dim:
            raise ValueError(
                f"CMVN has {self.dim} dims but the features have {feats.shape[-1]}: the stats were computed "
                "for another front end (recompute cmvn.json with the model's LFR settings)"
            )
        if isinstance(feats, np.ndarray):
            return ((feats - self.mean) / self.std).astype(feats.dtype, copy=False)
        import torch

        mean = torch.as_tensor(self.mean, device=feats.device, dtype=feats.dtype)
        std = torch.as_tensor(self.std, device=feats.device, dtype=feats.dtype)
        return (feats - mean) / std

    def save(self, path: str | os.PathLike) -> None:
        """Write ``cmvn.json`` atomically: ``{"dim", "frames", "mean": [...], "std": [...]}``."""
        data = {
            "dim": self.dim,
            "frames": int(self.frames),
            "mean": [float(v) for v in self.mean],
            "std": [float(v) for v in self.std],
        }
        with atomic_write(path) as f:
            json.dump(data, f, indent=1)
            f.write("\n")

    @classmethod
    def load(cls, path: str | os.PathLike) -> GlobalCmvn:
        """Read ``cmvn.json``.

        Raises:
            InputError: not JSON, missing keys, lengths differing from ``dim``, or non-positive/non-finite std.
        """
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as e:
            raise InputError(path, e.lineno, f"not valid JSON ({e.msg})") from None
        for key in ("mean", "std"):
            if key not in data:
                raise InputError(path, None, f"missing key '{key}' (expected dim, frames, mean, std)")
        mean = np.asarray(data["mean"], dtype=np.float32)
        std = np.asarray(data["std"], dtype=np.float32)
        dim = int(data.get("dim", len(mean)))
        if mean.shape != (dim,) or std.shape != (dim,):
            raise InputError(path, None, f"mean has {len(mean)} and std {len(std)} values, dim says {dim}")
        bad = ~np.isfinite(std) | (std <= 0) | ~np.isfinite(mean)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise InputError(path, None, f"dimension {i}: mean {mean[i]} / std {std[i]} is not usable")
        frames = int(data.get("frames", 0))
        return cls(mean, std, frames)

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, GlobalCmvn)
            and np.array_equal(self.mean, other.mean)
            and np.array_equal(self.std, other.std)
            and self.frames == other.frames
        )

    def __repr__(self) -> str:
        return f"GlobalCmvn(dim={self.dim}, frames={self.frames}, mean~{float(np.mean(self.mean)):.3g})"

    @staticmethod
    def identity(dim: int) -> GlobalCmvn:
        """Stats that leave features unchanged (mean 0, std 1)."""
        return GlobalCmvn(np.zeros(dim, np.float32), np.ones(dim, np.float32), 0)
