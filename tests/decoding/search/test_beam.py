"""The batched TLG beam search against exact search (OpenFst shortest path, brute force) and kaldi-decoder."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from search_refs import (
    FakeContext,
    brute_force_best,
    brute_force_best_ctx,
    build_tlg,
    kaldi_best,
    openfst_best,
    openfst_nbest_words,
    random_fst,
    synth_posteriors,
    toy_bigram_arpa,
)

from decoding.graph.csr import CsrGraph
from decoding.search.beam import BeamSearchConfig, TlgBeamSearch

WIDE = BeamSearchConfig(beam=1e4, max_active=10**6, min_active=0)


def _batch(mats: list[np.ndarray], vocab: int) -> tuple[torch.Tensor, torch.Tensor]:
    T = max([len(m) for m in mats] + [1])
    x = torch.zeros(len(mats), T, vocab)
    for i, m in enumerate(mats):
        x[i, : len(m)] = torch.from_numpy(m)
    return x, torch.tensor([len(m) for m in mats])


def _logsoftmax(rng, n, v, scale=2.0):
    x = rng.normal(0, scale, (n, v))
    return (x - np.logaddexp.reduce(x, axis=1, keepdims=True)).astype(np.float32)


def test_exact_on_random_graphs_matches_openfst_and_brute_force():
    rng = np.random.default_rng(0)
    checked = 0
    for _ in range(25):
        S, V = int(rng.integers(2, 25)), int(rng.integers(2, 6))
        f = random_fst(S, V, 4, rng)
        graph = CsrGraph.from_fst(f)
        search = TlgBeamSearch(graph, WIDE)
        mats = [_logsoftmax(rng, int(rng.integers(0, 8)), V) for _ in range(5)]
        res = search.search(*_batch(mats, V))
        for m, r in zip(mats, res):
            ref = openfst_best(f, m)
            if ref is None:  # no final state reachable in exactly len(m) rows
                assert r.best is None or not r.best.final
                continue
            assert r.best is not None and r.best.final
            assert r.best.cost == pytest.approx(ref.cost, abs=1e-3)
            g = graph
            # the path is a real path: consecutive arcs chain, starts at the start state, ends final
            arcs = torch.from_numpy(r.best.arcs)
            if len(arcs):
                assert int(g.src[arcs[0]]) == g.start
                assert torch.equal(g.dst[arcs[:-1]], g.src[arcs[1:]])
                cost = float(g.weight[arcs].sum()) + float(g.final[g.dst[arcs[-1]]])
                cost -= float(sum(m[t, int(g.ilabel[a]) - 1] for t, a in enumerate(arcs)))
                assert cost == pytest.approx(r.best.cost, abs=1e-3)
            if S <= 8 and len(m) <= 5:
                bf = brute_force_best(f, m)
                assert bf.cost == pytest.approx(ref.cost, abs=1e-4)
            checked += 1
    assert checked > 50


@pytest.fixture(scope="module")
def toy_lm(tmp_path_factory):
    """A 120-word character lexicon, a bigram LM over 400 sentences, and TLG graphs for both topologies."""
    import kaldilm

    rng = np.random.default_rng(1)
    dict_path = Path("/usr/share/dict/american-english")  # wamerican; random letter strings without it
    if dict_path.exists():
        text = dict_path.read_text(encoding="utf-8").split()
        pool = sorted({w for w in text if w.isalpha() and w.islower() and w.isascii() and 2 <= len(w) <= 6})
    else:
        pool = sorted({"".join(rng.choice(list("abcdefghij"), int(rng.integers(2, 7)))) for _ in range(2000)})
    words = [str(w) for w in rng.choice(pool, 120, replace=False)]
    sents = [[str(w) for w in rng.choice(words, int(rng.integers(2, 7)))] for _ in range(400)]
    d = tmp_path_factory.mktemp("toy_lm")
    (d / "lm.arpa").write_text(toy_bigram_arpa(sents))
    tokens = ["<blk>", *sorted(set("".join(words)))]
    wl = ["<eps>", *sorted(set(words)), "<s>", "</s>", "#0"]
    (d / "words.txt").write_text("".join(f"{w} {i}\n" for i, w in enumerate(wl)))
    g_text = kaldilm.arpa2fst(
        str(d / "lm.arpa"), "", disambig_symbol="#0", read_symbol_table=str(d / "words.txt")
    )
    lex = [(wl.index(w), [tokens.index(c) for c in w]) for w in sorted(set(words))]
    graphs = {}
    for topo in ("ctc", "cif"):
        tlg = build_tlg(len(tokens), lex, g_text, wl.index("#0"), topo)
        tlg.write(str(d / f"{topo}.fst"))
        graphs[topo] = tlg
    return {"dir": d, "tokens": tokens, "words": wl, "sents": sents, "graphs": graphs, "rng": rng}


def _realistic_set(toy_lm, topo, n):
    rng = toy_lm["rng"]
    tokens, sents = toy_lm["tokens"], toy_lm["sents"]
    mats = []
    for _ in range(n):
        s = sents[int(rng.integers(0, len(sents)))]
        ids = [tokens.index(c) for c in "".join(s)]
        mats.append(
            synth_posteriors(ids, len(tokens), rng, "frame" if topo == "ctc" else "cif", p_wrong=0.15)
        )
    return mats


@pytest.mark.parametrize("topo", ["ctc", "cif"])
def test_same_best_path_as_kaldi_decoder(toy_lm, topo):
    import kaldi_decoder
    import kaldifst

    beam, max_active, min_active = 10.0, 1000, 20
    path = str(toy_lm["dir"] / f"{topo}.fst")
    kgraph = kaldifst.StdVectorFst.read(path)
    kdec = kaldi_decoder.FasterDecoder(
        kgraph, kaldi_decoder.FasterDecoderOptions(beam=beam, max_active=max_active, min_active=min_active)
    )
    graph = CsrGraph.from_fst(toy_lm["graphs"][topo])
    cfg = BeamSearchConfig(beam=beam, max_active=max_active, min_active=min_active, row_type="frame")
    search = TlgBeamSearch(graph, cfg)
    mats = _realistic_set(toy_lm, topo, 150)
    res = search.search(*_batch(mats, len(toy_lm["tokens"])))
    wider = TlgBeamSearch(
        graph, BeamSearchConfig(beam=beam + 4, max_active=2 * max_active, min_active=min_active)
    )
    res_wide = wider.search(*_batch(mats, len(toy_lm["tokens"])))
    same = 0
    for m, r, rw in zip(mats, res, res_wide):
        k = kaldi_best(path, m, beam, max_active, min_active, decoder=kdec)
        ours_ils = graph.ilabel[torch.from_numpy(r.best.arcs)].tolist()
        ours_ols = [o for o in graph.olabel[torch.from_numpy(r.best.arcs)].tolist() if o]
        if ours_ils == k.ilabels and ours_ols == k.olabels and r.best.cost == pytest.approx(k.cost, rel=1e-5):
            same += 1
        assert rw.best.cost <= k.cost + 1e-3 * max(1.0, abs(k.cost))  # a wider beam is never worse
    assert same >= 0.99 * len(mats), f"{same}/{len(mats)} identical to kaldi-decoder"


def test_wider_beam_never_worse_and_exact_when_wide(toy_lm):
    graph = CsrGraph.from_fst(toy_lm["graphs"]["ctc"])
    mats = _realistic_set(toy_lm, "ctc", 16)
    x = _batch(mats, len(toy_lm["tokens"]))
    costs = []
    for beam, ma in ((4.0, 30), (8.0, 200), (1e4, 10**6)):
        res = TlgBeamSearch(graph, BeamSearchConfig(beam=beam, max_active=ma, min_active=0)).search(*x)
        costs.append(np.array([r.best.cost if r.best and r.best.final else np.inf for r in res]))
    assert np.all(costs[1] <= costs[0] + 1e-3) and np.all(costs[2] <= costs[1] + 1e-3)
    for m, c in zip(mats[:10], costs[2][:10]):
        assert c == pytest.approx(openfst_best(toy_lm["graphs"]["ctc"], m).cost, rel=1e-5)


def test_batch_composition_does_not_change_results(toy_lm):
    graph = CsrGraph.from_fst(toy_lm["graphs"]["cif"])
    mats = _realistic_set(toy_lm, "cif", 12)
    V = len(toy_lm["tokens"])
    search = TlgBeamSearch(graph, BeamSearchConfig(beam=8, max_active=50))
    together = search.search(*_batch(mats, V))
    for m, r in zip(mats, together):
        alone = search.search(*_batch([m], V))[0]
        assert np.array_equal(alone.best.arcs, r.best.arcs) and alone.best.cost == r.best.cost


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cpu_and_cuda_identical(toy_lm):
    graph = CsrGraph.from_fst(toy_lm["graphs"]["ctc"])
    mats = _realistic_set(toy_lm, "ctc", 32)
    x = _batch(mats, len(toy_lm["tokens"]))
    cfg = BeamSearchConfig(beam=8, max_active=100, nbest=3)
    cpu = TlgBeamSearch(graph, cfg, "cpu").search(*x)
    gpu = TlgBeamSearch(graph, cfg, "cuda").search(x[0].cuda(), x[1])
    for a, b in zip(cpu, gpu):
        assert np.array_equal(a.best.arcs, b.best.arcs) and a.best.cost == b.best.cost
        assert [p.cost for p in a.nbest] == [p.cost for p in b.nbest]


@pytest.mark.parametrize("row_type", ["frame", "cif"])
def test_hotword_context_matches_brute_force(row_type):
    rng = np.random.default_rng(5)
    checked = 0
    for _ in range(12):
        S, V = int(rng.integers(2, 7)), 4
        f = random_fst(S, V, 3, rng)
        ctx = FakeContext([1, 2], V, score=1.5)
        cfg = BeamSearchConfig(beam=1e4, max_active=10**6, min_active=0, row_type=row_type, cif_blank=None)
        search = TlgBeamSearch(CsrGraph.from_fst(f), cfg)
        mats = [_logsoftmax(rng, int(rng.integers(1, 6)), V) for _ in range(4)]
        res = search.search(*_batch(mats, V), context=ctx, context_start=torch.zeros(4, dtype=torch.int64))
        for m, r in zip(mats, res):
            ref = brute_force_best_ctx(f, m, ctx, row_type)
            if ref is None:
                continue
            assert r.best.final and r.best.cost == pytest.approx(ref.cost, abs=1e-3)
            checked += 1
    assert checked > 10


def test_cif_context_equals_shifted_posteriors(toy_lm):
    """With one-token phrases on CIF rows, the bonus is a constant added to that token's log-posterior."""
    graph = CsrGraph.from_fst(toy_lm["graphs"]["cif"])
    V = len(toy_lm["tokens"])
    mats = _realistic_set(toy_lm, "cif", 10)
    ctx = FakeContext([3], V, score=2.0)
    cfg = BeamSearchConfig(beam=10, max_active=500, row_type="cif")
    search = TlgBeamSearch(graph, cfg)
    with_ctx = search.search(*_batch(mats, V), context=ctx, context_start=torch.zeros(10, dtype=torch.int64))
    shifted = [m.copy() for m in mats]
    for m in shifted:
        m[:, 3] += 2.0
    plain = search.search(*_batch(shifted, V))
    for a, b in zip(with_ctx, plain):
        assert np.array_equal(a.best.arcs, b.best.arcs)
        assert a.best.cost == pytest.approx(b.best.cost, abs=1e-3)


