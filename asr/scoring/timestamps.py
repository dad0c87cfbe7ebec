"""Reference and hypothesis word timings (CTM files) -> timestamp accuracy: the accumulated average shift (AAS) of
the words both transcripts agree on, start/end shifts, and the share of words within given tolerances.

Each utterance's hypothesis words are aligned to its reference words with :mod:`asr.scoring.align` (Kaldi
tie-breaking); only correctly recognized words (hits) are compared, so recognition errors do not pollute the timing
figure (they are reported apart, as the number of matched words). For the N matched pairs,
``AAS = 1/N * sum((|start_hyp - start_ref| + |end_hyp - end_ref|) / 2)`` in seconds.
Reference: Shi et al., "Achieving timestamp prediction while recognizing with non-autoregressive end-to-end ASR
model" (arXiv 2301.12343), where AAS is defined; NIST CTM format (``utt channel start duration word [conf]``).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from asr.data.kaldi_dir import iter_utf8_lines
from asr.errors import InputError
from asr.scoring.align import OP_CORRECT, OP_DEL, OP_INS
from asr.scoring.score import process_units

__all__ = ["TimedWord", "TimestampScore", "read_ctm", "score_timestamps", "format_timestamp_score"]


@dataclass(frozen=True)
class TimedWord:
    """One CTM entry: a word and its start/end in seconds."""

    word: str
    start: float
    end: float


@dataclass
class TimestampScore:
    """Timing accuracy over a test set (seconds).

    Attributes:
        matched: Word pairs compared (hits of the alignment).
        ref_words: Reference words of the scored utterances.
        hyp_words: Hypothesis words of the scored utterances.
        aas: Accumulated average shift over the matched words (``nan`` when none matched).
        start_shift: Mean ``|start_hyp - start_ref|``.
        end_shift: Mean ``|end_hyp - end_ref|``.
        median_shift: Median of the per-word ``(|d_start| + |d_end|) / 2``.
        within: Tolerance -> fraction of matched words whose start and end are both within it.
        utterances: Utterances scored (present in both files).
        missing_keys: Reference utterances without hypothesis timings (not scored).
        extra_keys: Hypothesis utterances without reference timings (not scored).
    """

    matched: int
    ref_words: int
    hyp_words: int
    aas: float
    start_shift: float
    end_shift: float
    median_shift: float
    within: dict[float, float] = field(default_factory=dict)
    utterances: int = 0
    missing_keys: list[str] = field(default_factory=list)
    extra_keys: list[str] = field(default_factory=list)


def read_ctm(path: str | os.PathLike) -> dict[str, list[TimedWord]]:
    """Read a CTM file: ``utt channel start duration word [confidence]`` per line; ``;;`` comment lines skipped.

    Words of an utterance are returned in time order.

    Raises:
        InputError: wrong field count, non-numeric or negative times, bad UTF-8 (file and line named).
        FileNotFoundError: no such file.
    """
    p = Path(path)
    if p.is_dir():
        raise InputError(p, None, "is a directory; give the ctm file")
    out: dict[str, list[TimedWord]] = {}
    for lineno, line in iter_utf8_lines(p):
        line = line.strip()
        if not line or line.startswith(";;"):
            continue
        fields = line.split()
        if len(fields) not in (5, 6):
            raise InputError(
                p,
                lineno,
                f"expected 'utt channel start duration word [confidence]', got {len(fields)} fields",
            )
        try:
            start, dur = float(fields[2]), float(fields[3])
        except ValueError:
            raise InputError(
                p, lineno, f"start/duration must be numbers, got '{fields[2]}' '{fields[3]}'"
            ) from None
        if start < 0 or dur < 0 or math.isnan(start) or math.isnan(dur):
            raise InputError(p, lineno, f"negative or NaN time: start={fields[2]} duration={fields[3]}")
        out.setdefault(fields[0], []).append(TimedWord(fields[4], start, start + dur))
    for words in out.values():
        words.sort(key=lambda w: w.start)
    return out


def score_timestamps(
    ref: Mapping[str, Sequence[TimedWord]],
    hyp: Mapping[str, Sequence[TimedWord]],
    lower_case: bool = False,
    tolerances: Sequence[float] = (0.05, 0.1, 0.2),
) -> TimestampScore:
    """Compare hypothesis word timings with reference timings.

    Args:
        ref: ``utt -> words`` with reference times (e.g. forced alignment or the synthesizer's word times).
        hyp: ``utt -> words`` with hypothesis times (e.g. the decoder's ``ctm``).
        lower_case: Match words case-insensitively.
        tolerances: Boundaries (seconds) for the ``within`` fractions.

    Returns:
        :class:`TimestampScore`.
    """
    keys = [k for k in ref if k in hyp]
    norm = str.casefold if lower_case else (lambda w: w)
    ref_units = [[norm(w.word) for w in ref[k]] for k in keys]
    hyp_units = [[norm(w.word) for w in hyp[k]] for k in keys]
    utts, _ = process_units(keys, ref_units, hyp_units)
    d_start: list[float] = []
    d_end: list[float] = []
    for k, u in zip(keys, utts):
        rw, hw = ref[k], hyp[k]
        i = j = 0
        for op in u.ops.tolist():
            if op == OP_CORRECT:
                d_start.append(abs(hw[j].start - rw[i].start))
                d_end.append(abs(hw[j].end - rw[i].end))
            if op != OP_INS:
                i += 1
            if op != OP_DEL:
                j += 1
    ds = np.asarray(d_start, dtype=np.float64)
    de = np.asarray(d_end, dtype=np.float64)
    shift = (ds + de) / 2
    n = int(ds.shape[0])
    nan = float("nan")
    return TimestampScore(
        matched=n,
        ref_words=sum(map(len, ref_units)),
        hyp_words=sum(map(len, hyp_units)),
        aas=float(shift.mean()) if n else nan,
        start_shift=float(ds.mean()) if n else nan,
        end_shift=float(de.mean()) if n else nan,
        median_shift=float(np.median(shift)) if n else nan,
        within={t: (float(np.mean((ds <= t) & (de <= t))) if n else nan) for t in tolerances},
        utterances=len(keys),
        missing_keys=[k for k in ref if k not in hyp],
        extra_keys=[k for k in hyp if k not in ref],
    )


def format_timestamp_score(s: TimestampScore) -> str:
    """``%AAS 0.0423 s [ 950 matched / 1000 ref words ]`` plus start/end/median shifts and tolerance lines."""
    lines = [
        f"%AAS {s.aas:.4f} s [ {s.matched} matched / {s.ref_words} ref words, {s.hyp_words} hyp words, "
        f"{s.utterances} utterances ]",
        f"start shift {s.start_shift:.4f} s, end shift {s.end_shift:.4f} s, median shift {s.median_shift:.4f} s",
    ]
    if s.within:
        lines.append(
            "within tolerance (start and end): "
            + ", ".join(f"{t:g} s: {100 * f:.2f}%" for t, f in sorted(s.within.items()))
        )
    return "\n".join(lines)
