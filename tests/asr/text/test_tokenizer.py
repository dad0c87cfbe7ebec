"""Tokenizers: round trip of text through encode/decode for every kind, <unk> handling, strict mode naming the
character, is_word_start, tokens.txt layout, save/load, the sentencepiece model agreeing with sentencepiece itself,
and `cifst tokenizer train|encode`."""

from __future__ import annotations

import pytest

from asr.cli import main
from asr.errors import CifstError, InputError
from asr.text.symbol_table import SymbolTable
from asr.text.tokenizer import (
    WORD_START,
    CharTokenizer,
    MixedTokenizer,
    SentencePieceTokenizer,
    TokenizerConfig,
    load_tokenizer,
    train_tokenizer,
)

EN = [
    "the quick brown fox jumps over the lazy dog",
    "she sells sea shells by the sea shore",
    "peter piper picked a peck of pickled peppers",
    "how much wood would a woodchuck chuck",
    "a big black bug bit a big black bear",
] * 8
ZH = ["我们 爱 北京 天安门", "今天 天气 很 好", "我 喜欢 speech recognition", "北京 is a big city"] * 8


def _sizes(kind):
    return {"char": 0, "bpe": 60, "unigram": 60, "mixed": 120}[kind]


@pytest.fixture(params=["char", "bpe", "unigram", "mixed"])
def kind(request):
    return request.param


def test_round_trip_and_layout(kind, tmp_path):
    texts = EN + ZH
    tok = train_tokenizer(kind, texts, _sizes(kind), tmp_path)
    assert [tok.symbols[i] for i in range(3)] == ["<blk>", "<sos/eos>", "<unk>"]
    assert tok.blank_id == 0 and tok.sos_id == tok.eos_id == 1 and tok.unk_id == 2
    for t in texts[:9] + ["peter picked the big bear!", "我们爱 big 北京"]:
        ids = tok.encode(t, strict=True)
        assert all(i > 2 for i in ids)
        assert tok.decode(ids) == tok.normalize(t)
        assert tok.tokenize(t) == [tok.symbols[i] for i in ids]
    # specials are skipped in decoding
    ids = tok.encode("the dog")
    assert tok.decode([0, 1, *ids, 1, 0]) == "the dog"
    # save / load gives the same tokenizer
    again = load_tokenizer(tmp_path)
    assert again.symbols == tok.symbols
    assert again.encode("pickled peppers 北京") == tok.encode("pickled peppers 北京")
    assert type(again) is type(tok)
    assert (tmp_path / "tokens.txt").exists() and (tmp_path / "tokenizer.yaml").exists()
    assert (tmp_path / "bpe.model").exists() == (kind != "char")
    SymbolTable.read(tmp_path / "tokens.txt", require_dense=True)


def test_unk_and_strict_error_names_character(kind, tmp_path):
    tok = train_tokenizer(kind, EN + ZH, _sizes(kind), tmp_path)
    ids = tok.encode("the señor")  # 'ñ' never seen
    assert tok.unk_id in ids
    assert tok.unknown_pieces("the señor")
    with pytest.raises(ValueError, match=r"'ñ' \(U\+00F1 LATIN SMALL LETTER N WITH TILDE\)"):
        tok.encode("the señor", strict=True)
    with pytest.raises(ValueError, match="U\\+9F99"):
        tok.encode("the 龙", strict=True)
    assert "<unk>" in tok.decode(ids)


def test_is_word_start(kind, tmp_path):
    tok = train_tokenizer(kind, EN + ZH, _sizes(kind), tmp_path)
    for text in ["the quick brown fox", "peter piper picked"]:
        ids = tok.encode(text)
        starts = [tok.is_word_start(i) for i in ids]
        # one word-start piece per word (a lone "▁" piece counts, the rest of its word follows it)
        assert sum(starts) == len(text.split())
        assert starts[0]
    for i in ids:
        assert tok.is_word_start(i) == tok.symbols[i].startswith(WORD_START)
    for ch in "我北今":
        assert tok.is_word_start(tok.encode(ch)[-1])
    assert not tok.is_word_start(0) and not tok.is_word_start(tok.unk_id)


def test_char_word_mode_and_vocab_limit():
    tok = train_tokenizer("char", ["a b a c", "a b"], 0, config=TokenizerConfig(latin="word"))
    assert tok.tokenize("a c b") == [WORD_START + "a", WORD_START + "c", WORD_START + "b"]
    assert tok.decode(tok.encode("a c b")) == "a c b"
    tok = train_tokenizer("char", ["aaaa bbb cc d"], 5)  # 3 specials + the 2 most frequent pieces
    assert tok.vocab_size == 5
    assert set(tok.symbols.symbols[3:]) == {"a", "b"}


