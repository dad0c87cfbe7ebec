"""lexicon.py: reading lexicon.txt, Kaldi-style disambiguation, L path by path, lexicon-free spelling."""

from __future__ import annotations

import math

import pytest
from graph_test_helpers import TOKENS, FakeCharTokenizer, best_cost, linear_fst

from asr.errors import InputError
from asr.text.symbol_table import SymbolTable
from decoding.graph.lexicon import (
    add_disambig,
    lexicon_from_tokenizer,
    make_lexicon_fst,
    make_word_table,
    read_lexicon,
)

TOK = SymbolTable(TOKENS)


def test_read_lexicon_variants_and_optional_probs(lexicon_file):
    lex = read_lexicon(lexicon_file, TOK)
    got = [(p.word, [TOK.symbol(t) for t in p.tokens], p.prob, p.line) for p in lex.prons]
    assert got[6:8] == [("g", ["y"], 1.0, 7), ("g", ["z", "y"], 0.5, 8)]
    assert got[0] == ("a", ["x", "y"], 1.0, 1)
    assert lex.words() == ["<unk>", "a", "b", "c", "d", "e", "f", "g"]


def test_read_lexicon_probability_column_everywhere(tmp_path):
    p = tmp_path / "lexiconp.txt"
    p.write_text("a 1.0 x y\na 0.25 x z\nb 1 y\n")
    lex = read_lexicon(p, TOK)
    assert [(q.word, q.tokens, q.prob) for q in lex.prons] == [
        ("a", (2, 3), 1.0),
        ("a", (2, 4), 0.25),
        ("b", (3,), 1.0),
    ]
    # the same file read as plain lexicon: '1.0' is not a token
    with pytest.raises(InputError, match=r"lexiconp.txt:1: token '1.0'"):
        read_lexicon(p, TOK, has_probs=False)


def test_duplicate_lines_kept_once(tmp_path):
    p = tmp_path / "lexicon.txt"
    p.write_text("a x\na x\n\na y\na 0.5 z\na z\n")
    assert [(q.tokens, q.prob, q.line) for q in read_lexicon(p, TOK).prons] == [
        ((2,), 1.0, 1),
        ((3,), 1.0, 4),
        ((4,), 1.0, 5),
    ]


@pytest.mark.parametrize(
    "text, line, match",
    [
        ("a x\nb x q\n", 2, "token 'q' of word 'b' is not in the token table"),
        ("a x\nb\n", 2, "word 'b' has no tokens"),
        ("<s> x\n", 1, "reserved"),
        ("#0 x\n", 1, "reserved"),
        ("a <blk>\n", 1, "blank token"),
    ],
)
def test_read_lexicon_errors_name_file_and_line(tmp_path, text, line, match):
    p = tmp_path / "lexicon.txt"
    p.write_text(text)
    with pytest.raises(InputError, match=match) as e:
        read_lexicon(p, TOK)
    assert e.value.line == line and e.value.path == str(p)


def test_read_lexicon_bad_utf8(tmp_path):
    p = tmp_path / "lexicon.txt"
    p.write_bytes(b"a x\n\xff\xfe y\n")
    with pytest.raises(InputError, match="UTF-8") as e:
        read_lexicon(p, TOK)
    assert e.value.line == 2


def test_add_disambig_follows_kaldi(lexicon_file):
    # hand-derived from utils/add_lex_disambig.pl: homophones numbered #1, #2 per token sequence; a sequence that
    # is a proper prefix of another gets #1; others none.
    lex = read_lexicon(lexicon_file, TOK)
    dis, n = add_disambig(lex)
    got = {(p.word, p.tokens): k for p, k in zip(lex.prons, dis)}
    X, Y, Z = 2, 3, 4
    assert got == {
        ("a", (X, Y)): 1,
        ("f", (X, Y)): 2,
        ("b", (X,)): 1,  # prefix of x y
        ("c", (Y, Z)): 0,
        ("d", (Z,)): 1,  # prefix of z z and z y
        ("e", (Z, Z)): 0,
        ("g", (Y,)): 1,  # prefix of y z, y y y
        ("g", (Z, Y)): 0,
        ("<unk>", (Y, Y, Y)): 0,
    }
    assert n == 3  # #0 (back-off) #1 #2


