"""det(L o G) written as lexicon tries (trie_lg) against OpenFst's determinize(compose(L, G)); blow-up reports that
name the n-gram context (ARPA line) and the colliding words (lexicon lines), quickly instead of hanging."""

from __future__ import annotations

import random
import time

import numpy as np
import pytest
from graph_test_helpers import LN10, best_cost, linear_fst

from asr.text.symbol_table import SymbolTable
from decoding.graph.build import GraphBuildConfig, build_graph
from decoding.graph.compose import DeterminizeBlowup, compose_lg, determinize_capped
from decoding.graph.fst_arrays import arrays_to_fst, fst_to_arrays
from decoding.graph.grammar import make_grammar_fst
from decoding.graph.lexicon import add_disambig, make_lexicon_fst, make_word_table, read_lexicon
from decoding.graph.trie_lg import det_state_counts, lg_entries, trie_lg


def _both(tokens_file, lexicon_file, arpa):
    tokens = SymbolTable.read(tokens_file)
    lex = read_lexicon(lexicon_file, tokens)
    dis, _ = add_disambig(lex)
    words = make_word_table(lex.words())
    V = len(tokens)
    G, _ = make_grammar_fst(arpa, words, "error")
    ref = determinize_capped(compose_lg(make_lexicon_fst(lex, words, V, dis), G), 10**6)
    t = trie_lg(lex, dis, V, words, fst_to_arrays(G))
    a = t.arrays
    ours = arrays_to_fst(a.num_states, a.start, a.src, a.dst, a.ilabel, a.olabel, a.weight, a.final)
    return ref, ours, t, (lex, dis, V, words, G)


@pytest.mark.parametrize("which", ["lm3", "hand"])
def test_trie_lg_equals_openfst_determinize(tokens_file, lexicon_file, lm3_arpa, hand_arpa, which):
    import pywrapfst as fst

    arpa = lm3_arpa if which == "lm3" else hand_arpa
    ref, ours, t, (lex, dis, V, words, G) = _both(tokens_file, lexicon_file, arpa)
    # the same subsets: OpenFst's determinization has exactly as many states as roots + trie nodes + tails
    assert ours.num_states() == ref.num_states() == t.roots + t.trie_states + t.tail_states
    per, tails = det_state_counts(lg_entries(lex, dis, V, words, fst_to_arrays(G)))
    assert int(per.sum()) + tails == ref.num_states()
    a = fst_to_arrays(ours)  # deterministic: no state has two arcs with one input label
    key = a.src * (int(a.ilabel.max()) + 1) + a.ilabel
    assert np.unique(key).size == key.size
    assert fst.randequivalent(ours, ref, npath=3000, seed=2)
    # and path by path: every token string of a random word string costs the same in both
    rng = random.Random(3)
    vocab = [w for w in lex.words() if w != "<unk>"]
    prons = {p.word: [] for p in lex.prons}
    for n, p in enumerate(lex.prons):
        prons[p.word].append(list(p.tokens) + ([V + dis[n]] if dis[n] else []))
    for _ in range(40):
        seq = [rng.choice(vocab) for _ in range(rng.randint(1, 4))]
        toks = sum((rng.choice(prons[w]) for w in seq), [])
        wid = [words.id(w) for w in seq]
        for g in (ours, ref):
            g.arcsort("ilabel")
        costs = [
            best_cost(fst.compose(fst.compose(linear_fst(toks), g).arcsort("olabel"), linear_fst(wid)))
            for g in (ours, ref)
        ]
        assert costs[0] == pytest.approx(costs[1], abs=1e-4), seq


def test_build_trie_and_openfst_give_equivalent_tlg(tmp_path, tokens_file, lexicon_file, lm3_arpa):
    import pywrapfst as fst

    out = {}
    for m in ("trie", "openfst"):
        cfg = GraphBuildConfig(
            tokens=str(tokens_file), lexicon=str(lexicon_file), arpa=str(lm3_arpa), det_method=m
        )
        out[m] = build_graph(cfg, tmp_path / m)
    a, b = (fst.Fst.read(str(out[m].graph_dir / "TLG.fst")) for m in ("trie", "openfst"))
    assert out["trie"].sizes["TLG.fst"] == out["openfst"].sizes["TLG.fst"]
    assert fst.randequivalent(a, b, npath=2000, seed=5)


WORDS = "cab bad dab fad ace bead face dace cafe deaf abed ebb".split()  # none is a prefix of another