def test_nbest_distinct_word_sequences_match_openfst():
    rng = np.random.default_rng(3)
    checked = 0
    for _ in range(20):
        S, V = int(rng.integers(3, 12)), 4
        f = random_fst(S, V, 3, rng, num_words=4)
        g = CsrGraph.from_fst(f)
        search = TlgBeamSearch(g, BeamSearchConfig(beam=1e4, max_active=10**6, min_active=0, nbest=4))
        mats = [_logsoftmax(rng, int(rng.integers(2, 6)), V) for _ in range(3)]
        for m, r in zip(mats, search.search(*_batch(mats, V))):
            ref = openfst_nbest_words(f, m, 4)
            if not ref:
                continue
            ours = [([o for o in g.olabel[torch.from_numpy(p.arcs)].tolist() if o], p.cost) for p in r.nbest]
            assert len({tuple(w) for w, _ in ours}) == len(ours)  # distinct word sequences
            assert [c for _, c in ours] == pytest.approx([c for _, c in ref], abs=1e-3)
            assert r.nbest[0].cost == r.best.cost
            checked += 1
    assert checked > 20


def test_bad_graph_and_posteriors_raise_clear_errors():
    f = random_fst(4, 5, 2, np.random.default_rng(0))
    g = CsrGraph.from_fst(f)
    with pytest.raises(ValueError, match="5 columns|columns"):
        TlgBeamSearch(g, WIDE).search(torch.zeros(1, 3, 3), torch.tensor([3]))
    g.ilabel[0] = 0
    with pytest.raises(ValueError, match="input-epsilon"):
        TlgBeamSearch(g, WIDE)
    with pytest.raises(ValueError, match="--max-active"):
        BeamSearchConfig(max_active=1).validate()


