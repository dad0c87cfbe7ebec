"""The tensor automaton against a hand-worked case, the plain-Python reference, and brute-force occurrence counts."""

from __future__ import annotations

import dataclasses
import random

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from decoding.hotwords.context_graph import ContextGraph
from decoding.hotwords.reference import ContextGraphRef

FIELDS = (
    "vocab_size",
    "edge_src",
    "edge_token",
    "edge_dst",
    "fail",
    "depth",
    "potential",
    "reward",
    "num_matches",
    "is_root",
)

# build options that select each transition layout
MODES = {
    "dense": {"dense_max_entries": 1 << 20},
    "sparse": {"dense_max_entries": 0, "dfa_max_entries": 1 << 20},
    "trie": {"dense_max_entries": 0, "dfa_max_entries": 0},
}
# token ids for the hand-worked Chinese case
YANG, GUANG, BAO, XIAN, DING = 1, 2, 3, 4, 5


def run(graph: ContextGraph, tokens, start=0):
    state = torch.tensor([start])
    bonuses = []
    for t in tokens:
        b, state = graph.step(state, torch.tensor([t]))
        bonuses.append(round(float(b), 5))
    return bonuses, round(float(graph.finalize(state)), 5), int(state)


@pytest.mark.parametrize("mode", list(MODES))
def test_overlapping_hotwords_fire_through_the_failure_link(mode):
    # 阳光保险 (weight 0) and 保定 (weight 2), 1.0 per token; speech 阳光保定.
    g = ContextGraph.build([[YANG, GUANG, BAO, XIAN], [BAO, DING]], [0.0, 2.0], 1.0, 6, **MODES[mode])
    assert g.mode == mode
    bonuses, final, state = run(g, [YANG, GUANG, BAO, DING])
    # +1 +1 +1 for 阳光保; on 定 the 阳光保 prefix (3) is given back, 保定 is entered: the fallback state 保 held 1,
    # 保定 completes with reward 2 (weight) + 2 x 1 (its tokens) and is banked (potential 0): 0 - 3 + 4 = +1.
    assert bonuses == [1.0, 1.0, 1.0, 1.0]
    assert final == 0.0
    assert int(g.matches(torch.tensor([state]))) == 1
    # an unfinished match is given back at the end, a failed one on the next token
    assert run(g, [YANG, GUANG, BAO])[:2] == ([1.0, 1.0, 1.0], -3.0)
    assert run(g, [YANG, GUANG, DING])[:2] == ([1.0, 1.0, -2.0], 0.0)
    # the whole phrase: 4 tokens + weight 0, kept after the match
    assert run(g, [YANG, GUANG, BAO, XIAN, DING])[:2] == ([1.0, 1.0, 1.0, 1.0, 0.0], 0.0)


def test_whole_word_weights_alone_and_penalties():
    # score 0: only the weight, paid on completion; a negative weight is a penalty and earns no per-token bonus
    g = ContextGraph.build([[1, 2], [3, 4]], [2.5, -4.0], 0.0, 5)
    assert run(g, [1, 2, 3, 4])[:2] == ([0.0, 2.5, 0.0, -4.0], 0.0)
    g = ContextGraph.build([[1, 2], [3, 4]], [2.5, -4.0], 1.0, 5)
    assert run(g, [1, 2, 3, 4])[:2] == ([1.0, 3.5, 0.0, -4.0], 0.0)


def test_nested_hotwords_both_fire():
    # "new" and "new york": both complete on "new york"; the longer one keeps its own full bonus
    g = ContextGraph.build([[1], [1, 2]], [0.0, 0.0], 1.0, 4)
    bonuses, final, _ = run(g, [1, 2])
    assert sum(bonuses) + final == pytest.approx(1.0 + 2.0)
    bonuses, final, _ = run(g, [1, 3])
    assert sum(bonuses) + final == pytest.approx(1.0)


def test_empty_graph_is_neutral():
    g = ContextGraph.empty(7)
    assert g.num_states == 1
    b, s = g.step(torch.zeros(5, dtype=torch.int64), torch.arange(1, 6))
    assert torch.equal(b, torch.zeros(5)) and torch.equal(s, torch.zeros(5, dtype=torch.int64))
    assert torch.equal(g.finalize(s), torch.zeros(5))
    assert (
        ContextGraph.build([], [], 1.0, 7, dense_max_entries=0)
        .step(torch.zeros(2, dtype=torch.int64), torch.tensor([1, 2]))[0]
        .abs()
        .sum()
        == 0
    )


def test_build_rejects_bad_phrases():
    with pytest.raises(ValueError, match="phrase 1 is empty"):
        ContextGraph.build([[1], []], [0, 0], 1.0, 4)
    with pytest.raises(ValueError, match="token id 4 outside"):
        ContextGraph.build([[1, 4]], [0], 1.0, 4)
    with pytest.raises(ValueError, match="token id 0 outside"):
        ContextGraph.build([[0]], [0], 1.0, 4)


def brute_force_total(phrases, weights, score, seq):
    total = 0.0
    for p, w in zip(phrases, weights):
        n = sum(1 for i in range(len(seq) - len(p) + 1) if list(seq[i : i + len(p)]) == list(p))
        total += n * (w + (score * len(p) if w >= 0 else 0.0))
    return total


