"""References, hypotheses and a hotword list -> :class:`HotwordMetrics`: hotword recall and precision, false alarms,
and the error rate split into biased WER (errors on hotword units) and unbiased WER (all other errors).

Texts and hotword phrases are split into scoring units by the same :class:`asr.scoring.Normalizer` (words; each CJK
character a unit of its own in ``wer``/``auto`` mode), and aligned by :mod:`asr.scoring.align` (Kaldi tie-breaking).

* Occurrences: a hotword occurs where its unit sequence appears in the units (counted left to right without
  overlap of the same hotword; different hotwords may overlap, as 阳光保险 / 保险).
* Per utterance and hotword, ``tp = min(n_ref, n_hyp)``, ``fn = n_ref - tp``, ``fp = n_hyp - tp``; recall
  ``tp / (tp + fn)``, precision ``tp / (tp + fp)``; a false alarm is a hotword occurrence in the hypothesis beyond
  those in the reference (``fp``). The false-alarm rate is over utterances whose reference has no hotword: the
  fraction whose hypothesis has one.
* Biased/unbiased WER (Le et al., "Contextualized streaming end-to-end speech recognition with trie-based deep
  biasing and shallow fusion", Interspeech 2021): a reference unit inside a hotword occurrence is biased; its
  substitution or deletion is a biased error, other substitutions/deletions unbiased; an insertion is biased when the
  inserted hypothesis unit lies inside a hotword occurrence of the hypothesis. B-WER = biased errors / biased
  reference units, U-WER = unbiased errors / other reference units; the two error counts add up to the total.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from asr.scoring.align import OP_CORRECT, OP_DEL, OP_INS, OP_SUB
from asr.scoring.normalize import Normalizer
from asr.scoring.score import ErrorCounts, ScoreConfig, ScoreResult, UttScore, error_rate, process

__all__ = [
    "HotwordCount",
    "HotwordMetrics",
    "compute_hotword_metrics",
    "hotword_metrics",
    "read_hotword_phrases",
    "format_hotword_report",
]


@dataclass
class HotwordCount:
    """Counts of one hotword over a test set."""

    phrase: str
    ref: int = 0
    hyp: int = 0
    tp: int = 0

    @property
    def recall(self) -> float:
        return self.tp / self.ref if self.ref else 0.0


@dataclass
class HotwordMetrics:
    """Hotword scores of a test set (see the module docstring for the definitions).

    Attributes:
        tp: Hotword occurrences recognized (per utterance ``min(n_ref, n_hyp)``, summed).
        fn: Reference occurrences missed.
        fp: Hypothesis occurrences not in the reference (false alarms).
        biased: Alignment counts restricted to biased units (hits/subs/dels on biased reference units, insertions
            of biased hypothesis units).
        unbiased: The rest; ``biased + unbiased`` equals the total counts.
        utts_with_hotword: Utterances whose reference contains a hotword.
        utts_without_hotword: The others.
        false_alarm_utts: Utterances without a hotword in the reference whose hypothesis has one.
        per_hotword: Counts of each hotword, in list order.
    """

    tp: int
    fn: int
    fp: int
    biased: ErrorCounts
    unbiased: ErrorCounts
    utts_with_hotword: int
    utts_without_hotword: int
    false_alarm_utts: int
    per_hotword: list[HotwordCount] = field(default_factory=list)

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    @property
    def biased_wer(self) -> float:
        return error_rate(self.biased.errors, self.biased.ref_len)

    @property
    def unbiased_wer(self) -> float:
        return error_rate(self.unbiased.errors, self.unbiased.ref_len)

    @property
    def false_alarm_rate(self) -> float:
        """Fraction of hotword-free reference utterances whose hypothesis contains a hotword."""
        return self.false_alarm_utts / self.utts_without_hotword if self.utts_without_hotword else 0.0


def _occurrences(units: Sequence[str], phrase: Sequence[str]) -> list[int]:
    """Start positions of non-overlapping occurrences of ``phrase`` in ``units``, left to right."""
    n, out, i = len(phrase), [], 0
    if n == 0:
        return out
    first = phrase[0]
    while i + n <= len(units):
        if units[i] == first and list(units[i : i + n]) == list(phrase):
            out.append(i)
            i += n
        else:
            i += 1
    return out


def _mark(units: Sequence[str], phrases: Sequence[Sequence[str]], index: Mapping[str, list[int]]):
    """Per phrase the occurrence count, and per unit whether it lies inside any occurrence."""
    covered = [False] * len(units)
    counts: dict[int, int] = {}
    candidates = {j for u in set(units) for j in index.get(u, ())}
    for j in candidates:
        starts = _occurrences(units, phrases[j])
        if starts:
            counts[j] = len(starts)
            n = len(phrases[j])
            for s in starts:
                covered[s : s + n] = [True] * n
    return counts, covered


def compute_hotword_metrics(
    utterances: Iterable[UttScore], hotwords: Sequence[str], normalizer: Normalizer | None = None
) -> HotwordMetrics:
    """Hotword metrics of already-aligned utterances (e.g. ``ScoreResult.utterances``).

    Args:
        utterances: Scored utterances (units and edit operations).
        hotwords: Hotword phrases, split into units with ``normalizer`` (the one that split the texts).
        normalizer: The scoring normalizer; default settings when ``None``.

    Returns:
        :class:`HotwordMetrics`.
    """
    norm = normalizer or Normalizer()
    phrases: list[list[str]] = []
    names: list[str] = []
    seen: set[tuple[str, ...]] = set()
    for h in hotwords:
        units = norm(h)
        if units and tuple(units) not in seen:
            seen.add(tuple(units))
            phrases.append(units)
            names.append(h)
    index: dict[str, list[int]] = {}
    for j, p in enumerate(phrases):
        index.setdefault(p[0], []).append(j)
    per = [HotwordCount(n) for n in names]
    tp = fn = fp = 0
    b = [0, 0, 0, 0]
    u = [0, 0, 0, 0]
    with_hw = without_hw = fa_utts = 0
    for utt in utterances:
        ref_counts, ref_cov = _mark(utt.ref, phrases, index)
        hyp_counts, hyp_cov = _mark(utt.hyp, phrases, index)
        for j in set(ref_counts) | set(hyp_counts):
            r, h = ref_counts.get(j, 0), hyp_counts.get(j, 0)
            t = min(r, h)
            tp, fn, fp = tp + t, fn + r - t, fp + h - t
            per[j].ref += r
            per[j].hyp += h
            per[j].tp += t
        if ref_counts:
            with_hw += 1
        else:
            without_hw += 1
            fa_utts += bool(hyp_counts)
        i = k = 0
        for op in utt.ops.tolist():
            if op == OP_INS:
                (b if hyp_cov[k] else u)[op] += 1
                k += 1
                continue
            (b if ref_cov[i] else u)[op] += 1
            i += 1
            if op in (OP_CORRECT, OP_SUB):
                k += 1
    return HotwordMetrics(
        tp=tp,
        fn=fn,
        fp=fp,
        biased=ErrorCounts(b[OP_CORRECT], b[OP_SUB], b[OP_DEL], b[OP_INS]),
        unbiased=ErrorCounts(u[OP_CORRECT], u[OP_SUB], u[OP_DEL], u[OP_INS]),
        utts_with_hotword=with_hw,
        utts_without_hotword=without_hw,
        false_alarm_utts=fa_utts,
        per_hotword=per,
    )


def hotword_metrics(
    refs: Mapping[str, str] | ScoreResult,
    hyps: Mapping[str, str] | None,
    hotwords: Sequence[str],
    config: ScoreConfig | None = None,
) -> HotwordMetrics:
    """Score hypotheses against references and compute the hotword metrics.

    Args:
        refs: ``key -> text`` references, or a :class:`ScoreResult` already computed with ``config``.
        hyps: ``key -> text`` hypotheses (ignored when ``refs`` is a ScoreResult).
        hotwords: Hotword phrases (e.g. from :func:`read_hotword_phrases`).
        config: Scoring settings (normalization and mode), as for :func:`asr.scoring.process`.
    """
    config = config or ScoreConfig()
    result = refs if isinstance(refs, ScoreResult) else process(refs, hyps, config)
    return compute_hotword_metrics(result.utterances, hotwords, Normalizer(config.normalize))


def read_hotword_phrases(path: str | os.PathLike) -> list[str]:
    """The phrases of a hotword file (``phrase weight`` / ``phrase :weight`` lines; weights are ignored here).

    Raises:
        InputError: a line that cannot be parsed (file and line named).
    """
    from decoding.hotwords.parse import parse_hotwords

    return [h.phrase for h in parse_hotwords(path)]


def format_hotword_report(m: HotwordMetrics, max_rows: int | None = 50) -> str:
    """Summary lines (recall, precision, false alarms, B-WER/U-WER) and a per-hotword table of those that occur."""

    def pct(x: float) -> str:
        return f"{100 * x:.2f}"

    lines = [
        f"%HOTWORD recall {pct(m.recall)} [ {m.tp} / {m.tp + m.fn} ] precision {pct(m.precision)} "
        f"[ {m.tp} / {m.tp + m.fp} ] false-alarms {m.fp}",
        f"%FA-UTT {pct(m.false_alarm_rate)} [ {m.false_alarm_utts} / {m.utts_without_hotword} utterances without "
        "a hotword ]",
        f"%B-WER {pct(m.biased_wer)} [ {m.biased.errors} / {m.biased.ref_len}, {m.biased.ins} ins, "
        f"{m.biased.dels} del, {m.biased.subs} sub ]",
        f"%U-WER {pct(m.unbiased_wer)} [ {m.unbiased.errors} / {m.unbiased.ref_len}, {m.unbiased.ins} ins, "
        f"{m.unbiased.dels} del, {m.unbiased.subs} sub ]",
    ]
    rows = sorted((c for c in m.per_hotword if c.ref or c.hyp), key=lambda c: (-c.ref, -c.hyp, c.phrase))
    if rows:
        lines.append("hotword\tref\thyp\tcorrect\trecall")
        for c in rows[:max_rows]:
            lines.append(f"{c.phrase}\t{c.ref}\t{c.hyp}\t{c.tp}\t{pct(c.recall)}")
        if max_rows is not None and len(rows) > max_rows:
            lines.append(f"... {len(rows) - max_rows} more")
    return "\n".join(lines)
