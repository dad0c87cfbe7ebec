"""System comparison: bootstrap intervals (checked against kaldialign's Bisani-Ney bootstrap), the paired bootstrap
and the utterance-level matched-pairs test (hand-computed statistic)."""

from __future__ import annotations

import math
import random

import kaldialign
import numpy as np
import pytest

from asr.scoring import bootstrap_ci, compare_systems, mapsswe, matched_pairs_z, process
from asr.scoring.compare import mapsswe_segments


def _corpus(n: int, err_a: float, err_b: float, seed: int = 0):
    rng = random.Random(seed)
    words = [f"w{i}" for i in range(50)]
    refs, hyp_a, hyp_b = {}, {}, {}
    for i in range(n):
        ref = [rng.choice(words) for _ in range(rng.randint(5, 15))]
        refs[f"u{i:04d}"] = " ".join(ref)
        hyp_a[f"u{i:04d}"] = " ".join(w if rng.random() > err_a else "zz" for w in ref)
        hyp_b[f"u{i:04d}"] = " ".join(w if rng.random() > err_b else "zz" for w in ref)
    return refs, hyp_a, hyp_b


def test_bootstrap_interval_agrees_with_kaldialign():
    refs, hyp_a, _ = _corpus(400, 0.15, 0.15)
    r = process(refs, hyp_a)
    errs, lens = r.per_utterance_arrays()
    ci = bootstrap_ci(errs, lens, replications=2000, seed=1)
    assert ci.low < ci.rate < ci.high
    k = kaldialign.bootstrap_wer_ci(
        [refs[k].split() for k in refs], [hyp_a[k].split() for k in refs], replications=2000
    )
    assert ci.rate == pytest.approx(k["wer"], abs=0.003)
    # kaldialign reports mean +- 1.96 sd; the percentile interval of the same bootstrap is close to it
    assert ci.low == pytest.approx(k["ci95min"], abs=0.004)
    assert ci.high == pytest.approx(k["ci95max"], abs=0.004)


def test_bootstrap_is_reproducible_and_degenerate_cases():
    errs = np.array([1, 0, 2, 0])
    lens = np.array([3, 4, 5, 2])
    assert bootstrap_ci(errs, lens, 500, seed=3) == bootstrap_ci(errs, lens, 500, seed=3)
    z = bootstrap_ci(np.zeros(5, int), np.full(5, 4), 200)
    assert (z.rate, z.low, z.high) == (0.0, 0.0, 0.0)
    empty = bootstrap_ci(np.zeros(0, int), np.zeros(0, int), 10)
    assert empty.rate == 0.0


def test_matched_pairs_statistic_by_hand():
    a = np.array([3, 1, 2, 0, 4])
    b = np.array([1, 1, 0, 0, 1])
    # a - b = 2 0 2 0 3 -> mean 1.4, sd(ddof=1) = sqrt(((.6)^2*2 + (1.4)^2*2 + 1.6^2)/4)
    sd = math.sqrt((0.36 * 2 + 1.96 * 2 + 2.56) / 4)
    z, p = matched_pairs_z(a, b)
    assert z == pytest.approx(1.4 / (sd / math.sqrt(5)))
    assert p == pytest.approx(math.erfc(abs(z) / math.sqrt(2)))
    assert matched_pairs_z(a, a) == (0.0, 1.0)
    z, p = matched_pairs_z(np.array([2, 2]), np.array([1, 1]))
    assert z == math.inf and p == 0.0


def test_clearly_better_system_is_significant():
    refs, hyp_a, hyp_b = _corpus(300, 0.25, 0.08, seed=5)
    ra, rb = process(refs, hyp_a), process(refs, hyp_b)
    c = compare_systems(ra, rb, replications=2000, seed=0)
    assert c.a.rate > c.b.rate
    assert c.delta.rate == pytest.approx(ra.error_rate - rb.error_rate)
    assert c.delta.low > 0 and c.p_b_better > 0.99
    assert c.p_bootstrap < 0.01 and c.p_mapsswe < 0.01 and c.z_mapsswe > 0
    assert c.utterances == 300


