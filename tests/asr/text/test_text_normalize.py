"""Text normalization: NFKC, case, punctuation (word-internal apostrophes kept), canonical CJK spacing."""

from __future__ import annotations

import pytest

from asr.text.normalize import NormalizeConfig, is_cjk, join_units, normalize_text, split_cjk


@pytest.mark.parametrize(
    "raw,expected",
    [
        ("Hello,   world!", "Hello world"),
        ("don't stop-it", "don't stop-it"),
        ("rock 'n' roll -- yes", "rock n roll yes"),
        ("ＡＢＣ　１２３", "ABC 123"),  # full-width -> ASCII by NFKC
        ("我们 爱 北京。", "我们爱北京"),
        ("我们love北京", "我们 love 北京"),
        ("  ", ""),
        ("it\u2019s", "it's"),
    ],
)
def test_default_normalization(raw, expected):
    assert normalize_text(raw) == expected


def test_case_and_punctuation_options():
    assert normalize_text("Hello, World", NormalizeConfig(case="lower")) == "hello world"
    assert (
        normalize_text("Hello, World", NormalizeConfig(case="upper", remove_punctuation=False))
        == "HELLO, WORLD"
    )
    with pytest.raises(ValueError, match="case"):
        NormalizeConfig(case="title")


def test_cjk_units():
    assert is_cjk("我") and is_cjk("の") and not is_cjk("a") and not is_cjk("한")
    assert split_cjk("ab你好cd ef") == ["ab", "你", "好", "cd", "ef"]
    assert join_units(["ab", "你", "好", "cd", "ef"]) == "ab 你好 cd ef"


def test_is_cjk_is_exactly_the_listed_ranges():
    from asr.text.normalize import _CJK_RANGES

    edges = [cp + d for lo, hi in _CJK_RANGES for cp in (lo, hi) for d in (-1, 0, 1)]
    for cp in [*range(0, 0x33000, 13), *edges]:
        if 0xD800 <= cp <= 0xDFFF:
            continue  # surrogates are not characters
        assert is_cjk(chr(cp)) == any(lo <= cp <= hi for lo, hi in _CJK_RANGES), hex(cp)
    assert not is_cjk("你好")  # one character only
