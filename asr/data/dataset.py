"""A Kaldi data directory as a PyTorch map-style dataset: ``wav.scp`` (+ ``segments``, ``utt2dur``) and ``text`` ->
items ``{"key", "feats": float32 [T, 80] fbank, "tokens": int64 [U]}``, and :func:`collate_asr` -> padded batches.

Preparation never stops on one bad utterance: at construction each utterance is checked (audio present and
readable, duration known and within limits, text non-empty and inside the token set) and a bad one is logged with
its key, the file and the reason, then skipped (text with characters outside the token set is kept with ``<unk>``
by default, or skipped with ``bad_text="skip"``). Problems only visible when decoding (a failing pipe) make
``__getitem__`` return ``None`` with a warning, and :func:`collate_asr` leaves those items out. Training adds
dither and, optionally, speed perturbation (0.9/1.0/1.1, drawn per utterance from ``seed``, epoch and index, so
workers and ranks agree).

Reference: WeNet ``wenet/dataset`` and icefall/lhotse K2SpeechRecognitionDataset (per-utterance filtering,
speed perturbation in the loader); Kaldi ``utils/data/get_utt2dur.sh``.
"""

from __future__ import annotations

import logging
import os
import random
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from asr.data.audio import AudioError, audio_duration, is_pipe, load_audio
from asr.data.feats import FeatsIndex
from asr.data.kaldi_dir import read_segments, read_text, read_utt2dur, read_wav_scp
from asr.errors import InputError
from asr.features.fbank import FbankConfig, compute_fbank, num_frames
from asr.features.speed import SpeedPerturbConfig, speed_perturb

__all__ = ["DatasetConfig", "AsrDataset", "collate_asr", "compute_cmvn", "cmvn_stats", "utterance_sources"]

log = logging.getLogger(__name__)


@dataclass
class DatasetConfig:
    """Data options (YAML section ``dataset``).

    Attributes:
        max_duration: Utterances longer than this (seconds) are skipped with a warning.
        min_duration: Utterances shorter than this are skipped.
        bad_text: ``unk``: keep text with characters outside the token set, as ``<unk>``; ``skip``: drop it.
        check_audio: Open every audio file's header at construction (catches missing/unreadable files early;
            pipes are only run when their duration is unknown).
        speed_perturb: Factors for speed perturbation (used when the dataset is built with ``speed_perturb``).
        use_feats: Read the matrices of the directory's ``feats.scp`` (``cifst data fbank``) instead of computing
            fbank from the audio, when the file is there and speed perturbation is off.
    """

    max_duration: float = 30.0
    min_duration: float = 0.05
    bad_text: str = "unk"
    check_audio: bool = True
    use_feats: bool = True
    speed_perturb: SpeedPerturbConfig = field(default_factory=SpeedPerturbConfig)

    def __post_init__(self):
        if isinstance(self.speed_perturb, dict):
            self.speed_perturb = SpeedPerturbConfig(**self.speed_perturb)
        if self.bad_text not in ("unk", "skip"):
            raise ValueError(f"bad_text must be 'unk' or 'skip', got '{self.bad_text}'")


def utterance_sources(
    data_dir: str | os.PathLike,
) -> tuple[dict[str, tuple[str, float, float | None, float | None]], dict[str, str]]:
    """The audio of every utterance of a data directory: ``key -> (wav.scp value, start, end or None, duration or
    None)`` from ``wav.scp``, ``segments`` and ``utt2dur``, and ``key -> reason`` for segments whose recording is
    not in ``wav.scp``. No audio is opened."""
    d = Path(data_dir)
    wav_scp = read_wav_scp(d / "wav.scp")
    durs = read_utt2dur(d / "utt2dur") if (d / "utt2dur").exists() else {}
    problems: dict[str, str] = {}
    if not (d / "segments").exists():
        return {k: (spec, 0.0, None, durs.get(k)) for k, spec in wav_scp.items()}, problems
    sources = {}
    for key, seg in read_segments(d / "segments").items():
        if seg.recording not in wav_scp:
            problems[key] = f"recording '{seg.recording}' of segments is not in wav.scp"
            continue
        end = None if seg.end == -1 else seg.end
        sources[key] = (
            wav_scp[seg.recording],
            seg.start,
            end,
            durs.get(key, None if end is None else end - seg.start),
        )
    return sources, problems


