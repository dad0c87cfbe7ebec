"""Errors by how often each reference word occurs in the training transcripts: the share of a system's errors that
falls on words its acoustic model never heard (the OOV error rate) or heard a few times.

A reference unit is an error when the alignment substitutes or deletes it; insertions belong to no reference word
and are counted apart. Units are normalized and split as the scoring itself does (:class:`Normalizer`), so with
``--mode cer`` the table is per character. A greedy CTC or CIF output has to spell every word from what it
learned; words seen rarely in training are where a lexicon and an n-gram LM (the TLG search) help most.
"""

from __future__ import annotations

import os
from bisect import bisect_right
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from asr.errors import CifstError
from asr.scoring.normalize import Normalizer
from asr.scoring.score import ScoreResult, error_rate

__all__ = [
    "DEFAULT_EDGES",
    "FrequencyBucket",
    "check_edges",
    "count_units",
    "errors_by_frequency",
    "format_frequency_table",
]

DEFAULT_EDGES = (1, 5, 50)


@dataclass(frozen=True)
class FrequencyBucket:
    """Reference units whose training count lies in ``[low, high)`` (``high`` None: no upper bound).

    Attributes:
        low: Smallest training count of the bucket (0: units never seen in training).
        high: One past the largest count, or None.
        words: Reference units in the bucket.
        errors: Of those, the substituted or deleted ones.
    """

    low: int
    high: int | None
    words: int
    errors: int

    @property
    def label(self) -> str:
        if self.low == 0 and self.high == 1:
            return "unseen (0)"
        if self.high is None:
            return f"{self.low}+"
        if self.high == self.low + 1:
            return str(self.low)
        return f"{self.low}-{self.high - 1}"

    @property
    def rate(self) -> float:
        """Errors per reference unit of the bucket, in percent."""
        return 100.0 * error_rate(self.errors, self.words)


def count_units(path: str | os.PathLike, normalizer: Normalizer) -> Counter:
    """Unit counts of a Kaldi ``text`` file (``key transcript`` per line), normalized as the scored texts are.

    Raises:
        InputError: unreadable or malformed file (duplicate or empty key, bad UTF-8), naming the file and line.
    """
    from asr.scoring.score import read_hyp_ref

    counts: Counter = Counter()
    for text in read_hyp_ref(path, "training text").values():
        counts.update(normalizer(text))
    return counts


def check_edges(edges: Sequence[int]) -> tuple[int, ...]:
    """``edges`` as a tuple, or a :class:`CifstError` unless they are increasing integers >= 1."""
    edges = tuple(int(e) for e in edges)
    if not edges or edges[0] < 1 or any(b <= a for a, b in zip(edges, edges[1:])):
        raise CifstError(f"count edges must be increasing integers >= 1, got {' '.join(map(str, edges))}")
    return edges


def errors_by_frequency(
    result: ScoreResult, counts: Counter, edges: Sequence[int] = DEFAULT_EDGES
) -> list[FrequencyBucket]:
    """Split the reference units of ``result`` by their training count.

    Args:
        result: A scoring result (its alignments are read).
        counts: Training count per unit (:func:`count_units`).
        edges: Bucket boundaries: ``(1, 5, 50)`` gives the buckets 0, 1-4, 5-49 and 50+.

    Returns:
        One :class:`FrequencyBucket` per bucket, lowest counts first (empty buckets included).

    Raises:
        CifstError: edges not increasing integers >= 1.
    """
    edges = check_edges(edges)
    bounds = (0, *edges)
    words = [0] * len(bounds)
    errors = [0] * len(bounds)
    for utt in result.utterances:
        for ref, hyp in utt.alignment():
            if ref is None:
                continue
            i = bisect_right(edges, counts.get(ref, 0))
            words[i] += 1
            errors[i] += hyp != ref
    highs = (*edges, None)
    return [FrequencyBucket(lo, hi, w, e) for lo, hi, w, e in zip(bounds, highs, words, errors)]


def format_frequency_table(
    buckets: Sequence[FrequencyBucket], insertions: int, source: str, unit: str
) -> str:
    """The table ``cifst score --train-text`` prints: per bucket, reference units, their share, errors, rate."""
    total = sum(b.words for b in buckets)
    lines = [
        f"{unit}s by count in {source}: reference {unit}s, share, substituted or deleted, %error",
    ]
    for b in buckets:
        share = 100.0 * b.words / total if total else 0.0
        lines.append(f"  {b.label:>12}  {b.words:8d}  {share:5.1f}%  {b.errors:8d}  {b.rate:6.2f}")
    lines.append(f"  ({insertions} inserted {unit}s belong to no reference {unit})")
    return "\n".join(lines)
