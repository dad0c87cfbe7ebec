"""Reference and hypothesis transcripts (``key -> text``) -> :class:`ScoreResult`: per-utterance alignments and error
counts, totals, sentence error rate, missing and extra keys, per-speaker tables and ranked confusions.

The library API in the jiwer style (``process(refs, hyps) -> dataclass``): texts are normalized and split into
units (:mod:`asr.scoring.normalize`), the units are mapped to int ids and all pairs are aligned in one compiled call
(:mod:`asr.scoring.align`). Utterances missing from the hypotheses score as all deletions and are listed; keys only
in the hypotheses are listed and not scored. An empty reference counts its hypothesis units as insertions; a rate
over zero reference units is 0 when there are no errors and 1 (100%) otherwise.
References: NIST sclite and Kaldi ``compute-wer`` (counts, ``%WER``/``%SER``); jiwer ``process_words`` (API shape).
"""

from __future__ import annotations

import contextlib
import gc
import os
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import chain, count
from pathlib import Path
from typing import NamedTuple

import numpy as np

from asr.errors import CifstError, InputError
from asr.scoring.align import MAX_CELLS, OP_CORRECT, OP_DEL, OP_INS, OP_SUB, align_batch
from asr.scoring.normalize import NormalizeConfig, Normalizer, is_cjk_char

__all__ = [
    "ErrorCounts",
    "ScoreConfig",
    "ScoreResult",
    "SpeakerScore",
    "UttScore",
    "error_rate",
    "process",
    "process_units",
    "read_hyp_ref",
    "score_files",
]

_OP_NAMES = "CSDI"
_PROGRESS_UTTS = 200_000


def error_rate(errors: int, ref_len: int) -> float:
    """``errors / ref_len``, defined as 0.0 (no errors) or 1.0 (some insertions) when ``ref_len`` is 0."""
    if ref_len > 0:
        return errors / ref_len
    return 0.0 if errors == 0 else 1.0


class ErrorCounts(NamedTuple):
    """Alignment counts: hits (correct), substitutions, deletions, insertions.

    A named tuple (cheap to make by the hundred thousand); ``+`` adds field by field.
    """

    hits: int = 0
    subs: int = 0
    dels: int = 0
    ins: int = 0

    @property
    def ref_len(self) -> int:
        """Number of reference units (N = H + S + D)."""
        return self.hits + self.subs + self.dels

    @property
    def hyp_len(self) -> int:
        return self.hits + self.subs + self.ins

    @property
    def errors(self) -> int:
        return self.subs + self.dels + self.ins

    @property
    def rate(self) -> float:
        """Error rate as a fraction (see :func:`error_rate` for an empty reference)."""
        return error_rate(self.errors, self.ref_len)

    def __add__(self, other: ErrorCounts) -> ErrorCounts:  # type: ignore[override]
        return ErrorCounts(
            self.hits + other.hits, self.subs + other.subs, self.dels + other.dels, self.ins + other.ins
        )


@dataclass
class UttScore:
    """One scored utterance.

    Attributes:
        key: Utterance id.
        ref: Reference units.
        hyp: Hypothesis units (empty when the hypothesis is missing).
        ops: int8 [L] edit operations in order (0 correct, 1 substitution, 2 deletion, 3 insertion).
        counts: The utterance's :class:`ErrorCounts`.
        hyp_missing: The key had no hypothesis line (scored as all deletions).
    """

    key: str
    ref: list[str]
    hyp: list[str]
    ops: np.ndarray
    counts: ErrorCounts
    hyp_missing: bool = False

    @property
    def correct(self) -> bool:
        """No error at all (a correct sentence)."""
        return self.counts.errors == 0

    @property
    def op_string(self) -> str:
        """The operations as letters, e.g. ``"CCSDCI"``."""
        return "".join(_OP_NAMES[o] for o in self.ops.tolist())

    def alignment(self) -> list[tuple[str | None, str | None]]:
        """``(ref_unit, hyp_unit)`` pairs in order; ``None`` marks the gap of a deletion or insertion."""
        out: list[tuple[str | None, str | None]] = []
        i = j = 0
        for op in self.ops.tolist():
            if op == OP_DEL:
                out.append((self.ref[i], None))
                i += 1
            elif op == OP_INS:
                out.append((None, self.hyp[j]))
                j += 1
            else:
                out.append((self.ref[i], self.hyp[j]))
                i += 1
                j += 1
        return out


