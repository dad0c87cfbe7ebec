"""Trim leading and trailing silence from the utterances of a data directory with stored features.

Synthetic speech ends in up to half a second of silence (11% of the frames of the synthetic English corpus, 1.4%
lead), which a CTC model learns nothing from and a CPU pays for. :func:`trim_data_dir` finds each utterance's
speech from its stored fbank (``cifst data fbank``): a frame is speech when its energy (log of the summed mel
energies) is within ``floor_db`` of the utterance's loudest frame; the span from the first to the last speech
frame, widened by ``margin`` seconds each side, is kept. It writes a new directory:

    feats.scp        key -> the same ark entry with a Kaldi row range, ``ark:offset[first:last]`` (inclusive)
    utt2num_frames   the trimmed frame counts
    segments         the audio the kept frames were computed from (``utt recording start end``; with ``wav.scp``
                     keyed by utterance the recording is the utterance itself), so fbank computed again from the
                     audio (speed perturbation, ``cifst data fbank``) gives the same frames
    utt2dur          the segments' durations
    ctm              word times moved by the leading cut and clipped to the kept audio (channel 1, no
                     confidence column)
    trim.json        the options and the frames kept, for the record

and copies every other file. The arks are shared, not copied. Kaldi's analogue is ``compute-vad`` plus
``select-voiced-frames``, which drops every non-speech frame; this keeps the inside of the utterance (pauses
belong to the speech) and cuts the ends only.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from asr.data.atomic import atomic_write
from asr.data.feats import FeatsIndex, stored_fbank_config
from asr.data.kaldi_dir import c_sorted, read_segments, read_wav_scp
from asr.errors import InputError

__all__ = ["TrimReport", "speech_span", "trim_data_dir"]

# files rewritten by trim_data_dir (everything else in the directory is copied as it is)
_REWRITTEN = ("feats.scp", "utt2num_frames", "segments", "utt2dur", "ctm", "trim.json")
_RANGE = re.compile(r"\[(\d+):(\d+)\]$")


@dataclass
class TrimReport:
    """What :func:`trim_data_dir` did: utterances, frames before and after, the kept share."""

    utterances: int = 0
    frames_in: int = 0
    frames_out: int = 0

    @property
    def kept(self) -> float:
        return self.frames_out / self.frames_in if self.frames_in else 1.0


def speech_span(feats: np.ndarray, floor_db: float, margin: int) -> tuple[int, int] | None:
    """First and last frame (inclusive) to keep of a log-mel fbank ``[T, bins]``: the speech frames (energy within
    ``floor_db`` dB of the loudest frame) widened by ``margin`` frames each side. None when the matrix is empty."""
    if feats.shape[0] == 0:
        return None
    m = feats.max(axis=1, keepdims=True)
    energy = (m[:, 0] + np.log(np.exp(feats - m).sum(axis=1))).astype(np.float64)  # log sum of mel energies
    speech = np.nonzero(energy >= energy.max() - floor_db * np.log(10.0) / 10.0)[0]
    first, last = int(speech[0]), int(speech[-1])
    return max(0, first - margin), min(feats.shape[0] - 1, last + margin)


def _base_range(spec: str) -> tuple[str, int]:
    """``ark:offset[a:b]`` -> (``ark:offset``, a); a spec with no range -> (spec, 0)."""
    m = _RANGE.search(spec)
    if m is None:
        return spec, 0
    return spec[: m.start()], int(m.group(1))


def trim_data_dir(
    src: str | os.PathLike,
    dst: str | os.PathLike,
    margin: float = 0.1,
    floor_db: float = 40.0,
    progress: bool = True,
) -> TrimReport:
    """Write ``dst``, a copy of data directory ``src`` with each utterance's leading and trailing silence cut.

    Args:
        src: A data directory with ``feats.scp`` (``cifst data fbank``).
        dst: The trimmed directory (created; must not be ``src``).
        margin: Seconds of silence kept before the first and after the last speech frame.
        floor_db: A frame is speech when its energy is at most this many dB below the utterance's loudest frame.

    Frames become segment times with the frame shift and length ``feats.json`` records (Kaldi's 10 / 25 ms without
    it), and matrices are read through :class:`asr.data.feats.FeatsIndex`.

    Raises:
        InputError: ``src`` has no ``feats.scp``, ``dst`` is ``src``, a bad option, or an unreadable matrix (named
            with its utterance).
    """
    from tqdm import tqdm

    src, dst = Path(src), Path(dst)
    if not (src / "feats.scp").is_file():
        raise InputError(src / "feats.scp", None, "missing: run `cifst data fbank` on the directory first")
    if src.resolve() == dst.resolve():
        raise InputError(dst, None, "the trimmed directory must differ from the source")
    if margin < 0 or floor_db <= 0:
        raise InputError(src, None, f"margin {margin} must be >= 0 and floor_db {floor_db} > 0")
    index = FeatsIndex(src, stored_fbank_config(src))
    frame_shift, frame_length = index.config.frame_shift_s, index.config.frame_length_ms / 1000.0
    segments = read_segments(src / "segments") if (src / "segments").is_file() else None
    wav_keys = read_wav_scp(src / "wav.scp").keys() if (src / "wav.scp").is_file() else set()
    margin_frames = int(round(margin / frame_shift))

    report = TrimReport()
    scp, frames, segs, cut_start = {}, {}, {}, {}
    for key in tqdm(c_sorted(index.specs), desc=f"trimming {src.name}", unit="utt", disable=not progress):
        spec = index.specs[key]
        mat = index.load(key)
        span = speech_span(mat, floor_db, margin_frames)
        if span is None:
            raise InputError(src / "feats.scp", None, f"utterance '{key}': '{spec}' holds no frames")
        first, last = span
        base, offset = _base_range(spec)
        scp[key] = f"{base}[{offset + first}:{offset + last}]"
        frames[key] = last - first + 1
        report.utterances += 1
        report.frames_in += int(mat.shape[0])
        report.frames_out += last - first + 1
        # the audio of the kept frames: frame i covers [i * shift, i * shift + length) of the utterance's audio
        if segments is not None:
            if key not in segments:
                continue
            rec, start0 = segments[key].recording, segments[key].start
        elif key in wav_keys:
            rec, start0 = key, 0.0
        else:
            continue
        cut_start[key] = first * frame_shift
        segs[key] = (rec, start0 + first * frame_shift, start0 + last * frame_shift + frame_length)

    dst.mkdir(parents=True, exist_ok=True)
    for item in src.iterdir():
        if item.is_file() and item.name not in _REWRITTEN:
            shutil.copy2(item, dst / item.name)
    with atomic_write(dst / "feats.scp") as f:
        f.writelines(f"{k} {scp[k]}\n" for k in c_sorted(scp))
    with atomic_write(dst / "utt2num_frames") as f:
        f.writelines(f"{k} {frames[k]}\n" for k in c_sorted(frames))
    if segs:
        with atomic_write(dst / "segments") as f:
            f.writelines(
                f"{k} {r} {s:.3f} {e:.3f}\n" for k, (r, s, e) in ((k, segs[k]) for k in c_sorted(segs))
            )
        with atomic_write(dst / "utt2dur") as f:
            f.writelines(f"{k} {segs[k][2] - segs[k][1]:.3f}\n" for k in c_sorted(segs))
    if (src / "ctm").is_file():
        _shift_ctm(src / "ctm", dst / "ctm", cut_start, {k: s[2] - s[1] for k, s in segs.items()})
    with atomic_write(dst / "trim.json") as f:
        json.dump(
            {
                "source": str(src),
                "margin": margin,
                "floor_db": floor_db,
                "frames_in": report.frames_in,
                "frames_out": report.frames_out,
            },
            f,
            indent=1,
        )
        f.write("\n")
    return report


def _shift_ctm(src: Path, dst: Path, cut: dict[str, float], dur: dict[str, float]) -> None:
    """Rewrite a reference ctm for the trimmed audio (``utt 1 start duration word``, by utterance and start)."""
    from asr.scoring.timestamps import read_ctm

    out = []
    for key, words in sorted(read_ctm(src).items(), key=lambda kv: kv[0].encode("utf-8")):
        for w in words:
            start, end = w.start, w.end
            if key in cut:
                end = min(end - cut[key], dur[key])
                start = min(max(0.0, start - cut[key]), end)
            out.append(f"{key} 1 {start:.3f} {max(0.0, end - start):.3f} {w.word}\n")
    with atomic_write(dst) as f:
        f.writelines(out)