def test_identical_systems_are_not_significant():
    refs, hyp_a, _ = _corpus(200, 0.2, 0.2, seed=6)
    ra = process(refs, hyp_a)
    c = compare_systems(ra, process(refs, hyp_a), replications=500)
    assert c.delta.rate == 0.0 and c.p_bootstrap == 1.0 and c.p_mapsswe == 1.0 and c.mapsswe_segments > 0


def test_similar_systems_are_not_significant():
    refs, hyp_a, hyp_b = _corpus(200, 0.15, 0.15, seed=7)
    c = compare_systems(process(refs, hyp_a), process(refs, hyp_b), replications=1000)
    assert c.p_bootstrap > 0.05 and c.delta.low < 0 < c.delta.high


def test_compare_requires_the_same_references():
    with pytest.raises(ValueError, match="same references"):
        compare_systems(process({"a": "x"}, {"a": "x"}), process({"b": "x"}, {"b": "x"}))


def test_empty_comparison_and_per_system_intervals_from_the_paired_resamples():
    empty = process({}, {})
    c = compare_systems(empty, empty, replications=10)
    assert c.utterances == 0 and c.p_bootstrap == 1.0
    refs, hyp_a, hyp_b = _corpus(150, 0.2, 0.1, seed=8)
    ra, rb = process(refs, hyp_a), process(refs, hyp_b)
    c = compare_systems(ra, rb, replications=1000, seed=4)
    for ci, r in ((c.a, ra), (c.b, rb)):
        assert ci.low < r.error_rate < ci.high
        alone = bootstrap_ci(*r.per_utterance_arrays(), replications=1000, seed=4)
        assert ci.low == pytest.approx(alone.low, abs=0.01) and ci.high == pytest.approx(alone.high, abs=0.01)


def _pair(ref: str, hyp_a: str, hyp_b: str):
    ra = process({"u": ref}, {"u": hyp_a}).utterances[0]
    rb = process({"u": ref}, {"u": hyp_b}).utterances[0]
    return ra, rb


def test_mapsswe_segments_by_hand():
    # errors far apart (a run of >= 2 words both got right between them): two segments
    assert mapsswe_segments(*_pair("a b c d e f g h", "a x c d e f g h", "a b c d e y g h")) == [
        (1, 0),
        (0, 1),
    ]
    # errors close together: one segment
    assert mapsswe_segments(*_pair("a b c d", "a x c d", "a b y d")) == [(1, 1)]
    # a single correct word between errors does not separate them
    assert mapsswe_segments(*_pair("a b c d e", "a x c y e", "a b c d e")) == [(2, 0)]
    # an insertion inside a run breaks it; trailing insertions form their own segment after a good run
    assert mapsswe_segments(*_pair("a b c d", "a z b c d", "a b c d q")) == [(1, 0), (0, 1)]
    assert mapsswe_segments(*_pair("a b", "a b", "a b")) == []
    # empty reference: all insertions in one segment
    assert mapsswe_segments(*_pair("", "x y", "x")) == [(2, 1)]
    # min_good=3: a run of two does not separate
    assert mapsswe_segments(*_pair("a b c d e", "x b c d e", "a b c y e"), min_good=3) == [(1, 1)]
    assert mapsswe_segments(*_pair("a b c d e", "x b c d e", "a b c y e"), min_good=2) == [(1, 0), (0, 1)]


def test_mapsswe_totals_match_the_error_counts():
    refs, hyp_a, hyp_b = _corpus(200, 0.15, 0.1, seed=9)
    ra, rb = process(refs, hyp_a), process(refs, hyp_b)
    segs = [s for ua, ub in zip(ra.utterances, rb.utterances) for s in mapsswe_segments(ua, ub)]
    assert sum(x for x, _ in segs) == ra.totals.errors and sum(y for _, y in segs) == rb.totals.errors
    z, p, n = mapsswe(ra, rb)
    assert n == len(segs) and n > len(refs) * 0.5  # finer than utterances
    assert z == pytest.approx(
        matched_pairs_z(np.array([x for x, _ in segs]), np.array([y for _, y in segs]))[0]
    )