def test_empty_utterance_and_dead_end():
    import pywrapfst as fst

    f = fst.VectorFst()
    for _ in range(2):
        f.add_state()
    f.set_start(0)
    f.add_arc(0, fst.Arc(2, 1, fst.Weight(f.weight_type(), 1.0), 1))
    f.set_final(0, fst.Weight(f.weight_type(), 0.25))
    f.set_final(1, fst.Weight(f.weight_type(), 0.5))
    res = TlgBeamSearch(CsrGraph.from_fst(f), WIDE).search(torch.zeros(3, 2, 2), torch.tensor([0, 1, 2]))
    assert res[0].best.arcs.size == 0 and res[0].best.cost == pytest.approx(0.25) and res[0].best.final
    assert res[1].best.cost == pytest.approx(1.5) and res[1].best.final
    assert res[2].best is None  # state 1 has no arcs: no path of 2 rows


def test_real_context_graph_with_per_utterance_lists():
    """The hotwords package's ContextGraph (two lists joined by concat, one start state per utterance) gives the
    same best cost as brute force scored with that graph's own score_tokens."""
    cg = pytest.importorskip("decoding.hotwords.context_graph")
    from decoding.search.results import emissions

    rng = np.random.default_rng(11)
    V = 4
    lists = [
        cg.ContextGraph.build([[1, 2]], [0.5], 1.0, V),
        cg.ContextGraph.build([[3], [2, 2]], [0.0, 1.0], 2.0, V),
    ]
    joined, starts = cg.ContextGraph.concat(lists)
    checked = 0
    for _ in range(8):
        f = random_fst(int(rng.integers(2, 6)), V, 3, rng)
        search = TlgBeamSearch(
            CsrGraph.from_fst(f), BeamSearchConfig(beam=1e4, max_active=10**6, min_active=0)
        )
        mats = [_logsoftmax(rng, int(rng.integers(1, 6)), V) for _ in range(4)]
        utt_start = starts[torch.tensor([0, 1, 1, 0])]
        res = search.search(*_batch(mats, V), context=joined, context_start=utt_start)
        for m, r, st in zip(mats, res, utt_start.tolist()):
            arcs = {s: list(f.arcs(s)) for s in f.states()}
            best = None
            stack = [(f.start(), 0, 0.0, [])]
            while stack:  # brute force over every path, scored with the context graph itself
                s, t, c, ils = stack.pop()
                if t == len(m):
                    fw = float(f.final(s))
                    if np.isfinite(fw):
                        toks = emissions(np.array(ils, np.int64) - 1, "frame")[0]
                        tot = c + fw - joined.score_tokens(toks, start=st)
                        best = tot if best is None else min(best, tot)
                    continue
                for a in arcs[s]:
                    stack.append(
                        (
                            a.nextstate,
                            t + 1,
                            c + float(a.weight) - float(m[t, a.ilabel - 1]),
                            ils + [a.ilabel],
                        )
                    )
            if best is None:
                continue
            assert r.best.cost == pytest.approx(best, abs=1e-3)
            checked += 1
    assert checked > 5


