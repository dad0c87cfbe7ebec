"""Normalization and the unit split: CJK-as-words in WER mode, character units in CER mode, each option."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from asr.errors import InputError
from asr.scoring.normalize import NormalizeConfig, Normalizer, is_cjk_char, read_mapping, split_units


def norm(text: str, **kw) -> list[str]:
    return Normalizer(NormalizeConfig(**kw))(text)


def test_wer_mode_splits_cjk_and_keeps_latin_words():
    assert norm("我用python写code") == ["我", "用", "python", "写", "code"]
    assert norm("今天 天气 很好") == ["今", "天", "天", "气", "很", "好"]
    assert norm("hello world") == ["hello", "world"]
    # kana are split like Han; Hangul words stay words (Korean is space-delimited)
    assert norm("東京タワー") == ["東", "京", "タ", "ワ", "ー"]
    assert norm("안녕 하세요") == ["안녕", "하세요"]
    assert norm("iPhone15很贵") == ["iPhone15", "很", "贵"]


def test_cer_mode_drops_spaces_keeps_tags():
    assert norm("ab c", mode="cer") == ["a", "b", "c"]
    assert norm("我 用 AI", mode="cer") == ["我", "用", "A", "I"]
    assert norm("<unk> 好", mode="cer") == ["<unk>", "好"]


def test_auto_mode_uses_word_split():
    assert norm("hello 世界", mode="auto") == ["hello", "世", "界"]


def test_lower_case():
    assert norm("Hello WORLD Straße", lower_case=True) == ["hello", "world", "strasse"]
    assert norm("Hello") == ["Hello"]


def test_strip_special():
    assert norm("<s> hello <unk> world </s>", strip_special=True) == ["hello", "world"]
    assert norm("<s> hello", strip_special=False) == ["<s>", "hello"]
    assert norm("<UNK> a", strip_special=True, lower_case=True) == ["a"]


def test_strip_bpe():
    assert norm("▁he llo ▁wor ld", strip_bpe=True) == ["hello", "world"]
    assert norm("hel@@ lo wor@@ ld", strip_bpe=True) == ["hello", "world"]
    assert norm("▁今天 ▁天气", strip_bpe=True) == ["今", "天", "天", "气"]


def test_strip_punct():
    assert norm("Hello, world! Don't stop.", strip_punct=True) == ["Hello", "world", "Don't", "stop"]
    assert norm("你好，世界。", strip_punct=True) == ["你", "好", "世", "界"]
    assert norm("'quoted'", strip_punct=True) == ["quoted"]
    # angle brackets are symbols, not punctuation: tags survive
    assert norm("<unk>, ok", strip_punct=True) == ["<unk>", "ok"]


def test_mapping(tmp_path):
    p = tmp_path / "map.txt"
    p.write_text("# fillers and spellings\nuh\nOK okay\nwanna want to\n", encoding="utf-8")
    m = read_mapping(p)
    assert m == {"uh": [], "OK": ["okay"], "wanna": ["want", "to"]}
    assert norm("uh OK I wanna go", mapping=m) == ["okay", "I", "want", "to", "go"]
    ml = read_mapping(p, lower_case=True)
    assert norm("Uh ok", mapping=ml, lower_case=True) == ["okay"]


def test_mapping_errors(tmp_path):
    p = tmp_path / "map.txt"
    p.write_text("a b\na c\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"map.txt:2: word 'a' is mapped twice \(first on line 1\)"):
        read_mapping(p)
    p.write_bytes(b"a \xff\n")
    with pytest.raises(InputError, match="UTF-8"):
        read_mapping(p)


def test_bad_mode():
    with pytest.raises(ValueError, match="mode"):
        NormalizeConfig(mode="ser")


def test_is_cjk_char_and_split_units():
    assert is_cjk_char("中") and is_cjk_char("〇") and is_cjk_char("𠀀")
    assert not is_cjk_char("a") and not is_cjk_char("，") and not is_cjk_char("한")
    assert split_units(["ab中c"], "wer") == ["ab", "中", "c"]
    assert split_units(["ab", "中"], "cer") == ["a", "b", "中"]


def test_regex_split_agrees_with_is_cjk_char():
    for o in [*range(0x3000, 0xA000), *range(0xF800, 0xFB00), *range(0x1FF00, 0x32000, 7)]:
        c = chr(o)
        if c.isspace():
            continue
        assert (split_units(["a" + c + "b"], "wer") == ["a", c, "b"]) == is_cjk_char(c), hex(o)
    assert split_units(["<噪音>", "ab中c", "<unk>中"], "wer") == ["<噪音>", "ab", "中", "c", "<unk>", "中"]


_text = st.text(
    alphabet=st.sampled_from(list("ab Z9,.'<>") + ["中", "文", "タ", "ä", "\t", "▁", "@", "한"]), max_size=40
)


@settings(max_examples=300, deadline=None)
@given(text=_text)
def test_units_are_never_empty_or_contain_spaces(text):
    for mode in ("wer", "cer", "auto"):
        units = norm(text, mode=mode)
        assert all(u and not any(c.isspace() for c in u) for u in units)
        # nothing but whitespace is lost: the units are the text's non-space characters, in order
        assert "".join(units) == "".join(text.split())


@settings(max_examples=200, deadline=None)
@given(text=_text)
def test_normalization_is_idempotent(text):
    cfg = dict(lower_case=True, strip_special=True, strip_punct=True)
    once = " ".join(Normalizer(NormalizeConfig(**cfg)).words(text))
    assert Normalizer(NormalizeConfig(**cfg)).words(once) == once.split()


def test_nfkc():
    assert norm("ＡＢＣ１２３ ｶﾀ", nfkc=True) == ["ABC123", "カ", "タ"]
    assert norm("ＡＢＣ") == ["ＡＢＣ"]
