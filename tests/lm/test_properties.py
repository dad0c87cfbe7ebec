"""Properties every built model must have, for every smoothing method: each context's distribution over the
vocabulary (without <s>) sums to one under ARPA back-off semantics; our perplexity matches kenlm's query module."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from normalisation import context_sums

from lm.build import LmBuildConfig, build_lm
from lm.model import read_model_arpa, write_model_arpa
from lm.ppl import perplexity

WORDS = ["a", "b", "c", "d", "e", "f"]


corpora = st.lists(st.lists(st.sampled_from(WORDS), min_size=0, max_size=8), min_size=3, max_size=25)


@pytest.mark.parametrize("smoothing", ["mkn", "kn", "absolute", "witten-bell", "add-k", "katz"])
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sentences=corpora, order=st.integers(1, 4), prune=st.booleans())
@example(sentences=[[], [], ["b"], ["b", "a"]], order=2, prune=True)  # found by CI: add-k's |V| at order 2
def test_every_context_sums_to_one(tmp_path_factory, smoothing, sentences, order, prune):
    text = tmp_path_factory.mktemp("c") / "t.txt"
    text.write_text("\n".join(" ".join(s) for s in sentences) + "\n")
    cfg = LmBuildConfig(
        order=order,
        smoothing=smoothing,
        discount_fallback=(0.5, 1.0, 1.5),
        discount=0.6,
        prune=[0] + [1] * (order - 1) if prune and order > 1 else [],
        progress=False,
        verbose=False,
    )
    model = build_lm([str(text)], cfg)
    for ctx, total in context_sums(model):
        assert abs(total - 1.0) < 2e-4, (smoothing, [model.vocab[i] for i in ctx], total)


def test_kneser_ney_hand_worked_bigram(tmp_path):
    """A bigram model small enough to check by hand against Chen & Goodman's formulas (fixed discount 0.5)."""
    text = tmp_path / "t.txt"
    text.write_text("a b\na b\nb a\n")
    model = build_lm(
        [str(text)], LmBuildConfig(order=2, smoothing="kn", discount=0.5, progress=False, verbose=False)
    )
    lp = {
        tuple(model.vocab[i] for i in row): v
        for row, v in zip(model.columns(2).tolist(), model.orders[1].logprob)
    }
    # unigram continuation counts: a: {<s>, b} = 2, b: {a, <s>} = 2, </s>: {b, a} = 2; total 6, 3 types
    # gamma(unigram) = 0.5 * 3 / 6 = 0.25, uniform over 4 words (<unk>, </s>, a, b) -> p(b) = 1.5/6 + 0.25/4
    p_b = 1.5 / 6 + 0.25 / 4
    p_end = 1.5 / 6 + 0.25 / 4
    # context a: a b (2), a </s> (1): denominator 3, gamma = 0.5 * 2 / 3
    expect_ab = (2 - 0.5) / 3 + (0.5 * 2 / 3) * p_b
    expect_a_end = (1 - 0.5) / 3 + (0.5 * 2 / 3) * p_end
    assert lp[("a", "b")] == pytest.approx(np.log10(expect_ab), abs=1e-6)
    assert lp[("a", "</s>")] == pytest.approx(np.log10(expect_a_end), abs=1e-6)


def test_perplexity_matches_kenlm_query(tmp_path):
    kenlm = pytest.importorskip("kenlm")
    rng = np.random.default_rng(0)
    train = tmp_path / "train.txt"
    train.write_text(
        "\n".join(" ".join(rng.choice(WORDS[:5], rng.integers(1, 9))) for _ in range(300)) + "\n"
    )
    cfg = LmBuildConfig(order=3, discount_fallback=(0.5, 1.0, 1.5), progress=False, verbose=False)
    model = build_lm([str(train)], cfg)
    arpa = tmp_path / "lm.arpa"
    write_model_arpa(model, arpa)
    test_lines = [" ".join(rng.choice(WORDS, rng.integers(0, 9))) for _ in range(100)] + [
        "zz a b zz zz c",
        "",
    ]
    ours = perplexity(read_model_arpa(arpa), test_lines)
    ref = kenlm.Model(str(arpa))
    ref_scores = np.array([ref.score(line, bos=True, eos=True) for line in test_lines])
    np.testing.assert_allclose(ours.sentence_logprob, ref_scores, atol=1e-4)
    assert ours.oovs == sum(w not in ref for line in test_lines for w in line.split())
    assert ours.tokens == sum(len(line.split()) + 1 for line in test_lines)
    assert ours.perplexity == pytest.approx(10 ** (-ref_scores.sum() / ours.tokens), rel=1e-5)


@pytest.mark.parametrize("k", [1.0, 0.5])
def test_add_k_uses_the_vocabulary_size_at_every_order(tmp_path, k):
    # p(w|h) = (c(hw) + k) / (c(h) + k |V|), |V| = the predictable words (</s> <unk> a b here), at order 2 as at 1;
    # a bug once took |V| from the number of bigrams, which pruning made small enough to give sums above one
    text = tmp_path / "t.txt"
    text.write_text("a b\na b\nb a\n")
    cfg = LmBuildConfig(order=2, smoothing="add-k", add_k=k, progress=False, verbose=False)
    arpa = tmp_path / "lm.arpa"
    write_model_arpa(build_lm([str(text)], cfg), arpa)
    logp = {}
    for line in arpa.read_text().splitlines():
        parts = line.split("\t")
        if len(parts) >= 2 and parts[1].startswith("<s> "):
            logp[parts[1]] = float(parts[0])
    assert logp["<s> a"] == pytest.approx(np.log10((2 + k) / (3 + 4 * k)), abs=1e-6)
    assert logp["<s> b"] == pytest.approx(np.log10((1 + k) / (3 + 4 * k)), abs=1e-6)
