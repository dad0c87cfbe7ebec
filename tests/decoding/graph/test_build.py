"""The whole pipeline: LG/TLG scores against an independent reference (lexicon by hand + kaldilm's G), best paths
against pywrapfst shortestpath, a plain Viterbi over TLG.pt and kaldi-decoder; rerun skipping; blow-up report."""

from __future__ import annotations

import itertools
import math
import random

import numpy as np
import pytest
from graph_test_helpers import FakeCharTokenizer, best_cost, emission_fst, linear_fst, viterbi

from asr.text.symbol_table import SymbolTable
from decoding.graph.build import GraphBuildConfig, build_graph
from decoding.graph.compose import DeterminizeBlowup
from decoding.graph.lexicon import read_lexicon
from decoding.graph.load import load_graph


def _kaldi_g_score(arpa, words, tmp_path):
    import kaldilm
    import pywrapfst as fst

    kaldilm.arpa2fst(
        str(arpa),
        str(tmp_path / "Gk.fst"),
        disambig_symbol="#0",
        read_symbol_table=str(tmp_path / "graph" / "words.txt"),
        max_arpa_warnings=0,
    )
    G = fst.Fst.read(str(tmp_path / "Gk.fst"))
    G.relabel_pairs(ipairs=[(words.id("#0"), 0)])
    G.arcsort("ilabel")
    return lambda ids: best_cost(fst.compose(linear_fst(ids), G))


@pytest.fixture
def built(tmp_path, tokens_file, lexicon_file, lm3_arpa):
    cfg = GraphBuildConfig(tokens=str(tokens_file), lexicon=str(lexicon_file), arpa=str(lm3_arpa), topo="ctc")
    res = build_graph(cfg, tmp_path / "graph")
    return cfg, res


def test_lg_and_tlg_scores_match_reference(tmp_path, built, tokens_file, lexicon_file, lm3_arpa):
    """cost(token string, word string) in LG and TLG == min over pronunciations + kaldilm G cost."""
    import pywrapfst as fst

    _, res = built
    d = res.graph_dir
    words = SymbolTable.read(d / "words.txt")
    tokens = SymbolTable.read(tokens_file)
    lex = read_lexicon(lexicon_file, tokens)
    prons: dict[str, list[tuple[tuple[int, ...], float]]] = {}
    for p in lex.prons:
        prons.setdefault(p.word, []).append((p.tokens, -math.log(p.prob)))
    g_score = _kaldi_g_score(lm3_arpa, words, tmp_path)
    LG = fst.Fst.read(str(d / "LG.fst"))
    TLG = fst.Fst.read(str(d / "TLG.fst"))
    rng = random.Random(0)
    vocab = sorted(prons)
    checked = 0
    for _ in range(60):
        seq = [rng.choice(vocab) for _ in range(rng.randint(1, 3))]
        wid = [words.id(w) for w in seq]
        lm = g_score(wid)
        want: dict[tuple[int, ...], float] = {}
        for choice in itertools.product(*(prons[w] for w in seq)):
            toks = sum((c[0] for c in choice), ())
            cost = sum(c[1] for c in choice) + lm
            want[toks] = min(want.get(toks, math.inf), cost)
        for toks, cost in want.items():
            c = fst.compose(fst.compose(linear_fst(list(toks)), LG).arcsort("olabel"), linear_fst(wid))
            assert best_cost(c) == pytest.approx(cost, abs=2e-3), (seq, toks)
            # CTC frames: each token twice then a blank -> the same cost through TLG
            frames = [f for t in toks for f in (t + 1, t + 1, 1)]
            c = fst.compose(fst.compose(linear_fst(frames), TLG).arcsort("olabel"), linear_fst(wid))
            assert best_cost(c) == pytest.approx(cost, abs=2e-3), (seq, toks)
            checked += 1
    assert checked > 60
    a = fst.Fst.read(str(d / "TLG.fst"))
    assert all(arc.ilabel != 0 for s in a.states() for arc in a.arcs(s))


def _linear_olabels(path) -> list[int]:
    """Output labels along a linear FST (shortestpath numbers its states in no particular order)."""
    out, s = [], path.start()
    while path.num_arcs(s):
        (a,) = list(path.arcs(s))
        if a.olabel:
            out.append(a.olabel)
        s = a.nextstate
    return out