@dataclass
class _Utt:
    key: str
    spec: str
    start: float
    end: float | None
    duration: float | None
    tokens: list[int]


class AsrDataset:
    """Utterances of one Kaldi data directory.

    Args:
        data_dir: Directory with ``wav.scp`` and (for training) ``text``; optional ``segments``, ``utt2dur``.
        tokenizer: Maps ``text`` to token ids; ``None`` for audio-only use (inference): tokens are empty.
        fbank_config: Fbank options (sample rate, bins, dither used in training).
        train: Training mode: dither, optional speed perturbation; empty text is skipped.
        speed_perturb: Apply speed perturbation (training only).
        config: Limits and policies (:class:`DatasetConfig`).
        seed: Seed of the speed-perturbation draws.
        progress: Show a progress bar while probing audio headers/pipes.

    Attributes:
        keys: Kept utterance ids, C-sorted.
        durations: Seconds per kept utterance.
        num_frames: Estimated fbank frames per kept utterance (for :class:`BucketBatchSampler`).
        skipped: ``key -> reason`` for every utterance left out at construction.
    """

    def __init__(
        self,
        data_dir: str | os.PathLike,
        tokenizer=None,
        fbank_config: FbankConfig | None = None,
        train: bool = False,
        speed_perturb: bool = False,
        config: DatasetConfig | None = None,
        seed: int = 0,
        progress: bool = True,
        **overrides,
    ):
        self.data_dir = Path(data_dir)
        self.tokenizer = tokenizer
        self.fbank_config = fbank_config or FbankConfig()
        self.train = train
        self.speed_perturb = speed_perturb and train
        self.config = config or DatasetConfig(**overrides)
        if config is not None and overrides:
            raise TypeError("pass either config or keyword overrides, not both")
        self.seed = seed
        self.epoch = 0
        self.skipped: dict[str, str] = {}
        self.feats = self._open_feats()
        self._utts = self._prepare(progress)
        self.keys = [u.key for u in self._utts]
        self.durations = [float(u.duration) for u in self._utts]
        rate = self.fbank_config.sample_rate
        stored = self.feats.num_frames if self.feats is not None else {}
        self.num_frames = [
            stored.get(u.key) or max(num_frames(int(u.duration * rate), self.fbank_config), 1)
            for u in self._utts
        ]

    # -- construction ---------------------------------------------------------------------------------------------
    def _open_feats(self) -> FeatsIndex | None:
        if not self.config.use_feats or not (self.data_dir / "feats.scp").is_file():
            return None
        if self.speed_perturb:
            log.info(
                "%s: speed perturbation is on: computing fbank from the audio, not reading feats.scp",
                self.data_dir,
            )
            return None
        if self.train and self.fbank_config.dither > 0:
            log.info(
                "%s: reading feats.scp, made without dither: the config's dither %g is not applied",
                self.data_dir,
                self.fbank_config.dither,
            )
        return FeatsIndex(self.data_dir, self.fbank_config)

    def _skip(self, key: str, reason: str) -> None:
        self.skipped[key] = reason
        log.warning("%s: skipping utterance '%s': %s", self.data_dir, key, reason)

    def _prepare(self, progress: bool) -> list[_Utt]:
        from tqdm import tqdm

        d = self.data_dir
        has_text = (d / "text").exists()
        if self.tokenizer is not None and not has_text:
            raise InputError(d / "text", None, "missing: a dataset with a tokenizer needs transcripts")
        texts = read_text(d / "text") if has_text else {}
        feats = self.feats
        if feats is not None and not (d / "wav.scp").exists():
            # a feature-only directory (Kaldi's training dirs can be): every utterance is a stored matrix
            sources, problems = {k: ("", 0.0, None, None) for k in feats.specs}, {}
        else:
            sources, problems = utterance_sources(d)
        for key, reason in problems.items():
            self._skip(key, reason)
        if has_text:
            for key in texts.keys() - sources.keys():
                self._skip(key, "in text but has no audio (wav.scp/segments)")
            for key in sources.keys() - texts.keys():
                self._skip(key, "has audio but no line in text")
            sources = {k: v for k, v in sources.items() if k in texts}
        if feats is not None:
            # a stored matrix needs no audio: its duration is its frame count (utt2dur stays the first choice)
            shift, window = self.fbank_config.frame_shift_s, self.fbank_config.frame_length_ms / 1000.0
            unmeasured = [k for k, v in sources.items() if k in feats and k not in feats.num_frames]
            if unmeasured:
                log.info(
                    "%s: no utt2num_frames for %d utterances: reading their matrices", d, len(unmeasured)
                )
                feats.num_frames.update((k, feats.load(k).shape[0]) for k in unmeasured)
            for key, (spec, start, end, dur) in list(sources.items()):
                if key in feats and dur is None:
                    sources[key] = (spec, start, end, (feats.num_frames[key] - 1) * shift + window)
            missing = sum(1 for k in sources if k not in feats)
            if missing:
                log.warning(
                    "%s: %d of %d utterances are not in feats.scp: their fbank is computed from the audio",
                    d,
                    missing,
                    len(sources),
                )

        utts: list[_Utt] = []

        def needs_probe(key: str) -> bool:
            spec, _, _, dur = sources[key]
            if dur is None:
                return True
            return self.config.check_audio and not is_pipe(spec) and (feats is None or key not in feats)

        probe = [k for k in sources if needs_probe(k)]
        bar = tqdm(
            total=len(probe),
            desc=f"checking audio of {d.name}",
            unit="utt",
            disable=not progress or not probe,
        )
        pipes = sum(1 for k in probe if sources[k][3] is None and is_pipe(sources[k][0]))
        if pipes:
            log.info(
                "%s: running %d wav.scp pipes once to measure their duration (an utt2dur file skips this)",
                d,
                pipes,
            )
        headers: dict[
            str, float | None | AudioError
        ] = {}  # per recording: duration from the header, or error
        for key in sorted(sources, key=lambda k: k.encode("utf-8")):
            spec, start, end, dur = sources[key]
            if needs_probe(key):
                bar.update(1)
                try:
                    probed = self._probe_duration(spec, start, end, headers)
                except AudioError as e:
                    self._skip(key, str(e))
                    continue
                dur = probed  # the header is the truth (a segment may run past the end of its recording)
            if dur <= 0:
                self._skip(key, f"empty audio ({dur:.3f} s) from '{spec}'")
                continue
            if dur > self.config.max_duration:
                self._skip(
                    key,
                    f"{dur:.1f} s is longer than max_duration {self.config.max_duration} s "
                    "(raise dataset.max_duration, or segment the recording)",
                )
                continue
            if dur < self.config.min_duration:
                self._skip(key, f"{dur:.3f} s is shorter than min_duration {self.config.min_duration} s")
                continue
            tokens: list[int] = []
            if self.tokenizer is not None:
                tokens = self._encode(key, texts[key])
                if tokens is None:
                    continue
            utts.append(_Utt(key, spec, start, end, dur, tokens))
        bar.close()
        total = len(utts) + len(self.skipped)
        if self.skipped:
            log.warning(
                "%s: kept %d of %d utterances (%d skipped; see the warnings above)",
                d,
                len(utts),
                total,
                len(self.skipped),
            )
        return utts

    def _probe_duration(self, spec: str, start: float, end: float | None, headers: dict) -> float:
        if spec not in headers:
            try:
                headers[spec] = audio_duration(spec)
            except AudioError as e:
                headers[spec] = e
        dur = headers[spec]
        if isinstance(dur, AudioError):
            raise dur
        if dur is None:  # pipe or ark entry: decode it once
            wave, rate = load_audio(spec, None, start, end)
            return len(wave) / rate
        if dur == 0:
            return 0.0
        stop = dur if end is None else min(end, dur)
        return stop - start

    def _encode(self, key: str, text: str) -> list[int] | None:
        tok = self.tokenizer
        norm = tok.normalize(text)
        if not norm:
            if self.train:
                self._skip(key, f"empty transcript in {self.data_dir / 'text'} (nothing to learn from)")
                return None
            return []
        unknown = tok.unknown_pieces(text)
        if unknown:
            chars = sorted({c for p in unknown for c in p if c != "\u2581"})
            shown = " ".join(f"'{c}'" for c in chars[:10])
            if self.config.bad_text == "skip":
                self._skip(key, f"text has characters outside tokens.txt: {shown}")
                return None
            log.warning(
                "%s: utterance '%s': characters outside tokens.txt mapped to <unk>: %s",
                self.data_dir / "text",
                key,
                shown,
            )
        return tok.encode(text, strict=False)

    # -- items ---------------------------------------------------------------------------------------------------
    def set_epoch(self, epoch: int) -> None:
        """Change the speed-perturbation draws (call with the sampler's epoch)."""
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self._utts)

    def token_ids(self, index: int) -> list[int]:
        """The canonical token ids of item ``index`` (empty without a tokenizer)."""
        return list(self._utts[index].tokens)

    def speed_factor(self, index: int) -> float:
        """The speed factor item ``index`` gets this epoch (1.0 unless speed perturbation is on)."""
        if not self.speed_perturb:
            return 1.0
        rng = random.Random(f"{self.seed}/{self.epoch}/{index}")
        return rng.choice(self.config.speed_perturb.factors)

    def load_wave(self, index: int) -> np.ndarray:
        """Audio of item ``index`` at the fbank rate (speed-perturbed in training), float32 ``[n]``.

        Raises:
            AudioError: unreadable, empty, or (pipes) longer than ``max_duration``.
        """
        u = self._utts[index]
        rate = self.fbank_config.sample_rate
        wave, _ = load_audio(u.spec, rate, u.start, u.end)
        if len(wave) > self.config.max_duration * rate:
            raise AudioError(
                u.spec, f"{len(wave) / rate:.1f} s is longer than max_duration {self.config.max_duration} s"
            )
        factor = self.speed_factor(index)
        return speed_perturb(wave, factor) if factor != 1.0 else wave

    def features(self, index: int, augment: bool | None = None) -> np.ndarray:
        """Fbank of item ``index``: float32 ``[T, num_mel_bins]``; ``augment`` (default: ``train``) adds dither
        and speed perturbation. The stored matrix when the utterance is in ``feats.scp`` (never augmented: the
        dataset only reads ``feats.scp`` when speed perturbation is off)."""
        augment = self.train if augment is None else augment
        if self.feats is not None and self._utts[index].key in self.feats:
            return self.feats.load(self._utts[index].key)
        rate = self.fbank_config.sample_rate
        if augment:
            wave = self.load_wave(index)
        else:
            u = self._utts[index]
            wave, _ = load_audio(u.spec, rate, u.start, u.end)
        dither = self.fbank_config.dither if augment else 0.0
        return compute_fbank(wave, rate, self.fbank_config, dither)

    def __getitem__(self, index: int):
        """Returns ``{"key": str, "feats": float32 [T, 80] tensor, "tokens": int64 [U] tensor}``, or ``None`` (with
        a warning) when the audio turns out unusable."""
        import torch

        u = self._utts[index]
        try:
            feats = self.features(index)
        except AudioError as e:
            log.warning("%s: skipping utterance '%s': %s", self.data_dir, u.key, e)
            return None
        if feats.shape[0] == 0:
            log.warning("%s: skipping utterance '%s': shorter than one fbank window", self.data_dir, u.key)
            return None
        return {
            "key": u.key,
            "feats": torch.from_numpy(feats),
            "tokens": torch.tensor(u.tokens, dtype=torch.int64),
        }


