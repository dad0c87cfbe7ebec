"""load_graph (TLG.fst from other tools -> TLG.pt on first load) and the `cifst graph build|info` commands."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch

from asr.cli import main
from asr.errors import InputError
from asr.text.symbol_table import SymbolTable
from decoding.graph.fst_arrays import arrays_to_fst
from decoding.graph.load import load_graph


def _foreign_dir(tmp_path, arcs, final, start=0):
    """A graph dir holding only TLG.fst, tokens.txt, words.txt, as Kaldi/WeNet/sherpa tools leave it."""
    d = tmp_path / "foreign"
    d.mkdir()
    SymbolTable(["<blk>", "a", "b"]).write(d / "tokens.txt")
    SymbolTable(["<eps>", "A", "B", "#0"]).write(d / "words.txt")
    a = np.array(arcs, dtype=np.float64).reshape(-1, 5)
    f = arrays_to_fst(
        len(final),
        start,
        a[:, 0],
        a[:, 1],
        a[:, 2],
        a[:, 3],
        a[:, 4].astype(np.float32),
        np.array(final, np.float32),
    )
    f.write(str(d / "TLG.fst"))
    return d


def test_foreign_tlg_converted_once_with_epsilons_removed(tmp_path):
    inf = np.inf
    # 0 -a:A-> 1 -<eps>:<eps>/0.5-> 2 -b:B-> 3 (final); blank loops on 0
    d = _foreign_dir(
        tmp_path,
        [(0, 0, 1, 0, 0.0), (0, 1, 2, 1, 1.0), (1, 2, 0, 0, 0.5), (2, 3, 3, 2, 0.25)],
        [inf, inf, inf, 0.0],
    )
    g, tokens, words = load_graph(d)
    assert (d / "TLG.pt").exists() and len(tokens) == 3 and words.id("B") == 2
    assert bool((g.ilabel > 0).all())
    arcs = sorted(
        zip(g.src.tolist(), g.ilabel.tolist(), g.olabel.tolist(), [round(w, 4) for w in g.weight.tolist()])
    )
    # the epsilon's cost moved onto the arc that follows it
    assert (1, 3, 2, 0.75) in arcs and len(arcs) == 3
    mtime = (d / "TLG.pt").stat().st_mtime_ns
    g2, _, _ = load_graph(d)
    assert (d / "TLG.pt").stat().st_mtime_ns == mtime and torch.equal(g2.dst, g.dst)


def test_foreign_tlg_word_on_epsilon_moved_or_reported(tmp_path):
    # 0 -b:<eps>/1-> 1 -<eps>:A/0.5-> 2 (final): A moves onto the b arc
    d = _foreign_dir(tmp_path, [(0, 1, 2, 0, 1.0), (1, 2, 0, 1, 0.5)], [np.inf, np.inf, 0.0])
    g, _, _ = load_graph(d)
    assert list(zip(g.src.tolist(), g.ilabel.tolist(), g.olabel.tolist(), g.weight.tolist())) == [
        (0, 2, 1, 1.5)
    ]
    # a word on an epsilon arc leaving the start state cannot move
    shutil.rmtree(d)
    d = _foreign_dir(tmp_path, [(0, 1, 0, 1, 0.0), (1, 2, 2, 0, 0.0)], [np.inf, np.inf, 0.0])
    with pytest.raises(InputError, match="cannot remove its input epsilons") as e:
        load_graph(d)
    assert e.value.path.endswith("TLG.fst")


def test_labels_out_of_range(tmp_path):
    d = _foreign_dir(tmp_path, [(0, 1, 7, 1, 0.0)], [np.inf, 0.0])
    with pytest.raises(InputError, match="input label 7 > number of tokens 3"):
        load_graph(d)
    shutil.rmtree(d)
    with pytest.raises(InputError, match="graph directory not found"):
        load_graph(d)


def test_cli_build_info_and_errors(tmp_path, tokens_file, lexicon_file, hand_arpa, capsys):
    (tmp_path / "lex2.txt").write_text("a x y\nb x\nc y z\n<unk> y\n")
    out = tmp_path / "graph"
    code = main(
        [
            "graph",
            "build",
            "--tokens",
            str(tokens_file),
            "--lexicon",
            str(tmp_path / "lex2.txt"),
            "--arpa",
            str(hand_arpa),
            "--topo",
            "cif",
            "--quiet",
            str(out),
        ]
    )
    assert code == 0
    assert "TLG (cif)" in capsys.readouterr().out
    for name in ("TLG.fst", "TLG.pt", "tokens.txt", "words.txt"):
        assert (out / name).exists()
    assert main(["graph", "info", str(out)]) == 0
    text = capsys.readouterr().out
    import pywrapfst as fst

    f = fst.Fst.read(str(out / "TLG.fst"))
    assert f"states              {f.num_states()}" in text
    assert "input_epsilon_arcs  0" in text and "topo                cif" in text
    # an LM word missing from the lexicon: the ARPA file and line are named
    (tmp_path / "lex3.txt").write_text("a x y\nb x\n")
    code = main(
        [
            "graph",
            "build",
            "--tokens",
            str(tokens_file),
            "--lexicon",
            str(tmp_path / "lex3.txt"),
            "--arpa",
            str(hand_arpa),
            "--quiet",
            str(tmp_path / "g3"),
        ]
    )
    err = capsys.readouterr().err
    assert code == 1 and f"{hand_arpa}:10: word 'c'" in err and "--oov skip" in err
    # a malformed lexicon line
    (tmp_path / "lex4.txt").write_text("a x y\nb x qq\n")
    code = main(
        [
            "graph",
            "build",
            "--tokens",
            str(tokens_file),
            "--lexicon",
            str(tmp_path / "lex4.txt"),
            "--arpa",
            str(hand_arpa),
            "--quiet",
            str(tmp_path / "g4"),
        ]
    )
    assert code == 1 and "lex4.txt:2: token 'qq'" in capsys.readouterr().err


def test_cli_lexicon_free_with_real_char_tokenizer(tmp_path, capsys):
    """`--tokenizer DIR` with a tokenizer made by asr.text.tokenizer (the features area's code)."""
    from asr.text.tokenizer import load_tokenizer, train_tokenizer

    train_tokenizer("char", ["你好 世界", "你们 好"], 0, tmp_path / "tok")
    arpa = tmp_path / "zh.arpa"
    arpa.write_text(
        "\\data\\\nngram 1=6\nngram 2=1\n\n\\1-grams:\n-1\t</s>\n-99\t<s>\t-0.5\n-1\t<unk>\n-1\t你好\t-0.3\n"
        "-1\t世界\n-1\t你们\n\n\\2-grams:\n-0.1\t你好 世界\n\n\\end\\\n"
    )
    out = tmp_path / "graph"
    code = main(
        [
            "graph",
            "build",
            "--tokenizer",
            str(tmp_path / "tok"),
            "--arpa",
            str(arpa),
            "--topo",
            "cif",
            "--quiet",
            str(out),
        ]
    )
    assert code == 0, capsys.readouterr().err
    graph, tokens, words = load_graph(out)
    tok = load_tokenizer(tmp_path / "tok")
    assert tokens == tok.symbols
    assert {"你好", "世界", "你们", "<unk>"} <= {w for w, _ in words}
    assert int(graph.ilabel.max()) <= len(tokens)


def test_wenet_style_tlg_with_epsilons_loads_and_decodes_the_same(
    tmp_path, tokens_file, lexicon_file, lm3_arpa
):
    """A TLG made the WeNet way (disambiguation symbols -> <eps>, no word moving: input epsilons with and without
    words) converts on load to an epsilon-free graph whose best paths equal OpenFst's on the original."""
    import pywrapfst as fst
    from graph_test_helpers import best_cost, emission_fst, viterbi

    from decoding.graph.build import GraphBuildConfig, build_graph
    from decoding.graph.compose import minimize_encoded
    from decoding.graph.topology import TopologyConfig, make_topology_fst

    ours = build_graph(
        GraphBuildConfig(tokens=str(tokens_file), lexicon=str(lexicon_file), arpa=str(lm3_arpa)),
        tmp_path / "ours",
    ).graph_dir
    L = fst.Fst.read(str(ours / "L_disambig.fst"))
    G = fst.Fst.read(str(ours / "G.fst"))
    LG = minimize_encoded(fst.determinize(fst.compose(L, G)))
    V = len(SymbolTable.read(tokens_file))
    LG.relabel_pairs(ipairs=[(V + k, 0) for k in range(3)])
    LG.rmepsilon()
    LG.arcsort("ilabel")
    TLG = fst.compose(make_topology_fst(V, TopologyConfig()), LG)
    assert any(a.ilabel == 0 and a.olabel != 0 for s in TLG.states() for a in TLG.arcs(s))
    d = tmp_path / "wenet"
    d.mkdir()
    TLG.write(str(d / "TLG.fst"))
    shutil.copy(ours / "tokens.txt", d / "tokens.txt")
    shutil.copy(ours / "words.txt", d / "words.txt")
    graph, _, _ = load_graph(d)
    rng = np.random.default_rng(1)
    for _ in range(4):
        x = rng.normal(size=(6, V)) * 2
        logp = (x - np.log(np.exp(x).sum(1, keepdims=True))).astype(np.float32)
        ref = best_cost(fst.shortestpath(fst.compose(emission_fst(logp), TLG)))
        cost, _ = viterbi(graph, logp)
        assert cost == pytest.approx(ref, abs=1e-3)


def test_lexicon_free_sentencepiece_graph_decodes_words(tmp_path, lmplz, capsys):
    """Words spelled by a BPE tokenizer (asr.text.tokenizer): rows peaked on the pieces of 'the cat sat' decode to
    those words; an LM word the tokenizer cannot spell is skipped with --oov skip."""
    import random
    import subprocess

    from graph_test_helpers import viterbi

    from asr.text.tokenizer import train_tokenizer

    rng = random.Random(0)
    vocab = "the cat sat on a mat with another hat and that bat ran fast past".split()
    texts = [" ".join(rng.choices(vocab, k=8)) for _ in range(300)]
    tok = train_tokenizer("bpe", texts, 40, tmp_path / "tok")
    (tmp_path / "corpus.txt").write_text("\n".join(texts + ["zebra the cat"]) + "\n")
    with open(tmp_path / "corpus.txt", "rb") as fin, open(tmp_path / "lm.arpa", "wb") as fout:
        subprocess.run(
            [str(lmplz), "-o", "2", "--discount_fallback"],
            stdin=fin,
            stdout=fout,
            stderr=subprocess.DEVNULL,
            check=True,
        )
    out = tmp_path / "graph"
    code = main(
        [
            "graph",
            "build",
            "--tokenizer",
            str(tmp_path / "tok"),
            "--arpa",
            str(tmp_path / "lm.arpa"),
            "--topo",
            "cif",
            "--oov",
            "skip",
            "--quiet",
            str(out),
        ]
    )
    assert code == 0, capsys.readouterr().err
    graph, tokens, words = load_graph(out)
    assert "zebra" not in words and "another" in words
    ids = [i for w in "the cat sat".split() for i in tok.encode(w)]
    logp = np.full((len(ids), len(tokens)), -12.0, np.float32)
    logp[np.arange(len(ids)), ids] = -0.01
    _, wids = viterbi(graph, logp)
    assert [words.symbol(i) for i in wids] == ["the", "cat", "sat"]