@dataclass(frozen=True)
class SpeakerScore:
    """Totals of one speaker's utterances."""

    speaker: str
    sentences: int
    sentence_errors: int
    counts: ErrorCounts

    @property
    def ser(self) -> float:
        return self.sentence_errors / self.sentences if self.sentences else 0.0


@dataclass
class ScoreConfig:
    """Scoring settings.

    Attributes:
        normalize: Text normalization and the unit split (``mode`` lives there).
        policy: Alignment tie-breaking, ``"kaldi"`` (Kaldi/kaldialign counts) or ``"jiwer"``.
    """

    normalize: NormalizeConfig = field(default_factory=NormalizeConfig)
    policy: str = "kaldi"


@dataclass
class ScoreResult:
    """Everything :func:`process` finds.

    Attributes:
        utterances: Scored utterances in reference order (missing hypotheses included, as all deletions).
        totals: Sum of all utterances' counts.
        metric: ``"WER"`` or ``"CER"``: what the figure is called in reports.
        missing_keys: Reference keys with no hypothesis (scored as deletions).
        extra_keys: Hypothesis keys with no reference (not scored).
    """

    utterances: list[UttScore]
    totals: ErrorCounts
    metric: str = "WER"
    missing_keys: list[str] = field(default_factory=list)
    extra_keys: list[str] = field(default_factory=list)
    _confusions: tuple[Counter, Counter, Counter] | None = field(
        default=None, init=False, repr=False, compare=False
    )

    @property
    def error_rate(self) -> float:
        """WER/CER as a fraction."""
        return self.totals.rate

    @property
    def sentences(self) -> int:
        return len(self.utterances)

    @property
    def sentence_errors(self) -> int:
        return sum(1 for u in self.utterances if not u.correct)

    @property
    def ser(self) -> float:
        """Sentence error rate as a fraction (0 when there are no sentences)."""
        return self.sentence_errors / self.sentences if self.sentences else 0.0

    def per_utterance_arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """``(errors int64 [U], ref_len int64 [U])`` per utterance, for bootstrap resampling."""
        errs = np.array([u.counts.errors for u in self.utterances], dtype=np.int64)
        lens = np.array([u.counts.ref_len for u in self.utterances], dtype=np.int64)
        return errs, lens

    def by_speaker(self, utt2spk: Mapping[str, str]) -> list[SpeakerScore]:
        """Per-speaker totals, speakers sorted by name; utterances absent from ``utt2spk`` go under ``<unknown>``."""
        groups: dict[str, list[UttScore]] = {}
        for u in self.utterances:
            groups.setdefault(utt2spk.get(u.key, "<unknown>"), []).append(u)
        out = []
        for spk in sorted(groups):
            utts = groups[spk]
            counts = sum((u.counts for u in utts), ErrorCounts())
            out.append(SpeakerScore(spk, len(utts), sum(1 for u in utts if not u.correct), counts))
        return out

    def confusions(self) -> tuple[Counter, Counter, Counter]:
        """``(substitutions, deletions, insertions)`` counters: ``(ref, hyp)`` pairs, ref units, hyp units.

        Computed once and kept (the reports ask twice); the result is not updated if ``utterances`` changes.
        """
        if self._confusions is None:
            self._confusions = self._count_confusions()
        return self._confusions

    def _count_confusions(self) -> tuple[Counter, Counter, Counter]:
        subs: Counter = Counter()
        dels: Counter = Counter()
        ins: Counter = Counter()
        for u in self.utterances:
            if u.correct:
                continue
            i = j = 0
            ref, hyp = u.ref, u.hyp
            for op in u.ops.tolist():
                if op == OP_CORRECT:
                    i += 1
                    j += 1
                elif op == OP_SUB:
                    subs[(ref[i], hyp[j])] += 1
                    i += 1
                    j += 1
                elif op == OP_DEL:
                    dels[ref[i]] += 1
                    i += 1
                else:
                    ins[hyp[j]] += 1
                    j += 1
        return subs, dels, ins