@pytest.mark.parametrize("topo", ["ctc", "ctc-compact", "cif"])
def test_best_path_equals_shortestpath_viterbi_and_kaldi_decoder(
    tmp_path, tokens_file, lexicon_file, lm3_arpa, topo
):
    import kaldi_decoder
    import kaldifst
    import pywrapfst as fst

    cfg = GraphBuildConfig(tokens=str(tokens_file), lexicon=str(lexicon_file), arpa=str(lm3_arpa), topo=topo)
    d = build_graph(cfg, tmp_path / topo).graph_dir
    graph, tokens, words = load_graph(d)
    TLG = fst.Fst.read(str(d / "TLG.fst"))
    kfst = kaldifst.StdVectorFst.read(str(d / "TLG.fst"))  # Kaldi's reader accepts our binary
    assert kfst.num_states == TLG.num_states() == graph.num_states
    rng = np.random.default_rng(7)
    for _ in range(4):
        x = rng.normal(size=(7, len(tokens))) * 2.0
        logp = (x - np.log(np.exp(x).sum(1, keepdims=True))).astype(np.float32)
        best = fst.shortestpath(fst.compose(emission_fst(logp), TLG))
        ref_cost = best_cost(best)
        ref_words = _linear_olabels(best)
        ours_cost, ours_words = viterbi(graph, logp)
        assert ours_cost == pytest.approx(ref_cost, abs=1e-3)
        assert ours_words == ref_words
        dec = kaldi_decoder.FasterDecoder(
            kfst, kaldi_decoder.FasterDecoderOptions(beam=1e4, max_active=10**6)
        )
        dec.decode(kaldi_decoder.DecodableCtc(logp))
        ok, kpath = dec.get_best_path()
        ok, _, kwords, kweight = kaldifst.get_linear_symbol_sequence(kpath)
        assert ok and list(kwords) == ref_words


def test_rerun_skips_and_changed_input_rebuilds(tmp_path, built, lexicon_file, caplog):
    cfg, res = built
    assert not res.skipped and "TLG.fst" in res.sizes
    res2 = build_graph(cfg, res.graph_dir)
    assert res2.skipped == ["TLG.fst", "TLG.pt"]
    # a TLG.pt deleted by hand is made again from TLG.fst; options that do not change the graph keep the stamp
    (res.graph_dir / "TLG.pt").unlink()
    (res.graph_dir / "LG.fst").unlink()
    cfg.keep_intermediate = False
    res2 = build_graph(cfg, res.graph_dir)
    assert res2.skipped == ["TLG.fst"] and (res.graph_dir / "TLG.pt").exists()
    assert not (res.graph_dir / "G.fst").exists()
    cfg.keep_intermediate = True
    lexicon_file.write_text(lexicon_file.read_text() + "h z z z\n")
    res3 = build_graph(cfg, res.graph_dir)
    assert not res3.skipped
    assert "h" in SymbolTable.read(res.graph_dir / "words.txt")


def test_homophones_without_disambig_are_reported_not_hung(tmp_path, tokens_file, lexicon_file, lm3_arpa):
    cfg = GraphBuildConfig(
        tokens=str(tokens_file), lexicon=str(lexicon_file), arpa=str(lm3_arpa), disambig=False
    )
    with pytest.raises(
        DeterminizeBlowup, match=r"'a' \(line 1\) spells the same tokens as 'b' \(line 2\) \+ 'g' \(line 7\)"
    ):
        build_graph(cfg, tmp_path / "g")
    cfg.det_method = "openfst"  # the up-front lexicon check names the homophones
    with pytest.raises(DeterminizeBlowup, match=r"'a' \(line 1\) and 'f' \(line 6\) spell the same tokens"):
        build_graph(cfg, tmp_path / "g2")


def test_determinization_state_cap(tmp_path, tokens_file, lexicon_file, lm3_arpa):
    cfg = GraphBuildConfig(
        tokens=str(tokens_file), lexicon=str(lexicon_file), arpa=str(lm3_arpa), max_det_states=50
    )
    with pytest.raises(DeterminizeBlowup, match="exceeds --max-det-states 50"):
        build_graph(cfg, tmp_path / "g")
    cfg.det_method = "openfst"
    with pytest.raises(DeterminizeBlowup, match="exceeded 50 states"):
        build_graph(cfg, tmp_path / "g2")


