"""Greedy and prefix beam search against brute-force sums over every row labelling; forced alignment; results."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from search_refs import FakeContext

from decoding.search.nograph import greedy_search, prefix_beam_search, prefix_beam_search_batch
from decoding.search.pipeline import force_align
from decoding.search.results import TokenPath, align_words, emissions, format_ctm, format_nbest


def _lp(rng, n, v):
    x = rng.normal(0, 2.0, (n, v))
    return (x - np.logaddexp.reduce(x, axis=1, keepdims=True)).astype(np.float32)


def _exact_prefix_scores(lp: np.ndarray, row_type: str, ctx=None) -> dict[tuple, float]:
    """log P(token sequence) summed over every row labelling (+ hotword bonus of the sequence)."""
    T, V = lp.shape
    scores: dict[tuple, float] = {}
    for labels in itertools.product(range(V), repeat=T):
        toks, _, _ = emissions(np.array(labels), row_type)
        p = float(sum(lp[t, k] for t, k in enumerate(labels)))
        scores[tuple(toks)] = np.logaddexp(scores.get(tuple(toks), -np.inf), p)
    if ctx is not None:
        scores = {k: v + ctx.score_tokens(list(k)) for k, v in scores.items()}
    return scores


@pytest.mark.parametrize("row_type", ["frame", "cif"])
def test_prefix_beam_search_finds_most_probable_sequence(row_type):
    rng = np.random.default_rng(0)
    for _ in range(15):
        T, V = int(rng.integers(1, 6)), int(rng.integers(2, 4))
        lp = _lp(rng, T, V)
        exact = _exact_prefix_scores(lp, row_type)
        best = max(exact, key=exact.get)
        hyps = prefix_beam_search(lp, beam=64, row_type=row_type, nbest=3, token_beam=V)
        assert hyps[0].tokens == best
        assert hyps[0].logprob == pytest.approx(exact[best], abs=1e-6)
        ranked = sorted(exact.values(), reverse=True)[:3]
        assert [h.score for h in hyps] == pytest.approx(ranked[: len(hyps)], abs=1e-6)


@pytest.mark.parametrize("row_type", ["frame", "cif"])
def test_prefix_beam_search_with_hotword_context(row_type):
    rng = np.random.default_rng(1)
    for _ in range(10):
        T, V = int(rng.integers(2, 6)), 3
        lp = _lp(rng, T, V)
        ctx = FakeContext([1, 2], V, score=1.0)
        exact = _exact_prefix_scores(lp, row_type, ctx)
        best = max(exact, key=exact.get)
        hyp = prefix_beam_search(lp, beam=64, row_type=row_type, token_beam=V, context=ctx)[0]
        assert hyp.score == pytest.approx(exact[best], abs=1e-5)


def test_greedy_is_argmax_and_context_biases_it():
    rng = np.random.default_rng(2)
    x = torch.from_numpy(np.stack([_lp(rng, 6, 5) for _ in range(3)]))
    lens = torch.tensor([6, 4, 0])
    out = greedy_search(x, lens)
    for b in range(3):
        assert np.array_equal(out[b], x[b, : lens[b]].argmax(-1).numpy())
    # a one-token phrase with a huge score makes token 3 win every row (CIF: every row a new token)
    ctx = FakeContext([3], 5, score=100.0)
    biased = greedy_search(x, lens, row_type="cif", context=ctx)
    assert all((o == 3).all() for o in biased)
    blank_pen = greedy_search(x, lens, blank_penalty=1e3)
    assert all((o != 0).all() for o in blank_pen)


@pytest.mark.parametrize("row_type", ["frame", "cif"])
def test_force_align_is_the_best_labelling(row_type):
    rng = np.random.default_rng(3)
    for _ in range(20):
        T, V = int(rng.integers(1, 6)), 3
        lp = _lp(rng, T, V)
        toks = [int(t) for t in rng.integers(1, V, int(rng.integers(1, 3)))]
        best, best_lab = -np.inf, None
        for labels in itertools.product(range(V), repeat=T):
            if emissions(np.array(labels), row_type)[0] == toks:
                p = sum(lp[t, k] for t, k in enumerate(labels))
                if p > best:
                    best, best_lab = p, labels
        got = force_align(lp, toks, row_type)
        if best_lab is None:
            assert (got == 0).all()
        else:
            assert sum(lp[t, k] for t, k in enumerate(got)) == pytest.approx(best, abs=1e-5)
            assert emissions(got, row_type)[0] == toks


def test_emissions_follow_ctc_and_cif_rules():
    labels = np.array([0, 3, 3, 0, 3, 2, 2, 0])
    assert emissions(labels, "frame") == ([3, 3, 2], [1, 4, 5], [2, 4, 6])
    assert emissions(labels, "cif") == ([3, 3, 3, 2, 2], [1, 2, 4, 5, 6], [1, 2, 4, 5, 6])


def test_word_spans_by_spelling_times_and_confidence():
    syms = ["<blk>", "\u2581he", "llo", "\u2581wor", "ld"]
    lp = np.log(np.full((8, 5), 0.1, np.float32))
    labels = np.array([1, 1, 2, 0, 3, 0, 4, 4])
    for t, k in enumerate(labels):
        lp[t, k] = np.log(0.6)
    toks, first, last = emissions(labels, "frame")
    path = TokenPath(toks, first, last, [7, 9], [0, 4])
    spans = align_words(path, ["hello", "world"], syms, lp, "frame", 0.04)
    assert [(s.word, round(s.start, 2), round(s.duration, 2)) for s in spans] == [
        ("hello", 0.0, 0.12),
        ("world", 0.16, 0.16),
    ]
    assert spans[0].confidence == pytest.approx(0.6)
    # CIF rows take times from times.scp
    times = np.array([[0.1 * i, 0.1 * i + 0.08] for i in range(8)], np.float32)
    cif_toks, cf, cl = emissions(np.array([1, 2, 0, 3, 4, 0, 0, 0]), "cif")
    spans = align_words(TokenPath(cif_toks, cf, cl), ["hello", "world"], syms, lp, "cif", 0.0, times)
    assert spans[1].start == pytest.approx(0.3) and spans[1].duration == pytest.approx(0.18)
    # a lexicon that does not spell the words: tokens go to the word whose label was read last
    path = TokenPath([1, 2, 3], [0, 2, 5], [0, 2, 5], [7, 9], [0, 4])
    spans = align_words(path, ["A", "B"], ["<blk>", "x", "y", "z"], lp[:, :4], "frame", 0.1)
    assert [(round(s.start, 2), round(s.duration, 2)) for s in spans] == [(0.0, 0.3), (0.5, 0.1)]
    assert format_ctm("u1", spans).splitlines()[0] == "u1 1 0.00 0.30 A " + f"{spans[0].confidence:.2f}"
    assert format_nbest("u1", [(["A", "B"], 1.5), ([], 2.0)]) == "u1 1 1.5000 A B\nu1 2 2.0000\n"


@pytest.mark.parametrize("row_type", ["frame", "cif"])
def test_batched_prefix_beam_search_equals_per_utterance(row_type):
    """The tensor version (all prefixes of all utterances at once) returns the per-utterance search's prefixes and
    scores, with pruning (beam 4, 3 tokens tried per row), n-best, blank penalty and a hotword context."""
    rng = np.random.default_rng(7)
    for trial in range(6):
        B, V = 5, int(rng.integers(3, 7))
        lens = [int(rng.integers(0, 9)) for _ in range(B)]
        mats = [_lp(rng, n, V) for n in lens]
        x = torch.zeros(B, max(lens + [1]), V)
        for i, m in enumerate(mats):
            x[i, : len(m)] = torch.from_numpy(m)
        ctx = FakeContext([1, 2], V, score=1.0) if trial % 2 else None
        kw = dict(
            beam=4, row_type=row_type, nbest=3, token_beam=3, blank_penalty=0.5 * (trial % 3), context=ctx
        )
        batched = prefix_beam_search_batch(x, torch.tensor(lens), **kw)
        for m, got in zip(mats, batched):
            ref = prefix_beam_search(m, **kw)
            assert [h.tokens for h in got] == [h.tokens for h in ref]
            assert [h.score for h in got] == pytest.approx([h.score for h in ref], abs=1e-9)
            assert [h.logprob for h in got] == pytest.approx([h.logprob for h in ref], abs=1e-9)


@pytest.mark.parametrize("method", ["greedy", "prefix"])
def test_graphless_cif_rows_leave_an_overcounted_slot_empty(method):
    """Paraformer CIF rows have no blank column (-inf): ``cifst decode --no-graph`` reads it as
    ``-cif_skip_penalty``, so a slot where every token is less likely than that is dropped; with the model's column
    kept (``cif_blank=None``) a token fills it."""
    from asr.text.symbol_table import SymbolTable
    from decoding.search.beam import BeamSearchConfig
    from decoding.search.io import Utterance
    from decoding.search.pipeline import BatchDecoder, DecodeOptions

    syms = ["<blk>", "a", "b", "c", "\u2581"]
    V = len(syms)
    word = [1, 2, 3]
    lp = np.full((4, V), np.log(0.02), np.float32)
    for r, t in enumerate([1, 2, None, 3]):
        if t is None:
            lp[r, 1:] = np.log(1 / (V - 1))  # the over-counted slot: -1.39 for every token
        else:
            lp[r, t] = np.log(0.9)
    lp[:, 0] = -np.inf
    utt = Utterance("u1", lp)
    out = {}
    for name, cif_blank, pen in (("skip", 0.0, 1.0), ("expensive", 0.0, 3.0), ("kept", None, 1.0)):
        opts = DecodeOptions(
            search=BeamSearchConfig(row_type="cif", cif_blank=cif_blank), method=method, cif_skip_penalty=pen
        )
        dec = BatchDecoder(opts, SymbolTable(syms))
        out[name] = dec.decode([utt])[0].tokens
    assert out["skip"] == word  # -1.0 beats -1.39: the slot stays empty
    assert len(out["expensive"]) == 4 and len(out["kept"]) == 4  # a token fills it