@contextlib.contextmanager
def _gc_paused():
    """Pause the cyclic garbage collector while building many small acyclic objects: with millions of unit strings
    alive, each automatic collection would walk all of them (this halves the time of a 100k-utterance run)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _encode(refs: Sequence[list[str]], hyps: Sequence[list[str]]) -> tuple[np.ndarray, ...]:
    """Map units to int32 ids (first-seen order) in one pass: ``(ref_ids, ref_offsets, hyp_ids, hyp_offsets)``."""
    lens = np.fromiter(map(len, chain(refs, hyps)), dtype=np.int64, count=len(refs) + len(hyps))
    offsets = np.zeros(lens.shape[0] + 1, dtype=np.int64)
    np.cumsum(lens, out=offsets[1:])
    vocab: defaultdict[str, int] = defaultdict(count().__next__)
    flat = chain.from_iterable(chain(refs, hyps))
    ids = np.fromiter(map(vocab.__getitem__, flat), dtype=np.int32, count=int(offsets[-1]))
    n = len(refs)
    split = int(offsets[n])
    return ids[:split], offsets[: n + 1], ids[split:], offsets[n:] - split


def process_units(
    keys: Sequence[str],
    refs: Sequence[list[str]],
    hyps: Sequence[list[str]],
    policy: str = "kaldi",
    missing: Sequence[bool] | None = None,
) -> tuple[list[UttScore], ErrorCounts]:
    """Align already-split unit sequences.

    Args:
        keys: U utterance ids.
        refs: U reference unit lists.
        hyps: U hypothesis unit lists.
        policy: Alignment tie-breaking (``"kaldi"`` or ``"jiwer"``).
        missing: Optional U flags for hypotheses that were missing.

    Returns:
        ``(utterances, totals)``.
    """
    if not (len(keys) == len(refs) == len(hyps)):
        raise ValueError(f"keys/refs/hyps differ in length: {len(keys)}/{len(refs)}/{len(hyps)}")
    r_ids, r_off, h_ids, h_off = _encode(refs, hyps)
    cells = (np.diff(r_off) + 1) * (np.diff(h_off) + 1)
    if len(keys) and cells.max() > MAX_CELLS:
        i = int(np.argmax(cells))
        raise CifstError(
            f"utterance '{keys[i]}' is too long to align ({len(refs[i])} reference x {len(hyps[i])} hypothesis "
            f"units): split long recordings into segments (e.g. with a segments file) before scoring"
        )
    res = align_batch(r_ids, r_off, h_ids, h_off, policy=policy)
    counts = res.counts.tolist()
    off = res.ops_offsets.tolist()
    with _gc_paused():
        utts = [
            UttScore(
                key=keys[i],
                ref=refs[i],
                hyp=hyps[i],
                ops=res.ops[off[i] : off[i + 1]],
                counts=ErrorCounts(*counts[i]),
                hyp_missing=bool(missing[i]) if missing is not None else False,
            )
            for i in range(len(keys))
        ]
    tot = res.counts.sum(axis=0).tolist() if len(keys) else [0, 0, 0, 0]
    return utts, ErrorCounts(*tot)


def process(
    refs: Mapping[str, str] | Sequence[str],
    hyps: Mapping[str, str] | Sequence[str],
    config: ScoreConfig | None = None,
) -> ScoreResult:
    """Score hypotheses against references.

    Args:
        refs: ``key -> text`` (e.g. from :func:`asr.data.kaldi_dir.read_text`) or a list of texts.
        hyps: The same shape as ``refs``; a list must have the same length (keys are the list indices).
        config: :class:`ScoreConfig` (normalization, mode, tie-breaking).

    Returns:
        :class:`ScoreResult` with utterances in the order of ``refs``.

    Raises:
        ValueError: lists of different lengths, or one mapping and one list.
    """
    config = config or ScoreConfig()
    if isinstance(refs, Mapping) != isinstance(hyps, Mapping):
        raise ValueError("refs and hyps must both be mappings (key -> text) or both be lists of texts")
    if not isinstance(refs, Mapping):
        if isinstance(refs, str) or isinstance(hyps, str):
            raise ValueError("give lists of texts, not a single string")
        if len(refs) != len(hyps):
            raise ValueError(f"{len(refs)} references but {len(hyps)} hypotheses")
        refs = {str(i): t for i, t in enumerate(refs)}
        hyps = {str(i): t for i, t in enumerate(hyps)}
    norm = Normalizer(config.normalize)
    keys = list(refs)
    missing = [k not in hyps for k in keys]
    with _gc_paused():
        if len(keys) >= _PROGRESS_UTTS:  # a million-utterance set takes a minute: show progress
            from tqdm import tqdm

            keys_iter = tqdm(keys, desc="normalize", unit="utt", leave=False, mininterval=1.0)
        else:
            keys_iter = keys
        ref_units = [norm(refs[k]) for k in keys_iter]
        hyp_units = [[] if miss else norm(hyps[k]) for k, miss in zip(keys, missing)]
    utts, totals = process_units(keys, ref_units, hyp_units, policy=config.policy, missing=missing)
    metric = {"wer": "WER", "cer": "CER"}.get(config.normalize.mode)
    if metric is None:  # auto: CER for a mostly-CJK reference set
        units = list(chain.from_iterable(ref_units))
        cjk = sum(1 for u in units if len(u) == 1 and is_cjk_char(u))
        metric = "CER" if units and cjk * 2 >= len(units) else "WER"
    return ScoreResult(
        utterances=utts,
        totals=totals,
        metric=metric,
        missing_keys=[k for k, m in zip(keys, missing) if m],
        extra_keys=[k for k in hyps if k not in refs],
    )


def read_hyp_ref(path: str | os.PathLike, what: str) -> dict[str, str]:
    """Read a Kaldi ``text``-format transcript file (``key<TAB or space>text``, empty text allowed).

    Args:
        path: The file, or ``-`` for standard input.
        what: ``"reference"`` or ``"hypothesis"``, for messages.

    Raises:
        InputError: a directory instead of a file, duplicate keys, empty key, bad UTF-8 (file and line named).
        FileNotFoundError: no such file.
    """
    from asr.data.kaldi_dir import read_text

    if str(path) == "-":  # standard input, e.g. `... | cifst score REF -`
        return read_text("/dev/stdin")
    p = Path(path)
    if p.is_dir():
        raise InputError(p, None, f"the {what} is a directory; give the 'text' file inside it")
    if not p.exists():
        raise InputError(p, None, f"{what} file not found")
    return read_text(p)


def score_files(
    ref_path: str | os.PathLike,
    hyp_path: str | os.PathLike,
    config: ScoreConfig | None = None,
    strict_keys: bool = False,
) -> ScoreResult:
    """Read and score two Kaldi ``text`` files.

    Args:
        ref_path: Reference transcripts.
        hyp_path: Hypothesis transcripts.
        config: Scoring settings.
        strict_keys: Treat any difference between the key sets as an error instead of reporting it.

    Raises:
        InputError: unreadable files, or key sets with nothing in common (or, with ``strict_keys``, any
            difference), or an empty reference file, naming the file and example keys.
    """
    refs = read_hyp_ref(ref_path, "reference")
    hyps = read_hyp_ref(hyp_path, "hypothesis")
    if not refs:
        raise InputError(ref_path, None, "the reference has no utterances: nothing to score")
    common = sum(1 for k in hyps if k in refs)
    if refs and hyps and common == 0:
        raise InputError(
            hyp_path,
            None,
            f"no utterance key is shared with the reference {ref_path} (hypothesis key '{next(iter(hyps))}', "
            f"reference key '{next(iter(refs))}'): wrong file pair?",
        )
    if strict_keys:
        missing = [k for k in refs if k not in hyps]
        extra = [k for k in hyps if k not in refs]
        if missing or extra:
            raise InputError(
                hyp_path,
                None,
                f"key sets differ from {ref_path}: {len(missing)} missing (e.g. '{(missing or [''])[0]}'), "
                f"{len(extra)} extra (e.g. '{(extra or [''])[0]}'); drop --strict-keys to score anyway",
            )

    return process(refs, hyps, config)
