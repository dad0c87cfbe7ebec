"""Lexicons from a tokenizer (words -> tokens) and the CMU phone lexicon."""

from __future__ import annotations

import pytest

from asr.data.synth.lexicon import cmu_dictionary, read_word_list, write_lexicons
from asr.text.tokenizer import load_tokenizer, train_tokenizer


def test_char_lexicon_spells_words_and_leaves_out_unknown_characters(tmp_path, capsys):
    train_tokenizer("char", ["北 京 欢 迎 你", "上 海"], 0, tmp_path / "tok")
    words = tmp_path / "words.txt"
    words.write_text("北\n京\n欢\n迎\n你\n上\n海\n广\n<unk>\n#0\n", encoding="utf-8")
    n = write_lexicons(words, tmp_path / "tok", tmp_path / "lang", cmu=False)
    lines = (tmp_path / "lang" / "lexicon.txt").read_text(encoding="utf-8").splitlines()
    assert n == 7 == len(lines)
    assert "北 北" in lines and not any(
        line.startswith("广") for line in lines
    )  # 广 was never seen in training
    assert "1 words left out" in capsys.readouterr().err
    tokens = {line.split()[0] for line in (tmp_path / "tok" / "tokens.txt").read_text().splitlines()}
    assert all(line.split()[1] in tokens for line in lines)
    assert not (tmp_path / "lang" / "lexicon_phones.txt").exists()
    assert not (tmp_path / "lang" / "lexicon_phones_nostress.txt").exists()


def test_bpe_lexicon_round_trips_through_the_tokenizer(tmp_path):
    text = ["the cat sat on the mat", "a dog ate the bone", "cats and dogs", "the bone of the cat"] * 20
    train_tokenizer("bpe", text, 30, tmp_path / "tok")
    words = tmp_path / "words.txt"
    words.write_text("\n".join(sorted({w for t in text for w in t.split()})) + "\n")
    write_lexicons(words, tmp_path / "tok", tmp_path / "lang", cmu=True)
    tok = load_tokenizer(tmp_path / "tok")
    lex = dict(
        line.split(maxsplit=1) for line in (tmp_path / "lang" / "lexicon.txt").read_text().splitlines()
    )
    assert set(lex) == set(read_word_list(words))
    for word, pieces in lex.items():
        ids = [tok.symbols.id(p) for p in pieces.split()]
        assert tok.decode(ids) == word
    phones = (tmp_path / "lang" / "lexicon_phones.txt").read_text().splitlines()
    assert "cat K AE1 T" in phones
    # the stress-free lexicon: the same pronunciations without the digits, variants that differ only in stress
    # (the's DH AH0 / DH AH1) merged, in the same order
    plain = (tmp_path / "lang" / "lexicon_phones_nostress.txt").read_text().splitlines()
    assert "cat K AE T" in plain and plain.count("the DH AH") == 1
    expected = []
    for line in phones:
        bare = " ".join(p.rstrip("012") for p in line.split())
        if bare not in expected:
            expected.append(bare)
    assert plain == expected
    assert not any(c.isdigit() for line in plain for c in line)


def test_cmu_dictionary_is_lower_case_words():
    d = cmu_dictionary()
    assert d["hello"][0] == ["HH", "AH0", "L", "OW1"]
    assert "don't" in d and all(w == w.lower() for w in list(d)[:1000])


def test_word_list_reads_words_txt_and_corpora(tmp_path):
    (tmp_path / "words.txt").write_text("<eps> 0\nhello 1\nworld 2\n#0 3\n")
    assert read_word_list(tmp_path / "words.txt") == ["hello", "world"]
    (tmp_path / "corpus").write_text("the cat\nthe dog\n")
    assert read_word_list(tmp_path / "corpus") == ["the", "cat", "dog"]


@pytest.mark.parametrize("bad", ["", "   "])
def test_blank_word_lines_are_ignored(tmp_path, bad):
    (tmp_path / "w").write_text(f"a\n{bad}\nb\n")
    assert read_word_list(tmp_path / "w") == ["a", "b"]


def test_hotword_list_rules(tmp_path):
    from asr.data.synth.lexicon import make_hotword_list

    (tmp_path / "text").write_text(
        "u1 the zebra crossed the quiet meadow\nu2 a purple zebra sang\nu3 the common words are common\n"
    )
    lm = ["the common words are common"] * 5 + ["meadow flowers and quiet lakes", "violet lanterns glow"]
    (tmp_path / "lm").write_text("\n".join(lm) + "\n")
    n = make_hotword_list(tmp_path / "text", tmp_path / "lm", tmp_path / "hw", num=8, seed=0)
    items = (tmp_path / "hw").read_text().splitlines()
    assert n == len(items) and items == sorted(items)
    singles = [h for h in items if " " not in h]
    test_words = set((tmp_path / "text").read_text().split())
    true_hits = [h for h in singles if h in test_words]
    distractors = [h for h in singles if h not in test_words]
    # test words rare in the LM text (<= 2 times, 4+ letters); never "common" or "words" (5 times each)
    assert true_hits and set(true_hits) <= {"zebra", "crossed", "quiet", "meadow", "purple", "sang"}
    # distractors: rare LM words the test never says
    assert distractors and set(distractors) <= {"flowers", "lakes", "violet", "lanterns", "glow"}
    assert all(h.split()[0] in true_hits for h in items if " " in h)  # phrases start with a chosen hotword
