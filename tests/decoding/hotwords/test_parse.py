from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from asr.errors import InputError
from decoding.hotwords.parse import parse_hotword_lines, parse_hotwords, read_hotwords_scp


def entries(lines, style="auto"):
    return [(h.phrase, h.weight) for h in parse_hotword_lines(lines, "hw.txt", style)]


def test_funasr_and_sherpa_styles_and_optional_weight():
    lines = ["阿里巴巴 20", "HELLO WORLD :2.5", "new york", "zeta:-1", "gpu  1e0"]
    assert entries(lines) == [
        ("阿里巴巴", 20.0),
        ("HELLO WORLD", 2.5),
        ("new york", None),
        ("zeta", -1.0),
        ("gpu", 1.0),
    ]


def test_comments_blank_lines_and_hash_inside_a_word():
    lines = ["# a comment", "", "   ", "C# 3  # the language", "  f#minor"]
    assert entries(lines) == [("C#", 3.0), ("f#minor", None)]


def test_whitespace_collapsed_and_duplicates_merged_to_largest_weight():
    hws = parse_hotword_lines(["new   york 1", "new york", "new york :4", "new york 2"], "hw.txt")
    assert len(hws) == 1
    (h,) = hws
    assert (h.phrase, h.weight, h.line, h.merged_lines) == ("new york", 4.0, 1, [2, 3, 4])


def test_plain_and_sherpa_styles_keep_numbers_in_phrases():
    assert entries(["apollo 11"]) == [("apollo", 11.0)]
    assert entries(["apollo 11"], "plain") == [("apollo 11", None)]
    assert entries(["apollo 11"], "sherpa") == [("apollo 11", None)]
    assert entries(["apollo 11 :2"], "sherpa") == [("apollo 11", 2.0)]
    assert entries(["12:30 meeting"]) == [("12:30 meeting", None)]


def test_bad_lines_name_file_and_line(tmp_path):
    with pytest.raises(InputError, match=r"hw.txt:2: weight after ':' must be a number"):
        parse_hotword_lines(["ok", "phrase :heavy"], "hw.txt", "sherpa")
    with pytest.raises(InputError, match=r"hw.txt:1: .*no phrase"):
        parse_hotword_lines([":3"], "hw.txt")
    f = tmp_path / "bad.txt"
    f.write_bytes(b"fine\n" + b"\xff\xfe bad\n")
    with pytest.raises(InputError, match=r"bad.txt:2: not valid UTF-8"):
        parse_hotwords(f)
    with pytest.raises(InputError, match="unknown hotword style"):
        parse_hotword_lines(["x"], "hw.txt", "kaldi")


def test_file_with_bom_and_crlf(tmp_path):
    f = tmp_path / "hw.txt"
    f.write_bytes("\ufeff阳光保险 2\r\n保定\r\n".encode())
    assert [(h.phrase, h.weight, h.path) for h in parse_hotwords(f)] == [
        ("阳光保险", 2.0, str(f)),
        ("保定", None, str(f)),
    ]


def test_scp_relative_paths_and_duplicate_keys(tmp_path):
    (tmp_path / "lists").mkdir()
    scp = tmp_path / "hotwords.scp"
    scp.write_text("utt1 lists/a.txt\nutt2 /abs/b.txt\n")
    got = read_hotwords_scp(scp)
    assert got == {"utt1": tmp_path / "lists/a.txt", "utt2": Path("/abs/b.txt")}
    scp.write_text("utt1 a.txt\nutt1 b.txt\n")
    with pytest.raises(InputError, match=r"hotwords.scp:2: utterance 'utt1' is listed twice"):
        read_hotwords_scp(scp)
    scp.write_text("utt1\n")
    with pytest.raises(InputError, match=r"hotwords.scp:1: key 'utt1' has no value"):
        read_hotwords_scp(scp)


words = st.text(alphabet="abcxyz阳光保险#:.-'", min_size=1, max_size=6).filter(
    lambda w: not w.startswith("#") and ":" not in w and not w.replace(".", "").replace("-", "").isdigit()
)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(words, min_size=1, max_size=4),
    st.one_of(st.none(), st.floats(-50, 50, allow_nan=False).map(lambda x: round(x, 3))),
    st.sampled_from(["funasr", "sherpa"]),
)
def test_round_trip_of_written_lines(phrase_words, weight, style):
    phrase = " ".join(phrase_words)
    try:
        float(phrase_words[-1])
        numeric_tail = True
    except ValueError:
        numeric_tail = False
    if weight is None:
        line = phrase
    elif style == "funasr":
        line = f"{phrase} {weight}"
    else:
        line = f"{phrase} :{weight}"
    got = parse_hotword_lines([line, "# comment", ""], "hw.txt")
    if weight is None and numeric_tail and len(phrase_words) > 1:
        return  # ambiguous by design: a numeric last word reads as a weight in auto style
    assert [(h.phrase, h.weight) for h in got] == [(phrase, weight)]
