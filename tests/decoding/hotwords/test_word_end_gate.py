"""False-alarm control: the word-end check (a completed hotword is paid only when its word ends there) and the
acoustic gate (a token the posteriors do not support cannot advance a match), against hand-worked cases, the
plain-Python reference, brute-force counting, and through the graph-less prefix beam search."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from decoding.hotwords import HotwordConfig
from decoding.hotwords.context_graph import ContextGraph
from decoding.hotwords.load import load_context, word_start_table
from decoding.hotwords.reference import ContextGraphRef

MODES = {
    "dense": {"dense_max_entries": 1 << 20},
    "sparse": {"dense_max_entries": 0, "dfa_max_entries": 1 << 20},
    "trie": {"dense_max_entries": 0, "dfa_max_entries": 0},
}
# a 6-token toy vocabulary: 1 "▁cat", 2 "s", 3 "▁the", 4 "alog", 5 "▁new"; 0 is blank
WS = [True, True, False, True, False, True]
CAT, S, THE, ALOG, NEW = 1, 2, 3, 4, 5


def walk(graph: ContextGraph, tokens, logps=None):
    state = torch.tensor([0])
    bonuses = []
    for k, t in enumerate(tokens):
        lp = None if logps is None else torch.tensor([logps[k]])
        b, state = graph.step(state, torch.tensor([t]), token_logp=lp)
        bonuses.append(round(float(b), 5))
    return bonuses, round(float(graph.finalize(state)), 5)


@pytest.mark.parametrize("mode", list(MODES))
def test_cat_does_not_fire_on_cats_or_catalog(mode):
    g = ContextGraph.build([[CAT]], [2.0], 1.0, 6, word_start=WS, **MODES[mode])
    assert g.word_end_check
    # "cat the": +1 for the token, then the next word start confirms it: weight 2 + its token bonus 1 - held 1
    assert walk(g, [CAT, THE]) == ([1.0, 2.0], 0.0)
    # "cats": the word goes on, the held token bonus is taken back, nothing is paid
    bonuses, final = walk(g, [CAT, S])
    assert sum(bonuses) + final == 0.0
    bonuses, final = walk(g, [CAT, ALOG, THE])
    assert sum(bonuses) + final == 0.0
    # the utterance end is a word end
    assert walk(g, [THE, CAT]) == ([0.0, 1.0], 2.0)
    # without the check the completion is paid at once, also inside "cats"
    old = ContextGraph.build([[CAT]], [2.0], 1.0, 6, **MODES[mode])
    assert not old.word_end_check
    assert sum(walk(old, [CAT, S])[0]) == 3.0


def test_longer_hotword_that_continues_the_word_still_fires():
    # "cat" and "catalog": on "catalog" only the longer one is paid
    g = ContextGraph.build([[CAT], [CAT, ALOG]], [0.0, 0.0], 1.0, 6, word_start=WS)
    bonuses, final = walk(g, [CAT, ALOG])
    assert sum(bonuses) + final == pytest.approx(2.0)
    bonuses, final = walk(g, [CAT, THE])
    assert sum(bonuses) + final == pytest.approx(1.0)


def test_multi_word_phrases_and_nested_words():
    # "new" and "new cat": "new cat the" pays both (1 + 2 tokens); "new cats" pays only "new"
    g = ContextGraph.build([[NEW], [NEW, CAT]], [0.0, 0.0], 1.0, 6, word_start=WS)
    bonuses, final = walk(g, [NEW, CAT, THE])
    assert sum(bonuses) + final == pytest.approx(3.0)
    bonuses, final = walk(g, [NEW, CAT, S])
    assert sum(bonuses) + final == pytest.approx(1.0)
    # running score = confirmed completions + what the open match holds: "new" confirmed (1) + "new cat" held (2),
    # then "s" continues the word: "new cat" is dropped, "new" stays
    assert np.cumsum(walk(g, [NEW, CAT, S])[0]).tolist() == [1.0, 3.0, 1.0]


def test_gate_blocks_implausible_tokens():
    g = ContextGraph.build([[NEW, CAT]], [1.0], 1.0, 6, word_start=WS, gate_logp=math.log(0.05))
    # both tokens plausible: 2 tokens + weight 1
    bonuses, final = walk(g, [NEW, CAT], [-0.1, -1.0])
    assert sum(bonuses) + final == pytest.approx(3.0)
    # "cat" at 1%: the match is abandoned, the bonus of "new" is taken back on that very step
    bonuses, final = walk(g, [NEW, CAT], [-0.1, math.log(0.01)])
    assert bonuses == [1.0, -1.0] and final == 0.0
    # the first token below the gate: nothing starts
    assert walk(g, [NEW, CAT], [-5.0, -0.1]) == ([0.0, 0.0], 0.0)
    # no token_logp passed (a search without the gate): the gate does not apply
    assert sum(walk(g, [NEW, CAT])[0]) + walk(g, [NEW, CAT])[1] == pytest.approx(3.0)


def test_gate_keeps_a_pending_completion_of_the_previous_word():
    g = ContextGraph.build([[CAT]], [1.0], 1.0, 6, word_start=WS, gate_logp=-3.0)
    # "cat" then an implausible word start: "cat" ended at the word boundary and is paid; the new token is not
    bonuses, final = walk(g, [CAT, CAT], [-0.5, -6.0])
    assert sum(bonuses) + final == pytest.approx(2.0)


def brute_force_word_end(phrases, weights, score, seq, ws):
    total = 0.0
    for p, w in zip(phrases, weights):
        for i in range(len(seq) - len(p) + 1):
            end = i + len(p)
            if list(seq[i:end]) == list(p) and (end == len(seq) or ws[seq[end]]):
                total += w + (score * len(p) if w >= 0 else 0.0)
    return total


cases = st.integers(3, 6).flatmap(
    lambda v: st.tuples(
        st.just(v),
        st.lists(st.booleans(), min_size=v, max_size=v),
        st.lists(st.lists(st.integers(1, v - 1), min_size=1, max_size=4), max_size=6),
        st.sampled_from([0.0, 1.0]),
        st.lists(st.sampled_from([0.0, 2.0, -1.0]), min_size=6, max_size=6),
        st.lists(st.lists(st.integers(1, v - 1), max_size=12), min_size=1, max_size=4),
        st.sampled_from([None, -1.0]),
        st.integers(0, 2**31 - 1),
    )
)


@settings(max_examples=120, deadline=None)
@given(cases)
def test_word_end_and_gate_match_reference(case):
    v, ws, phrases, score, wpool, seqs, gate, seed = case
    weights = wpool[: len(phrases)]
    rng = np.random.default_rng(seed)
    ref = ContextGraphRef(phrases, weights, score, word_start=ws, gate_logp=gate)
    for opts in MODES.values():
        g = ContextGraph.build(phrases, weights, score, v, word_start=ws, gate_logp=gate, **opts)
        for seq in seqs:
            logps = (-2.0 * rng.random(len(seq))).tolist()
            state, node, total = torch.tensor([0]), ref.root, 0.0
            for t, lp in zip(seq, logps):
                b, state = g.step(state, torch.tensor([t]), token_logp=torch.tensor([lp]))
                rb, node, _ = ref.forward_one_step(node, t, lp)
                assert float(b) == pytest.approx(rb, abs=1e-4)
                total += rb
            assert float(g.finalize(state)) == pytest.approx(ref.finalize(node), abs=1e-4)
            total += ref.finalize(node)
            if gate is None:
                assert total == pytest.approx(
                    brute_force_word_end(phrases, weights, score, seq, ws), abs=1e-4
                )


def test_concat_keeps_word_start_and_gate_and_refuses_mixtures():
    a = ContextGraph.build([[CAT]], [0.0], 1.0, 6, word_start=WS, gate_logp=-2.0)
    b = ContextGraph.build([[NEW]], [0.0], 1.0, 6, word_start=WS, gate_logp=-2.0)
    joined, starts = ContextGraph.concat([a, b])
    assert joined.word_end_check and joined.gate_logp == -2.0
    state = torch.tensor([int(starts[0])])
    bonus, state = joined.step(state, torch.tensor([CAT]))
    bonus2, _ = joined.step(state, torch.tensor([S]))
    assert float(bonus) + float(bonus2) == 0.0
    with pytest.raises(ValueError, match="word_start"):
        ContextGraph.concat([a, ContextGraph.build([[NEW]], [0.0], 1.0, 6)])
    with pytest.raises(ValueError, match="gate_logp"):
        ContextGraph.concat([a, ContextGraph.build([[NEW]], [0.0], 1.0, 6, word_start=WS)])


def test_load_uses_the_tokenizers_word_starts(tokenizer, tmp_path):
    f = tmp_path / "hw.txt"
    f.write_text("cat 2\n", encoding="utf-8")
    g = load_context(f, tokenizer, hotword_score=1.0)
    assert g.word_end_check
    ids = tokenizer.encode
    # "cat the" fires; "caten" (▁cat en) does not
    assert g.score_tokens(ids("cat the")) == pytest.approx(3.0)
    assert g.score_tokens(ids("caten")) == pytest.approx(0.0)
    off = load_context(f, tokenizer, hotword_score=1.0, config=HotwordConfig(word_end=False))
    assert off.score_tokens(ids("caten")) == pytest.approx(3.0)
    # specials count as word boundaries; a CJK-only vocabulary needs no check
    table = word_start_table(tokenizer)
    assert table[0] and table[tokenizer.symbols["<unk>"]] and not table[tokenizer.symbols["en"]]


def test_prefix_search_scores_follow_the_word_end_rule(tokenizer):
    """Through the graph-less search: a hypothesis spelling "caten" earns no hotword score with the check, the full
    one without it."""
    nograph = pytest.importorskip("decoding.search.nograph")
    sym = tokenizer.symbols
    v = int(sym.max_id) + 1
    rows = [sym["▁cat"], sym["en"], sym["▁the"]]
    lp = np.full((len(rows), v), math.log(1e-4), dtype=np.float32)
    for r, t in enumerate(rows):
        lp[r, t] = math.log(0.9)
    lp = np.log(np.exp(lp) / np.exp(lp).sum(1, keepdims=True)).astype(np.float32)
    graphs = {
        check: ContextGraph.build(
            [[sym["▁cat"]]], [2.0], 1.0, v, word_start=word_start_table(tokenizer) if check else None
        )
        for check in (True, False)
    }
    for check, g in graphs.items():
        best = nograph.prefix_beam_search(lp, beam=4, row_type="cif", context=g)[0]
        assert list(best.tokens) == rows
        assert best.score - best.logprob == pytest.approx(0.0 if check else 3.0, abs=1e-4)