def test_lexicon_free_with_char_tokenizer(tmp_path):
    arpa = tmp_path / "zh.arpa"
    arpa.write_text(
        "\\data\\\nngram 1=6\nngram 2=2\n\n\\1-grams:\n-1\t</s>\n-99\t<s>\t-0.5\n-1\t你好\t-0.3\n-1\t世界\t-0.3\n"
        "-1.2\t你\t-0.2\n-2\thello\t0\n\n\\2-grams:\n-0.1\t<s> 你好\n-0.2\t你好 世界\n\n\\end\\\n"
    )
    tok = FakeCharTokenizer("你好世界")
    cfg = GraphBuildConfig(arpa=str(arpa), topo="cif", oov="skip")
    res = build_graph(cfg, tmp_path / "g", tokenizer=tok)
    assert res.skipped_words.keys() == {"hello"} and res.oov_words == ["hello"]
    graph, tokens, words = load_graph(res.graph_dir)
    assert [w for w, i in words if 0 < i < words.id("#0")] == ["世界", "你", "你好"]
    # rows spelling 你 好 世 界 decode to the two words
    logp = np.full((4, len(tokens)), -10.0, np.float32)
    for r, ch in enumerate("你好世界"):
        logp[r, tokens.id(ch)] = -0.01
    cost, wids = viterbi(graph, logp)
    assert [words.symbol(i) for i in wids] == ["你好", "世界"]
    with pytest.raises(Exception, match="hello"):
        build_graph(GraphBuildConfig(arpa=str(arpa), oov="error"), tmp_path / "g2", tokenizer=tok)


@pytest.mark.parametrize("topo", ["ctc", "ctc-compact", "cif"])
def test_array_expansion_equals_openfst_composition(tmp_path, built, topo):
    """apply_topology(LG) is the same machine as OpenFst's T o LG (+ epsilon removal for ctc-compact)."""
    import pywrapfst as fst

    from decoding.graph.compose import compose_tlg
    from decoding.graph.expand import apply_topology
    from decoding.graph.fst_arrays import arrays_to_fst, fst_to_arrays
    from decoding.graph.topology import TopologyConfig, make_topology_fst

    _, res = built
    LG = fst.Fst.read(str(res.graph_dir / "LG.fst"))
    cfg = TopologyConfig(kind=topo, cif_skip_penalty=1.5)
    a = apply_topology(fst_to_arrays(LG), cfg)
    fast = arrays_to_fst(a.num_states, a.start, a.src, a.dst, a.ilabel, a.olabel, a.weight, a.final)
    ref = compose_tlg(make_topology_fst(res.num_tokens, cfg), LG)
    r = fst_to_arrays(ref)
    assert (a.num_states, a.num_arcs) == (r.num_states, r.num_arcs)
    assert np.bincount(a.ilabel).tolist() == np.bincount(r.ilabel).tolist()
    assert fst.randequivalent(fast, ref, npath=300, seed=3)


def test_optional_silence_through_tlg(tmp_path, tokens_file, lexicon_file, lm3_arpa):
    import pywrapfst as fst

    cfg = GraphBuildConfig(
        tokens=str(tokens_file),
        lexicon=str(lexicon_file),
        arpa=str(lm3_arpa),
        topo="cif",
        sil_token="sil",
        sil_prob=0.3,
    )
    d = build_graph(cfg, tmp_path / "g").graph_dir
    TLG = fst.Fst.read(str(d / "TLG.fst"))
    words = SymbolTable.read(d / "words.txt")
    tokens = SymbolTable.read(d / "tokens.txt")
    x, y, z, sil = (tokens.id(t) + 1 for t in ("x", "y", "z", "sil"))
    c_e = [words.id("c"), words.id("e")]  # c = y z, e = z z

    def cost(rows):
        return best_cost(fst.compose(fst.compose(linear_fst(rows), TLG).arcsort("olabel"), linear_fst(c_e)))

    plain = cost([y, z, z, z])
    ps, pn = -math.log(0.3), -math.log(0.7)
    assert cost([y, z, sil, z, z]) - plain == pytest.approx(ps - pn, abs=1e-4)
    assert cost([sil, y, z, z, z, sil]) - plain == pytest.approx(2 * (ps - pn), abs=1e-4)
    assert cost([y, z, sil, sil, z, z]) == math.inf
