"""Report formats: the Kaldi %WER/%SER lines, the detailed report (exact text), the per-speaker table, JSON and
the single-file HTML page."""

from __future__ import annotations

import base64
import io
import json
import re

from asr.scoring import process
from asr.scoring.html_report import render_html
from asr.scoring.report import (
    display_width,
    format_kaldi_line,
    format_ser_line,
    summary_dict,
    write_details,
    write_speaker_table,
)


def _result():
    refs = {"u1": "今天 天气 好", "u2": "hello big world", "u3": "a b"}
    hyps = {"u1": "今天 天 好 啊", "u2": "hello bag world", "x9": "zzz"}
    return process(refs, hyps)


def test_kaldi_and_ser_lines():
    r = _result()
    # u1: 今天天气好 vs 今天天好啊 -> D(气) I(啊); u2: S(big->bag); u3: missing -> D D
    assert format_kaldi_line(r) == "%WER 50.00 [ 5 / 10, 1 ins, 3 del, 1 sub ]"
    assert format_ser_line(r) == "%SER 100.00 [ 3 / 3 ]"
    # the line parses with the regex Kaldi recipes use (utils/best_wer.sh style)
    m = re.match(
        r"%WER (\d+\.\d+) \[ (\d+) / (\d+), (\d+) ins, (\d+) del, (\d+) sub \]", format_kaldi_line(r)
    )
    assert m and m.groups() == ("50.00", "5", "10", "1", "3", "1")


def test_detailed_report_exact():
    r = _result()
    f = io.StringIO()
    write_details(r, f)
    text = f.getvalue()
    expected_u1 = "KEY: u1\nREF: 今 天 天 气 好 *\nHYP: 今 天 天 *  好 啊\nCNT: H(4) S(0) D(1) I(1)\nDEL: (气)\nINS: (啊)\n"
    assert expected_u1 in text
    expected_u2 = "KEY: u2\nREF: hello big world\nHYP: hello bag world\nCNT: H(2) S(1) D(0) I(0)\nSUB: (big) --> (bag)\n"
    assert expected_u2 in text
    assert "KEY: u3  (no hypothesis)\nREF: a b\nHYP: * *\nCNT: H(0) S(0) D(2) I(0)\nDEL: (a) (b)\n" in text
    assert "Scored 3 sentences, 1 not present in hyp, 1 not present in ref." in text
    assert "Only in the hypothesis (not scored): x9" in text
    assert "SUBSTITUTIONS: 1 total" in text and "     1  big --> bag" in text
    assert "DELETIONS: 3 total" in text
    assert text.rstrip().endswith(
        "WER: 50.00%\nWORDS: 10  SUB: 10.00%  DEL: 30.00%  INS: 10.00%\nACC_UTT: 0.00%  SENTS: 3\n"
        "Overall -> 50.00 % N=10 C=6 S=1 D=3 I=1"
    )


def test_ranked_lists_are_sorted_by_count():
    r = process({"a": "x x x y", "b": "x"}, {"a": "z z z y", "b": "q"})
    f = io.StringIO()
    write_details(r, f)
    text = f.getvalue()
    assert text.index("3  x --> z") < text.index("1  x --> q")


def test_aligned_columns_have_equal_display_width():
    r = process({"u": "我们 python"}, {"u": "我 门 pyth0n"})
    f = io.StringIO()
    write_details(r, f)
    lines = f.getvalue().splitlines()
    ref = next(x for x in lines if x.startswith("REF: "))
    hyp = next(x for x in lines if x.startswith("HYP: "))
    assert display_width(ref) == display_width(hyp)
    assert display_width("中a") == 3


def test_speaker_table_and_json():
    r = _result()
    f = io.StringIO()
    write_speaker_table(r, {"u1": "spkA", "u2": "spkB", "u3": "spkB"}, f)
    rows = f.getvalue().splitlines()
    assert rows[0].split() == ["SPEAKER", "SENTS", "WORDS", "CORR", "SUB", "DEL", "INS", "WER", "S.ERR"]
    spk_a = next(x for x in rows if x.startswith("spkA")).split()
    assert spk_a == ["spkA", "1", "5", "80.00", "0.00", "20.00", "20.00", "40.00", "100.00"]
    total = next(x for x in rows if x.startswith("Sum")).split()
    assert total[1:3] == ["3", "10"] and total[7] == "50.00"
    d = summary_dict(r, {"u1": "spkA"})
    json.dumps(d)
    assert d["error_rate"] == 50.0 and d["missing_keys"] == ["u3"] and d["extra_keys"] == ["x9"]
    assert set(d["speakers"]) == {"spkA", "<unknown>"}


def test_html_is_one_self_contained_file():
    r = _result()
    page = render_html(r, {"u1": "spkA", "u2": "spkB", "u3": "spkB"}, title="t <&>")
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    assert "t &lt;&amp;&gt;" in page
    imgs = re.findall(r"src='data:image/png;base64,([A-Za-z0-9+/=]+)'", page)
    assert len(imgs) == 3  # per speaker, error types, length vs errors
    for b in imgs:
        assert base64.b64decode(b)[:8] == b"\x89PNG\r\n\x1a\n"
    assert "http://" not in page and "https://" not in page  # no external resources
    assert "%WER 50.00" in page and "spkB" in page
    # without utt2spk: no speaker plot
    assert len(re.findall("data:image/png", render_html(r))) == 2


def test_html_speaker_plot_keeps_the_worst_when_there_are_many():
    refs = {f"s{i:03d}-u": "a b c d" for i in range(80)}
    hyps = {k: ("a b c d" if i % 2 else "a x c d") for i, k in enumerate(refs)}
    page = render_html(process(refs, hyps), {k: k.split("-")[0] for k in refs})
    assert len(re.findall("data:image/png", page)) == 3
    assert page.count("<tr><td class='l'>s0") == 80  # the table still lists every speaker
