"""--extra-words: words the LM does not know become outputtable unigrams of the back-off state, path by path on the
hand-made bigram LM (costs derived by hand), and nothing else in the graph changes."""

from __future__ import annotations

import math
import random

import pytest
from graph_test_helpers import LN10, TOKENS, FakeCharTokenizer, best_cost, linear_fst, viterbi

from asr.cli import main
from asr.errors import InputError
from asr.text.symbol_table import SymbolTable
from decoding.graph.build import GraphBuildConfig, build_graph
from decoding.graph.extra_words import read_extra_words
from decoding.graph.load import load_graph


class _Spell:
    """The Tokenizer interface over the test token table: one token per character."""

    def __init__(self):
        self.symbols = SymbolTable(TOKENS)

    def encode(self, text: str) -> list[int]:
        return [self.symbols.get(c, 1) for c in text]


def _cost(TLG, tokens, words, toks: list[str], seq: list[str]) -> float:
    """Cost through TLG of CTC frames (each token, then a blank) that output exactly ``seq``."""
    import pywrapfst as fst

    frames = [f for t in toks for f in (tokens.id(t) + 1, 1)]
    wid = [words.id(w) for w in seq]
    return best_cost(fst.compose(fst.compose(linear_fst(frames), TLG).arcsort("olabel"), linear_fst(wid)))


@pytest.fixture
def graphs(tmp_path, tokens_file, lexicon_file, hand_arpa):
    import pywrapfst as fst

    extra = tmp_path / "hot.txt"
    extra.write_text("d 2.0\nxyzzy :1.5\n# a comment\ne g\nb\nd e\n")
    base = GraphBuildConfig(tokens=str(tokens_file), lexicon=str(lexicon_file), arpa=str(hand_arpa))
    with_extra = GraphBuildConfig(**{**base.__dict__, "extra_words": str(extra)})
    r0 = build_graph(base, tmp_path / "plain")
    r1 = build_graph(with_extra, tmp_path / "extra", tokenizer=_Spell())
    out = {}
    for name, r in (("plain", r0), ("extra", r1)):
        d = r.graph_dir
        out[name] = (
            fst.Fst.read(str(d / "TLG.fst")),
            SymbolTable.read(d / "tokens.txt"),
            SymbolTable.read(d / "words.txt"),
        )
    return r1, out


def test_extra_words_are_output_with_back_off_unigram_cost(graphs):
    res, g = graphs
    assert res.extra_words == ["d", "xyzzy", "e", "g"]  # file order; 'b' is in the LM; phrases split
    TLG, tokens, words = g["extra"]
    # hand ARPA: <s> a -0.2, bo(a) -0.2, </s> -0.5 from the empty history; no <unk>: extra unigrams -7
    lp = -7.0
    assert _cost(TLG, tokens, words, list("xyxyzzy"), ["a", "xyzzy"]) == pytest.approx(
        -LN10 * (-0.2 - 0.2 + lp - 0.5), abs=1e-3
    )
    # from <s> (bo -0.3) to d (lexicon: z), then e (z z) from the empty history, then </s>
    assert _cost(TLG, tokens, words, list("zzz"), ["d", "e"]) == pytest.approx(
        -LN10 * (-0.3 + lp + lp - 0.5), abs=1e-3
    )
    # g has two pronunciations in the lexicon (y, and z y with p = 0.5)
    assert _cost(TLG, tokens, words, list("zy"), ["g"]) == pytest.approx(
        -LN10 * (-0.3 + lp - 0.5) - math.log(0.5), abs=1e-3
    )
    # the plain graph cannot output them
    TLG0, tokens0, words0 = g["plain"]
    assert "xyzzy" not in words0
    assert _cost(TLG0, tokens0, words0, list("z"), ["d"]) == math.inf


def test_nothing_else_changes(graphs):
    _, g = graphs
    rng = random.Random(0)
    spell = {"a": "xy", "b": "x", "c": "yz"}
    checked = 0
    for _ in range(40):
        seq = [rng.choice("abc") for _ in range(rng.randint(1, 4))]
        toks = [t for w in seq for t in spell[w]]
        a = _cost(*g["plain"], toks, seq)
        b = _cost(*g["extra"], toks, seq)
        assert math.isfinite(a) and b == pytest.approx(a, abs=1e-4), seq
        checked += 1
    assert checked == 40


