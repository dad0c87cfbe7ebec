"""grammar.py: G from ARPA, checked against a hand derivation and against kaldilm's arpa2fst (Kaldi's code)."""

from __future__ import annotations

import math
import random

import pytest
from graph_test_helpers import LN10, best_cost, linear_fst

from asr.errors import InputError
from decoding.graph.fst_arrays import fst_to_arrays
from decoding.graph.grammar import make_grammar_fst
from decoding.graph.lexicon import make_word_table


def _arcs(G):
    a = fst_to_arrays(G)
    return sorted(
        (int(s), int(d), int(i), int(o), round(float(w), 4))
        for s, d, i, o, w in zip(a.src, a.dst, a.ilabel, a.olabel, a.weight)
    )


def test_hand_derived_bigram(hand_arpa):
    words = make_word_table(["a", "b", "c"])
    G, stats = make_grammar_fst(hand_arpa, words)
    a, b, c, d0 = (words.id(x) for x in ("a", "b", "c", "#0"))
    # states: 0 = empty history, then the histories with continuations in file order: <s> 1, a 2, b 3.
    # c has no continuation and no </s>: not a state; its arc goes to its back-off state with bo(c) added.
    r = lambda x: round(x * LN10, 4)  # noqa: E731
    assert _arcs(G) == sorted(
        [
            (0, 2, a, a, r(0.4)),
            (0, 3, b, b, r(0.6)),
            (0, 0, c, c, r(0.7 + 0.25)),
            (1, 2, a, a, r(0.2)),  # <s> a -> history a
            (2, 3, b, b, r(0.3)),  # a b -> history b
            (1, 0, d0, 0, r(0.3)),  # back-off arcs #0:<eps>
            (2, 0, d0, 0, r(0.2)),
            (3, 0, d0, 0, r(0.1)),
        ]
    )
    assert G.start() == 1
    finals = {s: round(float(G.final(s)), 4) for s in G.states() if math.isfinite(float(G.final(s)))}
    assert finals == {0: r(0.5), 3: r(0.1)}
    assert stats.states == 4 and stats.arcs == 8 and stats.ngrams == {1: 5, 2: 3}


def _score(G, seq, d0):
    """Cost of a word sequence in G with back-off arcs read as epsilons (min over paths)."""
    import pywrapfst as fst

    g = G.copy()
    g.relabel_pairs(ipairs=[(d0, 0)])
    g.arcsort("ilabel")
    return best_cost(fst.compose(linear_fst(seq), g))


def _kaldi_g(arpa, words, tmp_path):
    import kaldilm
    import pywrapfst as fst

    words.write(tmp_path / "words_k.txt")
    kaldilm.arpa2fst(
        str(arpa),
        str(tmp_path / "Gk.fst"),
        disambig_symbol="#0",
        read_symbol_table=str(tmp_path / "words_k.txt"),
        max_arpa_warnings=0,
    )
    return fst.Fst.read(str(tmp_path / "Gk.fst"))


def test_hand_arpa_matches_kaldilm(hand_arpa, tmp_path):
    words = make_word_table(["a", "b", "c"])
    G, _ = make_grammar_fst(hand_arpa, words)
    K = _kaldi_g(hand_arpa, words, tmp_path)
    d0 = words.id("#0")
    for seq in ([], ["a"], ["a", "b"], ["b", "a", "c"], ["c", "c", "a", "b"]):
        ids = [words.id(w) for w in seq]
        assert _score(G, ids, d0) == pytest.approx(_score(K, ids, d0), abs=1e-4)
    # kaldilm keeps a state for the unigram history 'c' that has only its back-off arc; we drop it
    assert (G.num_states(), sum(G.num_arcs(s) for s in G.states())) == (
        K.num_states() - 1,
        sum(K.num_arcs(s) for s in K.states()) - 1,
    )