@pytest.mark.parametrize("topo", ["ctc", "ctc-compact", "cif"])
def test_graphs_of_cifst_graph_build(toy_lm, tmp_path, topo):
    """On graphs made by the graph package (determinized, disambiguated, epsilons moved): exact with a wide beam,
    and the same best path and cost as kaldi-decoder with a realistic beam."""
    build = pytest.importorskip("decoding.graph.build")
    from decoding.graph import load_graph

    d = toy_lm["dir"]
    (d / "tokens.txt").write_text("".join(f"{t} {i}\n" for i, t in enumerate(toy_lm["tokens"])))
    words = sorted({w for s in toy_lm["sents"] for w in s})
    (d / "lexicon.txt").write_text("".join(f"{w} {' '.join(w)}\n" for w in words))
    gdir = tmp_path / topo
    cfg = build.GraphBuildConfig(
        tokens=str(d / "tokens.txt"), arpa=str(d / "lm.arpa"), lexicon=str(d / "lexicon.txt"), topo=topo
    )
    build.build_graph(cfg, gdir)
    graph, _, _ = load_graph(gdir)
    import pywrapfst as fst

    tlg = fst.Fst.read(str(gdir / "TLG.fst"))
    mats = _realistic_set(toy_lm, "cif" if topo == "cif" else "ctc", 30)
    x = _batch(mats, len(toy_lm["tokens"]))
    wide = TlgBeamSearch(graph, WIDE).search(*_batch(mats[:8], len(toy_lm["tokens"])))
    narrow = TlgBeamSearch(graph, BeamSearchConfig(beam=10, max_active=300)).search(*x)
    import kaldi_decoder
    import kaldifst

    kgraph = kaldifst.StdVectorFst.read(str(gdir / "TLG.fst"))
    kdec = kaldi_decoder.FasterDecoder(kgraph, kaldi_decoder.FasterDecoderOptions(beam=10, max_active=300))
    same = 0
    for m, rw in zip(mats, wide):
        assert rw.best.cost == pytest.approx(openfst_best(tlg, m).cost, rel=1e-5, abs=1e-3)
    for m, rn in zip(mats, narrow):
        k = kaldi_best(None, m, 10, 300, 20, decoder=kdec)
        same += rn.best.cost == pytest.approx(k.cost, rel=1e-5)
    assert same >= len(mats) - 1