def _l_paths(L, words: SymbolTable, word: str, first_disambig: int):
    """Token strings (with their cost) that L maps to the single word ``word``, by brute force over short strings."""
    import itertools

    import pywrapfst as fst

    out = {}
    alphabet = [2, 3, 4, 5] + [first_disambig + k for k in range(3)]
    for n in range(1, 5):
        for seq in itertools.product(alphabet, repeat=n):
            c = fst.compose(linear_fst(list(seq)), L)
            c = fst.compose(c.arcsort("olabel"), linear_fst([words.id(word)]))
            cost = best_cost(c)
            if math.isfinite(cost):
                out[seq] = round(cost, 5)
    return out


def test_lexicon_fst_paths(lexicon_file):
    lex = read_lexicon(lexicon_file, TOK)
    words = make_word_table(lex.words())
    dis, _ = add_disambig(lex)
    L = make_lexicon_fst(lex, words, first_disambig=len(TOKENS), disambig=dis)
    d = len(TOKENS)  # token-side #0
    # 'g': y #1 (cost 0) and z y (cost -ln 0.5); 'f': x y #2
    assert _l_paths(L, words, "g", d) == {(3, d + 1): 0.0, (4, 3): round(math.log(2), 5)}
    assert _l_paths(L, words, "f", d) == {(2, 3, d + 2): 0.0}
    # #0 passes through L at word boundaries (as #0:#0), never inside a word
    import pywrapfst as fst

    w0 = words.id("#0")
    c = fst.compose(linear_fst([d, 2, 3, d + 2, d]), L)
    c = fst.compose(c.arcsort("olabel"), linear_fst([w0, words.id("f"), w0]))
    assert best_cost(c) == 0.0
    c = fst.compose(linear_fst([2, d, 3, d + 2]), L)
    assert best_cost(c) == math.inf


def test_lexicon_fst_optional_silence(tmp_path):
    p = tmp_path / "lexicon.txt"
    p.write_text("a x\nb y z\n")
    lex = read_lexicon(p, TOK)
    words = make_word_table(lex.words())
    sil = TOK.id("sil")
    L = make_lexicon_fst(lex, words, len(TOKENS), None, sil_token=sil, sil_prob=0.2)
    ps, pn = -math.log(0.2), -math.log(0.8)
    a, b = words.id("a"), words.id("b")
    import pywrapfst as fst

    def cost(tokens, out):
        c = fst.compose(linear_fst(tokens), L)
        return best_cost(fst.compose(c.arcsort("olabel"), linear_fst(out)))

    # Kaldi make_lexicon_fst.py: start: silence (ps) or not (pn); after each word: silence (ps) or not (pn)
    assert cost([2], [a]) == pytest.approx(pn + pn, abs=1e-5)
    assert cost([sil, 2], [a]) == pytest.approx(ps + pn, abs=1e-5)
    assert cost([2, sil], [a]) == pytest.approx(pn + ps, abs=1e-5)
    assert cost([sil, 2, sil, 3, 4], [a, b]) == pytest.approx(ps + ps + pn, abs=1e-5)
    assert cost([2, sil, sil], [a]) == math.inf
    assert cost([], []) == pytest.approx(pn, abs=1e-5)
    # no input epsilons anywhere in L
    assert all(arc.ilabel != 0 for s in L.states() for arc in L.arcs(s))


def test_lexicon_from_tokenizer_spells_and_skips():
    tok = FakeCharTokenizer("你好世界")
    lex = lexicon_from_tokenizer(tok, ["你好", "世界", "你", "<s>", "</s>", "<unk>", "hello", "你好"])
    assert [(p.word, p.tokens) for p in lex.prons] == [
        ("你好", (2, 3)),
        ("世界", (4, 5)),
        ("你", (2,)),
        ("<unk>", (1,)),
    ]
    assert list(lex.skipped) == ["hello"] and "<unk>" in lex.skipped["hello"]