def test_lmplz_trigram_matches_kaldilm_on_random_strings(lm3_arpa, tmp_path):
    words = make_word_table(["<unk>", *"abcdefg"])
    G, stats = make_grammar_fst(lm3_arpa, words)
    K = _kaldi_g(lm3_arpa, words, tmp_path)
    d0 = words.id("#0")
    rng = random.Random(0)
    vocab = [words.id(w) for w in ["<unk>", *"abcdefg"]]
    worst = 0.0
    for _ in range(150):
        seq = [rng.choice(vocab) for _ in range(rng.randint(0, 7))]
        ours, theirs = _score(G, seq, d0), _score(K, seq, d0)
        assert math.isfinite(ours)
        worst = max(worst, abs(ours - theirs))
    assert worst < 1e-3
    # the same machine, less the back-off-only unigram states kaldilm keeps
    assert K.num_states() - 10 <= G.num_states() <= K.num_states() and stats.order == 3


def test_oov_policies(hand_arpa, tmp_path):
    words = make_word_table(["a", "b", "<unk>"])  # no 'c'
    with pytest.raises(InputError, match="word 'c' of the 1-gram 'c' is not in the lexicon") as e:
        make_grammar_fst(hand_arpa, words)
    assert e.value.line == 10 and e.value.path == str(hand_arpa)
    G, stats = make_grammar_fst(hand_arpa, words, oov="skip")
    assert stats.oov_words == ["c"] and stats.dropped == 1
    assert words.id("<unk>") not in {arc.ilabel for s in G.states() for arc in G.arcs(s)}
    G, stats = make_grammar_fst(hand_arpa, words, oov="map:<unk>")
    unk = words.id("<unk>")
    assert any(arc.ilabel == unk for s in G.states() for arc in G.arcs(s))
    with pytest.raises(InputError, match="not in the lexicon/word table"):
        make_grammar_fst(hand_arpa, make_word_table(["a", "b"]), oov="map:<unk>")
    with pytest.raises(ValueError, match="--oov must be"):
        make_grammar_fst(hand_arpa, words, oov="ignore")


def test_missing_history_is_reported(tmp_path):
    p = tmp_path / "bad.arpa"
    p.write_text(
        "\\data\\\nngram 1=3\nngram 2=1\nngram 3=1\n\n\\1-grams:\n-1\t</s>\n-99\t<s>\t0\n-1\ta\t0\n\n"
        "\\2-grams:\n-0.5\t<s> a\t0\n\n\\3-grams:\n-0.2\ta a a\n\n\\end\\\n"
    )
    with pytest.raises(InputError, match="3-gram 'a a a' has no 2-gram 'a a'") as e:
        make_grammar_fst(p, make_word_table(["a"]))
    assert e.value.line == 15


def test_unigram_lm_is_one_state(tmp_path):
    p = tmp_path / "uni.arpa"
    p.write_text("\\data\\\nngram 1=4\n\n\\1-grams:\n-1\t</s>\n-99\t<s>\n-0.5\ta\n-0.7\tb\n\n\\end\\\n")
    words = make_word_table(["a", "b"])
    G, stats = make_grammar_fst(p, words)
    r = lambda x: round(x * LN10, 4)  # noqa: E731
    assert _arcs(G) == [
        (0, 0, words.id("a"), words.id("a"), r(0.5)),
        (0, 0, words.id("b"), words.id("b"), r(0.7)),
    ]
    assert G.start() == 0 and round(float(G.final(0)), 4) == r(1.0) and stats.states == 1


def test_state_histories_and_their_arpa_lines(hand_arpa):
    """Each G state names its n-gram history, and find_ngram_lines finds those lines (used by blow-up reports)."""
    from decoding.graph.grammar import find_ngram_lines, unk_logprob

    words = make_word_table(["a", "b", "c"])
    G, stats = make_grammar_fst(hand_arpa, words)
    assert [stats.history(s, words) for s in range(G.num_states())] == [(), ("<s>",), ("a",), ("b",)]
    lines = find_ngram_lines(hand_arpa, [("a",), ("a", "b"), ("b", "</s>"), ("z",)])
    text = hand_arpa.read_text().splitlines()
    assert lines == {("a",): 8, ("a", "b"): 14, ("b", "</s>"): 15}
    assert text[7].split()[1] == "a" and text[13].split()[1:] == ["a", "b"]
    assert unk_logprob(hand_arpa) is None