def collate_asr(items: list) -> dict:
    """Pad a list of items (``None`` entries are dropped) into a batch.

    Returns:
        ``{"keys": list[str], "feats": float32 [B, T, D] (zero padded), "feats_lens": int64 [B],
        "tokens": int64 [B, U] (padded with -1), "tokens_lens": int64 [B]}``; ``B`` may be 0 when every item
        was dropped (the training loop should skip such a batch).
    """
    import torch

    items = [it for it in items if it is not None]
    if not items:
        return {
            "keys": [],
            "feats": torch.zeros(0, 0, 0),
            "feats_lens": torch.zeros(0, dtype=torch.int64),
            "tokens": torch.zeros(0, 0, dtype=torch.int64),
            "tokens_lens": torch.zeros(0, dtype=torch.int64),
        }
    feats = [torch.as_tensor(it["feats"], dtype=torch.float32) for it in items]
    tokens = [torch.as_tensor(it["tokens"], dtype=torch.int64) for it in items]
    return {
        "keys": [it["key"] for it in items],
        "feats": torch.nn.utils.rnn.pad_sequence(feats, batch_first=True, padding_value=0.0),
        "feats_lens": torch.tensor([f.shape[0] for f in feats], dtype=torch.int64),
        "tokens": torch.nn.utils.rnn.pad_sequence(tokens, batch_first=True, padding_value=-1)
        if max(t.numel() for t in tokens) > 0
        else torch.full((len(items), 0), -1, dtype=torch.int64),
        "tokens_lens": torch.tensor([t.numel() for t in tokens], dtype=torch.int64),
    }