phrase_lists = st.integers(2, 6).flatmap(
    lambda v: st.tuples(
        st.just(v),
        st.lists(st.lists(st.integers(1, v - 1), min_size=1, max_size=5), max_size=8),
        st.sampled_from([0.0, 0.5, 2.0]),
        st.lists(st.sampled_from([0.0, 1.0, 3.0, -2.0]), min_size=8, max_size=8),
        st.lists(st.lists(st.integers(1, v - 1), max_size=14), min_size=1, max_size=6),
    )
)


@settings(max_examples=150, deadline=None)
@given(phrase_lists)
def test_batched_tensor_graph_matches_reference(case):
    v, phrases, score, wpool, seqs = case
    weights = wpool[: len(phrases)]
    ref = ContextGraphRef(phrases, weights, score)
    for mode, opts in MODES.items():
        g = ContextGraph.build(phrases, weights, score, v, **opts)
        assert g.mode == mode or (mode == "trie" and g.mode == "sparse")  # an empty compressed table fits
        assert g.num_states == ref.num_nodes
        # all sequences advance together as one batch, each against its own reference walk
        n, length = len(seqs), max(len(s) for s in seqs)
        state = torch.zeros(n, dtype=torch.int64)
        refs = [ref.root] * n
        totals = [0.0] * n
        for k in range(length):
            live = [i for i in range(n) if k < len(seqs[i])]
            if not live:
                break
            idx = torch.tensor(live)
            bonus, nxt = g.step(state[idx], torch.tensor([seqs[i][k] for i in live]))
            state[idx] = nxt
            for j, i in enumerate(live):
                b, refs[i], matched = ref.forward_one_step(refs[i], seqs[i][k])
                assert float(bonus[j]) == pytest.approx(b, abs=1e-4)
                assert int(g.depth[nxt[j]]) == refs[i].depth
                assert int(g.matches(nxt[j : j + 1])) == len(matched)
                totals[i] += b
        fin = g.finalize(state)
        for i in range(n):
            assert float(fin[i]) == pytest.approx(ref.finalize(refs[i]), abs=1e-4)
            expected = brute_force_total(phrases, weights, score, seqs[i])
            assert totals[i] + ref.finalize(refs[i]) == pytest.approx(expected, abs=1e-6)
            assert g.score_tokens(seqs[i]) == pytest.approx(expected, abs=1e-3)


def test_concat_keeps_each_list_separate():
    rng = random.Random(3)
    v = 9
    lists = [
        [[rng.randint(1, v - 1) for _ in range(rng.randint(1, 4))] for _ in range(rng.randint(0, 5))]
        for _ in range(4)
    ]
    graphs = [ContextGraph.build(p, [1.0] * len(p), 1.5, v) for p in lists]
    joined, starts = ContextGraph.concat(graphs)
    assert joined.num_states == sum(g.num_states for g in graphs)
    assert starts.tolist() == [
        0,
        *torch.cumsum(torch.tensor([g.num_states for g in graphs]), 0)[:-1].tolist(),
    ]
    others = {mode: ContextGraph.concat(graphs, **opts)[0] for mode, opts in MODES.items()}
    assert [g.mode for g in others.values()] == list(MODES)
    for _ in range(20):
        seq = [rng.randint(1, v - 1) for _ in range(12)]
        for g, s in zip(graphs, starts.tolist()):
            assert joined.score_tokens(seq, start=s) == pytest.approx(g.score_tokens(seq), abs=1e-4)
            for other in others.values():
                assert other.score_tokens(seq, start=s) == pytest.approx(g.score_tokens(seq), abs=1e-4)
    # nested concat: state 0 of a joined graph is the start of its first list
    again, starts2 = ContextGraph.concat([joined, graphs[1]])
    seq = lists[1][0] if lists[1] else [1]
    assert again.score_tokens(seq, start=int(starts2[1])) == pytest.approx(graphs[1].score_tokens(seq))
    with pytest.raises(ValueError, match="vocabulary sizes differ"):
        ContextGraph.concat([graphs[0], ContextGraph.empty(v + 1)])


def test_large_list_layouts_agree():
    rng = random.Random(0)
    v = 50
    phrases = [[rng.randint(1, v - 1) for _ in range(rng.randint(1, 6))] for _ in range(2000)]
    weights = [rng.choice([0.0, 2.0, -1.0]) for _ in phrases]
    graphs = {mode: ContextGraph.build(phrases, weights, 1.0, v, **opts) for mode, opts in MODES.items()}
    assert [g.mode for g in graphs.values()] == list(MODES)
    states = torch.randint(0, graphs["dense"].num_states, (5000,))
    tokens = torch.randint(1, v, (5000,))
    bd, nd = graphs["dense"].step(states, tokens)
    assert graphs["sparse"].root_table is not None
    no_root_table = dataclasses.replace(
        graphs["sparse"], root_table=None
    )  # many lists: roots searched, not gathered
    for name, g in [
        ("sparse", graphs["sparse"]),
        ("sparse-no-root-table", no_root_table),
        ("trie", graphs["trie"]),
    ]:
        b, n = g.step(states, tokens)
        assert torch.equal(nd, n), name
        assert torch.allclose(bd, b), name


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_equals_cpu():
    for opts in MODES.values():
        g = ContextGraph.build([[1, 2, 3], [2, 3]], [1.0, 0.0], 1.0, 5, **opts)
        states = torch.randint(0, g.num_states, (100,))
        tokens = torch.randint(1, 5, (100,))
        b, n = g.step(states, tokens)
        bc, nc = g.to("cuda").step(states.cuda(), tokens.cuda())
        assert torch.equal(n, nc.cpu()) and torch.allclose(b, bc.cpu())