@pytest.mark.parametrize("row_type,chunk", [("frame", None), ("cif", None), ("frame", 2), ("cif", 3)])
def test_label_and_csr_expansion_give_identical_results(row_type, chunk, monkeypatch):
    """The two stage-1 expansions (label groups first / every arc) keep the same candidates in the same order, so
    paths, costs and n-best lists are identical, with and without a hotword context, with pruning binding; also
    when the label tables and the arc-order check are built over chunks of 2-3 arcs (the real graphs' chunks are
    4M arcs)."""
    import decoding.search.beam as beam

    if chunk is not None:
        monkeypatch.setattr(beam, "_CHUNK", chunk)
    rng = np.random.default_rng(21)
    for trial in range(10):
        S, V = int(rng.integers(3, 30)), int(rng.integers(2, 7))
        f = random_fst(S, V, 5, rng, num_words=4)
        g = CsrGraph.from_fst(f)
        mats = [_logsoftmax(rng, int(rng.integers(0, 9)), V) for _ in range(6)]
        x = _batch(mats, V)
        ctx = FakeContext([1, 2], V, score=1.5) if trial % 2 else None
        start = torch.zeros(6, dtype=torch.int64) if ctx is not None else None
        out = {}
        for mode in ("label", "csr"):
            cfg = BeamSearchConfig(
                beam=3.0, max_active=4, min_active=2, nbest=1 + trial % 3, row_type=row_type, expand=mode
            )
            search = TlgBeamSearch(g, cfg)
            assert search.expand_mode == mode
            out[mode] = search.search(*x, context=ctx, context_start=start)
        for a, b in zip(out["label"], out["csr"]):
            assert (a.best is None) == (b.best is None)
            if a.best is None:
                continue
            assert np.array_equal(a.best.arcs, b.best.arcs) and a.best.cost == b.best.cost
            assert [(p.arcs.tolist(), p.cost) for p in a.nbest] == [
                (p.arcs.tolist(), p.cost) for p in b.nbest
            ]