class _LfrView:
    """Dataset view for CMVN: item ``j`` -> LFR features of utterance ``indices[j]`` (no augmentation), or None;
    read through ``items`` (a wrapper of ``dataset`` such as the training fbank cache) when given."""

    def __init__(self, dataset: AsrDataset, indices: list[int], m: int, n: int, items=None):
        self.dataset, self.indices, self.m, self.n, self.items = dataset, indices, m, n, items

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, j: int):
        from asr.features.lfr import apply_lfr

        i = self.indices[j]
        if self.items is not None:
            item = self.items[i]  # AsrDataset.__getitem__ warns about unusable audio
            return None if item is None else apply_lfr(item["feats"].numpy(), self.m, self.n)
        try:
            return apply_lfr(self.dataset.features(i, augment=False), self.m, self.n)
        except AudioError as e:
            log.warning("CMVN: skipping utterance '%s': %s", self.dataset.keys[i], e)
            return None


def _first(items: list):
    return items[0]


def compute_cmvn(
    dataset: AsrDataset,
    lfr_m: int = 7,
    lfr_n: int = 6,
    max_utterances: int = 0,
    progress: bool = True,
    num_workers: int = 0,
):
    """Global CMVN over the LFR features of a dataset (no dither, no speed perturbation).

    Args:
        dataset: The training set.
        lfr_m: LFR stacking of the front end the stats are for.
        lfr_n: LFR hop.
        max_utterances: Use N utterances spread evenly over the (sorted) set; 0: all.
        progress: Show a progress bar.
        num_workers: DataLoader worker processes computing fbank (0: in this process).

    Returns:
        :class:`asr.features.cmvn.GlobalCmvn` of dimension ``num_mel_bins * lfr_m``.
    """
    return cmvn_stats(dataset, lfr_m, lfr_n, max_utterances, progress, num_workers).finish()