def test_extra_word_logprob_default_from_unk_and_option(tmp_path, tokens_file, lexicon_file, hand_arpa):
    arpa = tmp_path / "unk.arpa"
    arpa.write_text(
        hand_arpa.read_text()
        .replace("ngram 1=5", "ngram 1=6")
        .replace("-0.5\t</s>", "-0.5\t</s>\n-4\t<unk>\t0")
    )
    extra = tmp_path / "hot.txt"
    extra.write_text("d\n")
    for lp, want in ((None, -4.0), (-2.5, -2.5)):
        cfg = GraphBuildConfig(
            tokens=str(tokens_file),
            lexicon=str(lexicon_file),
            arpa=str(arpa),
            extra_words=str(extra),
            extra_word_logprob=lp,
        )
        d = build_graph(cfg, tmp_path / f"g{lp}").graph_dir
        graph, tokens, words = load_graph(d)
        import pywrapfst as fst

        TLG = fst.Fst.read(str(d / "TLG.fst"))
        assert _cost(TLG, tokens, words, ["z"], ["d"]) == pytest.approx(-LN10 * (-0.3 + want - 0.5), abs=1e-3)


def test_rows_spelling_the_extra_word_decode_to_it(tmp_path, tokens_file, lexicon_file, hand_arpa):
    """Rows spelling x y z z y decode to the extra word only in the graph that has it."""
    import numpy as np

    extra = tmp_path / "hot.txt"
    extra.write_text("xyzzy 3\n")
    cfg = GraphBuildConfig(
        tokens=str(tokens_file),
        lexicon=str(lexicon_file),
        arpa=str(hand_arpa),
        topo="cif",
        extra_words=str(extra),
    )
    graph, tokens, words = load_graph(build_graph(cfg, tmp_path / "g", tokenizer=_Spell()).graph_dir)
    logp = np.full((5, len(tokens)), -20.0, np.float32)
    for r, ch in enumerate("xyzzy"):
        logp[r, tokens.id(ch)] = -0.01
    _, wids = viterbi(graph, logp)
    assert [words.symbol(i) for i in wids] == ["xyzzy"]
    cfg.extra_words = None
    graph, tokens, words = load_graph(build_graph(cfg, tmp_path / "g0").graph_dir)
    _, wids = viterbi(graph, logp)
    assert "xyzzy" not in words and wids  # the plain graph spells it with other words


def test_errors_name_the_file_and_line(tmp_path, tokens_file, lexicon_file, hand_arpa):
    extra = tmp_path / "hot.txt"
    extra.write_text("d\nnew words :2\n")
    cfg = GraphBuildConfig(
        tokens=str(tokens_file), lexicon=str(lexicon_file), arpa=str(hand_arpa), extra_words=str(extra)
    )
    with pytest.raises(
        InputError, match=r"hot.txt:2: extra word 'new' is neither in the LM nor in the lexicon"
    ):
        build_graph(cfg, tmp_path / "g")
    extra.write_text("d\n<s> x\n")
    with pytest.raises(InputError, match=r"hot.txt:2: '<s>' is a reserved symbol"):
        read_extra_words(extra)
    # a word the tokenizer maps to <unk> cannot be spelled
    extra.write_text("qq\n")
    with pytest.raises(InputError, match=r"hot.txt:1: the tokenizer cannot spell extra word 'qq'"):
        build_graph(cfg, tmp_path / "g2", tokenizer=_Spell())


def test_lexicon_free_and_cli(tmp_path, capsys):
    arpa = tmp_path / "zh.arpa"
    arpa.write_text(
        "\\data\\\nngram 1=5\nngram 2=1\n\n\\1-grams:\n-1\t</s>\n-99\t<s>\t-0.5\n-1\t你好\t-0.3\n-1\t世界\t-0.3\n"
        "-3\t<unk>\t0\n\n\\2-grams:\n-0.1\t<s> 你好\n\n\\end\\\n"
    )
    tok = FakeCharTokenizer("你好世界")
    extra = tmp_path / "hot.txt"
    extra.write_text("好世 5\n")
    res = build_graph(
        GraphBuildConfig(arpa=str(arpa), topo="cif", extra_words=str(extra)), tmp_path / "g", tokenizer=tok
    )
    assert res.extra_words == ["好世"]
    # the CLI passes the options through (lexicon build + a file word that the lexicon has)
    (tmp_path / "tokens.txt").write_text("<blk> 0\n<unk> 1\n你 2\n好 3\n世 4\n界 5\n")
    (tmp_path / "lexicon.txt").write_text("你好 你 好\n世界 世 界\n好世 好 世\n<unk> <unk>\n")
    rc = main(
        [
            "graph",
            "build",
            "--tokens",
            str(tmp_path / "tokens.txt"),
            "--lexicon",
            str(tmp_path / "lexicon.txt"),
            "--arpa",
            str(arpa),
            "--extra-words",
            str(extra),
            "--extra-word-logprob",
            "-2",
            "--quiet",
            str(tmp_path / "cli"),
        ]
    )
    assert rc == 0 and "1 extra words" in capsys.readouterr().out