def _crafted(tmp_path):
    """A 3-gram LM whose context 'bad dab' has every word as a continuation (the blow-up to blame)."""
    letters = "abcdef"
    (tmp_path / "tokens.txt").write_text("".join(f"{s} {i}\n" for i, s in enumerate(["<blk>", *letters])))
    (tmp_path / "lexicon.txt").write_text("".join(f"{w} {' '.join(w)}\n" for w in WORDS))
    lines = ["\\data\\", f"ngram 1={len(WORDS) + 2}", "ngram 2=3", f"ngram 3={len(WORDS)}", "", "\\1-grams:"]
    lines += ["-1.0\t</s>", "-99\t<s>\t-0.5"] + [f"-1.3\t{w}\t-0.4" for w in WORDS]
    lines += ["", "\\2-grams:", "-0.3\t<s> bad\t-0.2", "-0.4\tbad dab\t-0.1"]
    ctx_line = len(lines)  # 1-based line of 'bad dab'
    lines += ["-0.5\tcab ace", "", "\\3-grams:"] + [f"-0.6\tbad dab {w}" for w in WORDS] + ["", "\\end\\", ""]
    (tmp_path / "lm.arpa").write_text("\n".join(lines))
    return ctx_line


@pytest.mark.parametrize("method", ["trie", "openfst"])
def test_lm_blowup_names_the_ngram_context(tmp_path, method):
    ctx_line = _crafted(tmp_path)
    cfg = GraphBuildConfig(
        tokens=str(tmp_path / "tokens.txt"),
        lexicon=str(tmp_path / "lexicon.txt"),
        arpa=str(tmp_path / "lm.arpa"),
        det_method=method,
    )
    full = build_graph(cfg, tmp_path / "ok")  # builds without a cap
    assert full.sizes["TLG.fst"][0] > 0
    cfg.max_det_states = 30
    t0 = time.process_time()
    with pytest.raises(DeterminizeBlowup) as err:
        build_graph(cfg, tmp_path / "g")
    assert time.process_time() - t0 < 10
    msg = str(err.value)
    assert f"largest n-gram contexts: n-gram context 'bad dab' (ARPA line {ctx_line})" in msg, msg
    assert "2-word histories: 1 with 9 states" in msg and "prune" in msg
    if method == "openfst":
        assert "exceeded 30 states" in msg


def test_concatenation_without_disambig_is_named(tmp_path):
    """'cabbad' = 'cab' + 'bad': without #k the lexicon is ambiguous; the report names both words and lines."""
    _crafted(tmp_path)
    with open(tmp_path / "lexicon.txt", "a") as f:
        f.write("cabbad c a b b a d\n")
    with open(tmp_path / "lm.arpa") as f:
        text = f.read()
    text = text.replace(f"ngram 1={len(WORDS) + 2}", f"ngram 1={len(WORDS) + 3}").replace(
        "-1.3\tcab\t-0.4", "-1.3\tcab\t-0.4\n-2.0\tcabbad\t0"
    )
    (tmp_path / "lm.arpa").write_text(text)
    cfg = GraphBuildConfig(
        tokens=str(tmp_path / "tokens.txt"),
        lexicon=str(tmp_path / "lexicon.txt"),
        arpa=str(tmp_path / "lm.arpa"),
        disambig=False,
    )
    t0 = time.process_time()
    with pytest.raises(
        DeterminizeBlowup,
        match=r"'cabbad' \(line 13\) spells the same tokens as 'cab' \(line 1\) \+ 'bad' \(line 2\)",
    ):
        build_graph(cfg, tmp_path / "g")
    assert time.process_time() - t0 < 10
    # with the disambiguation symbols (the default) the same inputs build, and "c a b b a d" reads both ways
    cfg.disambig = True
    d = build_graph(cfg, tmp_path / "g2").graph_dir
    import pywrapfst as fst

    LG = fst.Fst.read(str(d / "LG.fst"))
    words = SymbolTable.read(d / "words.txt")
    tokens = SymbolTable.read(tmp_path / "tokens.txt")
    toks = [tokens.id(c) for c in "cabbad"]
    one = best_cost(
        fst.compose(fst.compose(linear_fst(toks), LG).arcsort("olabel"), linear_fst([words.id("cabbad")]))
    )
    two = best_cost(
        fst.compose(
            fst.compose(linear_fst(toks), LG).arcsort("olabel"),
            linear_fst([words.id("cab"), words.id("bad")]),
        )
    )
    # <s> cabbad </s> = -2.0 - 1.0 (cabbad has no history state: back-off 0); <s> cab bad </s>: unigrams
    assert one == pytest.approx(LN10 * (0.5 + 2.0 + 1.0), abs=1e-4)
    assert two == pytest.approx(LN10 * (0.5 + 1.3 + 0.4 + 1.3 + 0.4 + 1.0), abs=1e-4)
