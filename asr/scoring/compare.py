"""Two systems scored on the same references (per-utterance error and reference-length counts) -> bootstrap 95%
confidence intervals of each error rate and two matched-pairs significance tests of their difference.

- Confidence intervals: the bootstrap of Bisani and Ney (ICASSP 2004, "Bootstrap estimates for confidence intervals
  in ASR performance evaluation"): utterances are resampled with replacement, the rate of each replicate is
  ``sum(errors) / sum(ref_len)``, the interval is the 2.5th..97.5th percentile of the replicates.
  :func:`compare_systems` draws one set of resamples and uses it for both systems and the paired test.
- Paired bootstrap (the primary test): both systems are resampled with the same utterance draws; the p-value is
  two-sided, ``2 * min(P(delta <= 0), P(delta >= 0))`` over replicates of ``delta = rate_A - rate_B``, and
  ``P(B better) = P(delta > 0)`` is Bisani and Ney's "probability of improvement".
- MAPSSWE (NIST's Matched Pairs Sentence-Segment Word Error test, Gillick and Cox, ICASSP 1989, as in sclite):
  each utterance is cut into segments at runs of at least ``min_good`` (2) consecutive reference words that both
  systems got right with no insertion between them; per segment ``d = errors_A - errors_B`` (substitutions and
  deletions of its reference words plus insertions inside it); over the segments where either system erred,
  ``z = mean(d) / (std(d) / sqrt(n))`` and the two-sided p-value comes from the normal distribution. Errors that are
  far apart fall in different segments, so segments are closer to independent than whole utterances.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from asr.scoring.align import OP_CORRECT, OP_INS
from asr.scoring.score import ScoreResult, UttScore, error_rate

__all__ = [
    "BootstrapCI",
    "Comparison",
    "bootstrap_ci",
    "compare_systems",
    "mapsswe",
    "mapsswe_segments",
    "matched_pairs_z",
]

_MAX_CHUNK_CELLS = 4_000_000
_PROGRESS_CELLS = 50_000_000  # resampled utterances above which a progress bar is shown


@dataclass(frozen=True)
class BootstrapCI:
    """An error rate with its bootstrap interval (fractions, not %)."""

    rate: float
    low: float
    high: float
    replications: int


@dataclass(frozen=True)
class Comparison:
    """System A vs system B on the same utterances.

    Attributes:
        a: Rate and 95% CI of A.
        b: Rate and 95% CI of B.
        delta: ``rate_A - rate_B`` (positive: B is better) with its 95% paired-bootstrap CI.
        p_b_better: Fraction of paired replicates where B has the lower rate.
        p_bootstrap: Two-sided paired-bootstrap p-value of "no difference".
        z_mapsswe: MAPSSWE statistic (positive: B makes fewer errors).
        p_mapsswe: Its two-sided p-value.
        mapsswe_segments: Segments where either system erred (the sample size of MAPSSWE).
        utterances: Number of utterances compared.
    """

    a: BootstrapCI
    b: BootstrapCI
    delta: BootstrapCI
    p_b_better: float
    p_bootstrap: float
    z_mapsswe: float
    p_mapsswe: float
    mapsswe_segments: int
    utterances: int


def _replicate_sums(values: list[np.ndarray], replications: int, seed: int) -> list[np.ndarray]:
    """For each array in ``values`` (all length U), the sums over ``replications`` resamples of U indices
    (the same draws for every array): float64 [replications] each. Shows a progress bar for long runs."""
    from tqdm import tqdm

    n = values[0].shape[0]
    rng = np.random.default_rng(seed)
    outs = [np.empty(replications, dtype=np.float64) for _ in values]
    chunk = max(1, _MAX_CHUNK_CELLS // max(n, 1))
    starts = range(0, replications, chunk)
    quiet = n * replications < _PROGRESS_CELLS
    for start in tqdm(starts, desc="bootstrap", unit="chunk", disable=quiet, leave=False):
        stop = min(replications, start + chunk)
        idx = rng.integers(0, n, size=(stop - start, n))
        for v, o in zip(values, outs):
            o[start:stop] = v[idx].sum(axis=1)
    return outs


def _rates(errs: np.ndarray, lens: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.where(lens > 0, errs / np.maximum(lens, 1), np.where(errs > 0, 1.0, 0.0))
    return r


def bootstrap_ci(
    errors: np.ndarray, ref_lens: np.ndarray, replications: int = 10000, seed: int = 0, level: float = 0.95
) -> BootstrapCI:
    """Bootstrap interval of one system's error rate.

    Args:
        errors: int [U] errors per utterance.
        ref_lens: int [U] reference units per utterance.
        replications: Number of resamples.
        seed: Random seed (results are reproducible).
        level: Interval coverage.

    Returns:
        :class:`BootstrapCI` (the point estimate is the rate on the full set).
    """
    errors = np.asarray(errors, dtype=np.float64)
    ref_lens = np.asarray(ref_lens, dtype=np.float64)
    rate = error_rate(int(errors.sum()), int(ref_lens.sum()))
    if errors.shape[0] == 0:
        return BootstrapCI(rate, rate, rate, replications)
    e, n = _replicate_sums([errors, ref_lens], replications, seed)
    reps = _rates(e, n)
    lo, hi = np.quantile(reps, [(1 - level) / 2, (1 + level) / 2])
    return BootstrapCI(rate, float(lo), float(hi), replications)


def matched_pairs_z(errors_a: np.ndarray, errors_b: np.ndarray) -> tuple[float, float]:
    """The matched-pairs z test on paired error counts (MAPSSWE segments, or whole utterances).

    Args:
        errors_a: int [U] errors of system A per segment.
        errors_b: int [U] errors of system B on the same segments.

    Returns:
        ``(z, two_sided_p)``; ``(0.0, 1.0)`` when the systems never differ, ``(±inf, 0.0)`` when they differ by
        the same amount everywhere.
    """
    d = np.asarray(errors_a, dtype=np.float64) - np.asarray(errors_b, dtype=np.float64)
    n = d.shape[0]
    if n == 0 or not d.any():
        return 0.0, 1.0
    mean = float(d.mean())
    sd = float(d.std(ddof=1)) if n > 1 else 0.0
    if sd == 0.0:
        return math.copysign(math.inf, mean), 0.0
    z = mean / (sd / math.sqrt(n))
    return z, math.erfc(abs(z) / math.sqrt(2.0))


def _positions(u: UttScore) -> tuple[np.ndarray, np.ndarray]:
    """Per reference position ``i`` in ``0..M``: ``errors[i]`` (substitution/deletion of word ``i`` plus insertions
    just before it; position ``M`` holds trailing insertions) and ``hit[i]`` (word ``i`` correct), int64/bool [M+1]."""
    m = len(u.ref)
    errors = np.zeros(m + 1, dtype=np.int64)
    hit = np.zeros(m + 1, dtype=bool)
    i = 0
    for op in u.ops.tolist():
        if op == OP_INS:
            errors[i] += 1
        else:
            if op == OP_CORRECT:
                hit[i] = True
            else:
                errors[i] += 1
            i += 1
    return errors, hit


def mapsswe_segments(a: UttScore, b: UttScore, min_good: int = 2) -> list[tuple[int, int]]:
    """Cut one utterance into MAPSSWE segments and count each system's errors in them.

    Args:
        a: System A's scored utterance.
        b: System B's scored utterance (same reference).
        min_good: A run of at least this many reference words correct in both systems, with no insertion before
            any of them but the first, separates segments (sclite uses 2).

    Returns:
        ``(errors_A, errors_B)`` per segment where either system erred, in reference order.
    """
    ea, ha = _positions(a)
    eb, hb = _positions(b)
    m = len(a.ref)
    segments: list[tuple[int, int]] = []
    seg_a = seg_b = 0  # errors of the open segment
    run = 0  # length of the current run of words both got right, with no insertion inside the run
    for i in range(m + 1):
        good = i < m and bool(ha[i] and hb[i])
        if good and not ea[i] and not eb[i]:
            run += 1
            continue
        # an error at position i (word i wrong, or insertions just before it, or the end of the utterance)
        if run >= min_good and (seg_a or seg_b):
            segments.append((seg_a, seg_b))
            seg_a = seg_b = 0
        seg_a += int(ea[i])
        seg_b += int(eb[i])
        run = 1 if good else 0  # a correct word after insertions starts a new run
    if seg_a or seg_b:
        segments.append((seg_a, seg_b))
    return segments


def mapsswe(a: ScoreResult, b: ScoreResult, min_good: int = 2) -> tuple[float, float, int]:
    """NIST's MAPSSWE test (module docstring) of two systems scored on the same references.

    Returns:
        ``(z, two_sided_p, segments)``; ``z > 0`` when B makes fewer errors.
    """
    d_a: list[int] = []
    d_b: list[int] = []
    for ua, ub in zip(a.utterances, b.utterances):
        if ua.correct and ub.correct:
            continue
        for x, y in mapsswe_segments(ua, ub, min_good):
            d_a.append(x)
            d_b.append(y)
    z, p = matched_pairs_z(np.array(d_a, dtype=np.int64), np.array(d_b, dtype=np.int64))
    return z, p, len(d_a)


def compare_systems(
    a: ScoreResult, b: ScoreResult, replications: int = 10000, seed: int = 0, level: float = 0.95
) -> Comparison:
    """Compare two systems scored against the same references.

    Args:
        a: Result of system A (from :func:`asr.scoring.score.process` with the same references as ``b``).
        b: Result of system B.
        replications: Bootstrap resamples.
        seed: Random seed.
        level: Interval coverage.

    Raises:
        ValueError: the two results do not cover the same utterances in the same order.
    """
    keys_a = [u.key for u in a.utterances]
    keys_b = [u.key for u in b.utterances]
    if keys_a != keys_b:
        raise ValueError(
            "the two results must be scored on the same references (same utterance keys and order)"
        )
    ea, na = a.per_utterance_arrays()
    eb, _ = b.per_utterance_arrays()
    z, p_z, n_seg = mapsswe(a, b)
    rate_a = error_rate(int(ea.sum()), int(na.sum()))
    rate_b = error_rate(int(eb.sum()), int(na.sum()))
    if len(keys_a) == 0:

        def point(r: float) -> BootstrapCI:
            return BootstrapCI(r, r, r, replications)

        return Comparison(point(rate_a), point(rate_b), point(rate_a - rate_b), 0.0, 1.0, z, p_z, n_seg, 0)
    # one set of resamples serves both systems' intervals and the paired test
    sa, sb, sn = _replicate_sums(
        [ea.astype(np.float64), eb.astype(np.float64), na.astype(np.float64)], replications, seed
    )
    reps_a, reps_b = _rates(sa, sn), _rates(sb, sn)
    q = [(1 - level) / 2, (1 + level) / 2]
    ci_a = BootstrapCI(rate_a, *map(float, np.quantile(reps_a, q)), replications)
    ci_b = BootstrapCI(rate_b, *map(float, np.quantile(reps_b, q)), replications)
    deltas = reps_a - reps_b
    lo, hi = np.quantile(deltas, q)
    delta = rate_a - rate_b
    p_better = float(np.mean(deltas > 0))
    p_two = min(1.0, 2.0 * min(float(np.mean(deltas <= 0)), float(np.mean(deltas >= 0))))
    return Comparison(
        a=ci_a,
        b=ci_b,
        delta=BootstrapCI(delta, float(lo), float(hi), replications),
        p_b_better=p_better,
        p_bootstrap=p_two,
        z_mapsswe=z,
        p_mapsswe=p_z,
        mapsswe_segments=n_seg,
        utterances=len(keys_a),
    )


def format_comparison(cmp: Comparison, name_a: str, name_b: str, metric: str = "WER") -> str:
    """Human-readable lines for a :class:`Comparison`."""
    lines = [
        f"{'system':<8} {metric:>7}   95% CI (bootstrap, {cmp.a.replications} resamples)",
        f"{'A':<8} {100 * cmp.a.rate:>6.2f}%  [{100 * cmp.a.low:.2f}, {100 * cmp.a.high:.2f}]  {name_a}",
        f"{'B':<8} {100 * cmp.b.rate:>6.2f}%  [{100 * cmp.b.low:.2f}, {100 * cmp.b.high:.2f}]  {name_b}",
        f"A - B    {100 * cmp.delta.rate:>+6.2f}   [{100 * cmp.delta.low:+.2f}, {100 * cmp.delta.high:+.2f}] "
        f"(paired bootstrap, {cmp.utterances} utterances)",
        f"P(B better than A) = {cmp.p_b_better:.4f}; paired bootstrap two-sided p = {cmp.p_bootstrap:.4f}",
        f"MAPSSWE (NIST matched pairs, {cmp.mapsswe_segments} segments): z = {cmp.z_mapsswe:.3f}, "
        f"two-sided p = {cmp.p_mapsswe:.4g}",
    ]
    return "\n".join(lines)
