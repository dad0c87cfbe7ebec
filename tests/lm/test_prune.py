"""lm.prune: Stolcke relative-entropy pruning. Its cost formula against a brute-force KL divergence, normalisation
after pruning, monotonicity in the threshold, target sizes, and a well-formed ARPA (kenlm loads it)."""

from __future__ import annotations

import numpy as np
import pytest
from normalisation import context_sums

from lm.build import LmBuildConfig, build_lm
from lm.model import ModelOrder, NgramModel, read_model_arpa, write_model_arpa
from lm.ppl import perplexity
from lm.prune import entropy_increase, history_probabilities, recompute_backoffs, relative_entropy_prune

WORDS = ["a", "b", "c", "d", "e"]


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> NgramModel:
    rng = np.random.default_rng(3)
    text = tmp_path_factory.mktemp("p") / "t.txt"
    text.write_text("\n".join(" ".join(rng.choice(WORDS, rng.integers(1, 7))) for _ in range(200)) + "\n")
    cfg = LmBuildConfig(order=3, discount_fallback=(0.5, 1.0, 1.5), progress=False, verbose=False)
    return build_lm([str(text)], cfg)


def _dist(m: NgramModel, ctx: tuple[int, ...]) -> np.ndarray:
    """p(w | ctx) over the whole vocabulary (ARPA back-off semantics), <s> excluded."""
    table = {}
    for n in range(1, m.order + 1):
        for row, lp, bo in zip(m.columns(n).tolist(), m.orders[n - 1].logprob, m.orders[n - 1].backoff):
            table[tuple(row)] = (lp, bo)

    def logp(c, w):
        if (*c, w) in table:
            return table[(*c, w)][0]
        return table.get(c, (0.0, 0.0))[1] + logp(c[1:], w)

    bos = m.vocab.index("<s>")
    return np.array([0.0 if w == bos else 10 ** logp(ctx, w) for w in range(len(m.vocab))])


def _without(m: NgramModel, n: int, i: int) -> NgramModel:
    orders = [
        ModelOrder(o.first.copy(), o.suffix.copy(), o.logprob.copy(), o.backoff.copy()) for o in m.orders
    ]
    o = orders[n - 1]
    keep = np.ones(len(o), bool)
    keep[i] = False
    orders[n - 1] = ModelOrder(o.first[keep], o.suffix[keep], o.logprob[keep], o.backoff[keep])
    return recompute_backoffs(NgramModel(m.vocab, orders))


def test_cost_equals_brute_force_relative_entropy(model):
    m = recompute_backoffs(model)
    hist = history_probabilities(m)
    dh = entropy_increase(m, 3, hist)
    ctx = m.context_index(3)
    for i in np.random.default_rng(0).choice(len(m.orders[2]), 12, replace=False):
        h = tuple(m.columns(2, [ctx[i]])[0].tolist())
        p = _dist(m, h)
        q = _dist(_without(m, 3, i), h)
        nz = p > 0
        kl = float((p[nz] * (np.log10(p[nz]) - np.log10(q[nz]))).sum())
        # (float32 log-probabilities in the model: the two agree to ~1e-5 relative)
        assert dh[i] == pytest.approx(hist[1][ctx[i]] * kl, rel=1e-4, abs=1e-12)


def test_pruned_model_is_normalised_and_loads_in_kenlm(model, tmp_path):
    pruned = relative_entropy_prune(model, threshold=1e-3)
    assert sum(pruned.counts().values()) < sum(model.counts().values())
    assert pruned.counts()[1] == model.counts()[1]  # unigrams are never pruned
    for ctx, total in context_sums(pruned):
        assert abs(total - 1.0) < 1e-4, ([pruned.vocab[i] for i in ctx], total)
    arpa = tmp_path / "pruned.arpa"
    write_model_arpa(pruned, arpa)
    kenlm = pytest.importorskip("kenlm")
    lines = ["a b c", "e d", "a a a b"]
    ref = np.array([kenlm.Model(str(arpa)).score(s) for s in lines])
    np.testing.assert_allclose(perplexity(read_model_arpa(arpa), lines).sentence_logprob, ref, atol=1e-4)


def test_threshold_is_monotone_and_target_size_is_met(model):
    sizes = [
        sum(relative_entropy_prune(model, threshold=t).counts().values()) for t in (0.0, 1e-5, 1e-3, 1e-1)
    ]
    assert sizes == sorted(sizes, reverse=True)
    target = (sizes[0] + sizes[-1]) // 2
    got = relative_entropy_prune(model, target_size=target)
    n = sum(got.counts().values())
    assert n <= target and n > target * 0.8


def test_training_perplexity_grows_gently(model, tmp_path):
    rng = np.random.default_rng(3)
    lines = [" ".join(rng.choice(WORDS, rng.integers(1, 7))) for _ in range(200)]
    base = perplexity(model, lines).perplexity
    small = perplexity(relative_entropy_prune(model, threshold=1e-4), lines).perplexity
    assert base <= small < base * 1.05