def test_cif_overcounted_row_is_dropped_through_the_skip_arc(toy_lm):
    """Paraformer rows have no blank column (~-inf); the search reads it as log 1 so the CIF topology's skip arc
    (cost 2.0 in this graph) drops a slot the predictor over-counted, when that is cheaper than any token there."""
    graph = CsrGraph.from_fst(toy_lm["graphs"]["cif"])
    tokens, sents, V = toy_lm["tokens"], toy_lm["sents"], len(toy_lm["tokens"])
    rng = np.random.default_rng(4)
    flat = np.full(V, -np.log(V - 1), np.float32)  # an over-counted slot: no token stands out (-3.3 each)
    flat[0] = -np.inf
    mats, extra_at = [], []
    for s in sents[:8]:
        ids = [tokens.index(c) for c in "".join(s)]
        m = synth_posteriors(ids, V, rng, "cif", peak=6.0, p_wrong=0.0)
        m[:, 0] = -np.inf  # no trained blank
        r = int(rng.integers(1, len(m)))
        mats.append(np.concatenate([m[:r], flat[None], m[r:]]))
        extra_at.append(r)
    plain = [np.delete(m, r, axis=0) for m, r in zip(mats, extra_at)]
    cfg = BeamSearchConfig(beam=12, max_active=500, row_type="cif")
    res = TlgBeamSearch(graph, cfg).search(*_batch(mats, V))
    ref = TlgBeamSearch(graph, cfg).search(*_batch(plain, V))
    kept = TlgBeamSearch(graph, BeamSearchConfig(beam=12, max_active=500, row_type="cif", cif_blank=None))
    res_kept = kept.search(*_batch(mats, V))
    for m, r, a, b, k in zip(mats, extra_at, res, ref, res_kept):
        ils = graph.ilabel[torch.from_numpy(a.best.arcs)].tolist()
        assert ils[r] == 1 and ils.count(1) == 1  # the skip arc, at the over-counted row only
        ols = [o for o in graph.olabel[torch.from_numpy(a.best.arcs)].tolist() if o]
        assert ols == [o for o in graph.olabel[torch.from_numpy(b.best.arcs)].tolist() if o]
        assert a.best.cost == pytest.approx(b.best.cost + 2.0, abs=1e-3)  # the same words + one skip
        m0 = m.copy()
        m0[:, 0] = 0.0
        assert a.best.cost == pytest.approx(openfst_best(toy_lm["graphs"]["cif"], m0).cost, abs=1e-3)
        # with the model's blank column the skip costs inf: a token fills the slot
        assert k.best is None or 1 not in graph.ilabel[torch.from_numpy(k.best.arcs)].tolist()


def test_hash_recombination_equals_sort_based():
    """The hash-table recombination keeps, for every key, the cheapest candidate (lowest index on ties), as the
    sort-based one does, including keys that lose their slot to another key (many duplicates, many ties)."""
    rng = np.random.default_rng(9)
    search = TlgBeamSearch(CsrGraph.from_fst(random_fst(3, 3, 2, rng)), WIDE)
    for n in (5000, 20000):
        key = torch.from_numpy(rng.integers(0, n // 3, n) * 7_919_993 + 3)
        cost = torch.from_numpy(rng.integers(0, 20, n).astype(np.float32))  # integer costs: ties everywhere
        idx = torch.arange(n)
        got = search._hash_argmin(key, cost, idx)
        want = torch.sort(search._segment_argmin(key, cost, idx)).values
        assert torch.equal(got, want)


def test_lm_scale_equals_a_graph_with_scaled_weights():
    rng = np.random.default_rng(7)
    for _ in range(10):
        S, V = int(rng.integers(2, 20)), int(rng.integers(2, 6))
        graph = CsrGraph.from_fst(random_fst(S, V, 4, rng))
        scaled = CsrGraph(**{**vars(graph), "weight": graph.weight * 2.0, "final": graph.final * 2.0})
        mats = [_logsoftmax(rng, int(rng.integers(1, 8)), V) for _ in range(4)]
        cfg = BeamSearchConfig(beam=8.0, max_active=50)
        a = TlgBeamSearch(graph, replace(cfg, lm_scale=2.0)).search(*_batch(mats, V))
        b = TlgBeamSearch(scaled, cfg).search(*_batch(mats, V))
        for x, y in zip(a, b):
            assert (x.best is None) == (y.best is None)
            if x.best is not None:
                assert x.best.arcs.tolist() == y.best.arcs.tolist() and x.best.cost == y.best.cost
        # at scale 1 the search reads the graph's own weight tensor (no arc-sized copy)
        assert TlgBeamSearch(graph, cfg).weight.data_ptr() == graph.weight.data_ptr()