def test_sentencepiece_pieces_agree_with_sentencepiece(tmp_path):
    import sentencepiece as spm

    tok = train_tokenizer("bpe", EN, 50, tmp_path)
    assert isinstance(tok, SentencePieceTokenizer)
    sp = spm.SentencePieceProcessor(model_file=str(tmp_path / "bpe.model"))
    for t in EN[:5]:
        assert tok.tokenize(t) == sp.encode(t, out_type=str)


def test_mixed_keeps_cjk_chars_whole(tmp_path):
    tok = train_tokenizer("mixed", EN + ZH, 120, tmp_path)
    assert isinstance(tok, MixedTokenizer)
    pieces = tok.tokenize("我们 love the sea")
    assert pieces[:2] == ["我", "们"]
    assert "".join(pieces[2:]).replace(WORD_START, " ").strip() == "love the sea"
    assert tok.decode(tok.encode("我们 love the sea")) == "我们 love the sea"


def test_errors_are_actionable(tmp_path):
    with pytest.raises(CifstError, match="no text"):
        train_tokenizer("char", ["", "  ,"], 0)
    with pytest.raises(CifstError, match="vocab-size"):
        train_tokenizer("mixed", ZH, 10)
    with pytest.raises(CifstError, match="no Latin"):
        train_tokenizer("mixed", ["我们", "北京"], 100)
    with pytest.raises(InputError, match="tokens.txt"):
        load_tokenizer(tmp_path / "missing")
    # a sentencepiece model from another training does not fit this tokens.txt
    train_tokenizer("bpe", EN, 50, tmp_path / "a")
    train_tokenizer("bpe", ZH, 40, tmp_path / "b")
    (tmp_path / "a" / "bpe.model").write_bytes((tmp_path / "b" / "bpe.model").read_bytes())
    with pytest.raises(InputError, match="different trainings"):
        load_tokenizer(tmp_path / "a")


def test_tokens_txt_without_yaml_loads_as_char(tmp_path):
    SymbolTable(["<blk>", "<sos/eos>", "<unk>", "你", "好", WORD_START + "ok"]).write(tmp_path / "tokens.txt")
    tok = load_tokenizer(tmp_path / "tokens.txt")
    assert isinstance(tok, CharTokenizer) and tok.config.latin == "word"
    assert tok.encode("你好 ok") == [3, 4, 5]


def test_cli_train_and_encode(tmp_path, capsys):
    text = tmp_path / "text"
    text.write_text("".join(f"utt{i} {t}\n" for i, t in enumerate(EN[:5])), encoding="utf-8")
    out = tmp_path / "lang"
    assert (
        main(
            ["tokenizer", "train", "--kind", "bpe", "--vocab-size", "40", "--kaldi-text", str(text), str(out)]
        )
        == 0
    )
    tok = load_tokenizer(out)
    assert 30 <= tok.vocab_size <= 40
    capsys.readouterr()
    assert main(["tokenizer", "encode", "--kaldi-text", str(out), str(text)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[0] == "utt0"
    assert lines[0].split()[1:] == tok.tokenize(EN[0])
    assert main(["tokenizer", "train", "--kind", "bpe", str(text), str(out)]) == 1
    assert "needs --vocab-size" in capsys.readouterr().err


def test_pickles_for_dataloader_workers(kind, tmp_path):
    import pickle

    tok = train_tokenizer(kind, EN + ZH, _sizes(kind), tmp_path)
    again = pickle.loads(pickle.dumps(tok))
    assert again.encode("我们 love the sea") == tok.encode("我们 love the sea")


_ALPHABET = "abcdehiklmnoprstuwy我们爱北京天气好 ,.!'"


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    return {
        k: train_tokenizer(k, EN + ZH, _sizes(k), tmp_path_factory.mktemp(k))
        for k in ("char", "bpe", "mixed")
    }


def test_round_trip_property(trained):
    from hypothesis import given, settings
    from hypothesis import strategies as st

    @settings(max_examples=150, deadline=None)
    @given(st.text(alphabet=_ALPHABET, max_size=40))
    def check(text):
        for tok in trained.values():
            norm = tok.normalize(text)
            assert tok.normalize(norm) == norm  # normalization is idempotent
            ids = tok.encode(text)
            if tok.unk_id not in ids:
                assert tok.decode(ids) == norm
            assert all(tok.symbols[i] != "<blk>" for i in ids)

    check()