def cmvn_stats(
    dataset: AsrDataset,
    lfr_m: int = 7,
    lfr_n: int = 6,
    max_utterances: int = 0,
    progress: bool = True,
    num_workers: int = 0,
    shard: tuple[int, int] = (0, 1),
    items=None,
):
    """CMVN stats (:class:`asr.features.cmvn.CmvnAccumulator`) of one shard of a dataset.

    Shard ``(rank, world_size)`` takes every ``world_size``-th utterance from ``rank``, so DDP ranks split the
    work and the merged stats of all shards equal those of the whole set. ``items``: read the utterances through
    this wrapper of ``dataset`` (the training fbank cache, which the pass then fills, in this process only: with
    ``num_workers > 0`` the workers fill copies that are lost; only valid when the training items carry no
    augmentation). Other arguments as :func:`compute_cmvn`.
    """
    from asr.features.cmvn import CmvnAccumulator

    total = len(dataset)
    if 0 < max_utterances < total:
        indices = sorted({int(i) for i in np.linspace(0, total - 1, max_utterances)})
    else:
        indices = list(range(total))
    rank, world_size = shard
    view = _LfrView(dataset, indices[rank::world_size], lfr_m, lfr_n, items)
    if num_workers > 0:
        from torch.utils.data import DataLoader

        items = DataLoader(view, batch_size=1, collate_fn=_first, num_workers=num_workers)
    else:
        items = (view[j] for j in range(len(view)))
    acc = CmvnAccumulator(dataset.fbank_config.num_mel_bins * lfr_m)
    return acc.consume(items, total=len(view), progress=progress, desc="CMVN stats")
