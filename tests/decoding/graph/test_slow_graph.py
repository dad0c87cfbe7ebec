"""Slow: a 4-gram lmplz LM over a 600-word letter-spelled lexicon, built end to end; LG costs against the lexicon +
kaldilm's G on corpus sentences, TLG.pt best paths against pywrapfst shortestpath."""

from __future__ import annotations

import math
import random
import subprocess

import numpy as np
import pytest
from graph_test_helpers import best_cost, linear_fst

from asr.text.symbol_table import SymbolTable
from decoding.graph.build import GraphBuildConfig, build_graph
from decoding.graph.load import load_graph

pytestmark = pytest.mark.slow


def test_four_gram_graph_end_to_end(tmp_path, lmplz):
    import kaldilm
    import pywrapfst as fst

    rng = random.Random(5)
    letters = "abcdefghij"
    vocab = sorted({"".join(rng.choices(letters, k=rng.randint(1, 6))) for _ in range(700)})[:600]
    (tmp_path / "tokens.txt").write_text(
        "".join(f"{s} {i}\n" for i, s in enumerate(["<blk>", "<unk>", *letters]))
    )
    (tmp_path / "lexicon.txt").write_text("<unk> <unk>\n" + "".join(f"{w} {' '.join(w)}\n" for w in vocab))
    sents = [
        " ".join(rng.choices(vocab, weights=[1 / (i + 1) for i in range(len(vocab))], k=rng.randint(3, 12)))
        for _ in range(4000)
    ]
    (tmp_path / "corpus.txt").write_text("\n".join(sents) + "\n")
    with open(tmp_path / "corpus.txt", "rb") as fin, open(tmp_path / "lm.arpa", "wb") as fout:
        subprocess.run(
            [str(lmplz), "-o", "4", "-S", "10%", "--discount_fallback"],
            stdin=fin,
            stdout=fout,
            stderr=subprocess.DEVNULL,
            check=True,
        )
    cfg = GraphBuildConfig(
        tokens=str(tmp_path / "tokens.txt"),
        lexicon=str(tmp_path / "lexicon.txt"),
        arpa=str(tmp_path / "lm.arpa"),
        topo="ctc",
    )
    d = build_graph(cfg, tmp_path / "graph").graph_dir
    words = SymbolTable.read(d / "words.txt")
    tokens = SymbolTable.read(d / "tokens.txt")
    kaldilm.arpa2fst(
        str(tmp_path / "lm.arpa"),
        str(tmp_path / "Gk.fst"),
        disambig_symbol="#0",
        read_symbol_table=str(d / "words.txt"),
        max_arpa_warnings=0,
    )
    G = fst.Fst.read(str(tmp_path / "Gk.fst"))
    G.relabel_pairs(ipairs=[(words.id("#0"), 0)])
    G.arcsort("ilabel")
    LG = fst.Fst.read(str(d / "LG.fst"))
    for sent in rng.sample(sents, 40):
        ws = sent.split()
        wid = [words.id(w) for w in ws]
        toks = [tokens.id(c) for w in ws for c in w]
        want = best_cost(fst.compose(linear_fst(wid), G))
        got = best_cost(fst.compose(fst.compose(linear_fst(toks), LG).arcsort("olabel"), linear_fst(wid)))
        assert math.isfinite(want) and got == pytest.approx(want, abs=5e-3), sent
    graph, _, _ = load_graph(d)
    TLG = fst.Fst.read(str(d / "TLG.fst"))
    assert graph.num_arcs > 100_000 and bool((graph.ilabel > 0).all())
    nrng = np.random.default_rng(0)
    for _ in range(3):
        x = nrng.normal(size=(12, len(tokens))) * 3
        logp = x - np.log(np.exp(x).sum(1, keepdims=True))
        e = fst.VectorFst()
        e.add_states(13)
        e.set_start(0)
        e.set_final(12)
        for t in range(12):
            for v in range(len(tokens)):
                e.add_arc(t, fst.Arc(v + 1, v + 1, fst.Weight("tropical", float(-logp[t, v])), t + 1))
        ref = best_cost(fst.shortestpath(fst.compose(e, TLG)))
        # frame-synchronous Viterbi over the CSR arrays
        src, dst, il = graph.src.numpy(), graph.dst.numpy(), graph.ilabel.numpy()
        w = graph.weight.numpy().astype(np.float64)
        score = np.full(graph.num_states, np.inf)
        score[graph.start] = 0
        for t in range(12):
            new = np.full_like(score, np.inf)
            np.minimum.at(new, dst, score[src] + w - logp[t, il - 1])
            score = new
        assert float((score + graph.final.numpy()).min()) == pytest.approx(ref, abs=2e-3)
