"""Timestamp accuracy: CTM reading, AAS on a hand-worked example (hits only), errors, and `cifst score-times`."""

from __future__ import annotations

import math

import pytest

from asr.cli import main
from asr.errors import InputError
from asr.scoring.timestamps import TimedWord, read_ctm, score_timestamps

REF = """;; reference word times
u1 1 0.00 0.30 hello
u1 1 0.70 0.50 world
u1 1 0.30 0.40 big
u2 A 0.10 0.20 今
u2 A 0.30 0.20 天
"""
HYP = """u1 1 0.02 0.30 hello
u1 1 0.30 0.40 bag
u1 1 0.76 0.40 world 0.93
u2 A 0.10 0.20 今
u2 A 0.32 0.20 天
u3 1 0 1 x
"""


def _files(tmp_path):
    (tmp_path / "ref.ctm").write_text(REF, encoding="utf-8")
    (tmp_path / "hyp.ctm").write_text(HYP, encoding="utf-8")
    return tmp_path / "ref.ctm", tmp_path / "hyp.ctm"


def test_read_ctm_sorts_by_time(tmp_path):
    ref, _ = _files(tmp_path)
    ctm = read_ctm(ref)
    assert [w.word for w in ctm["u1"]] == ["hello", "big", "world"]
    assert ctm["u1"][2] == TimedWord("world", 0.70, pytest.approx(1.20))


def test_aas_by_hand(tmp_path):
    ref, hyp = _files(tmp_path)
    s = score_timestamps(read_ctm(ref), read_ctm(hyp), tolerances=(0.03, 0.1))
    # hits: hello (.02, .02), world (.06, .04), 今 (0, 0), 天 (.02, .02); 'big'->'bag' is a substitution: not timed
    assert s.matched == 4 and s.ref_words == 5 and s.hyp_words == 5 and s.utterances == 2
    assert s.aas == pytest.approx((0.02 + 0.05 + 0.0 + 0.02) / 4)
    assert s.start_shift == pytest.approx((0.02 + 0.06 + 0 + 0.02) / 4)
    assert s.end_shift == pytest.approx((0.02 + 0.04 + 0 + 0.02) / 4)
    assert s.median_shift == pytest.approx(0.02)
    assert s.within == {0.03: pytest.approx(0.75), 0.1: pytest.approx(1.0)}
    assert s.extra_keys == ["u3"] and s.missing_keys == []


def test_no_match_gives_nan():
    s = score_timestamps({"u": [TimedWord("a", 0, 1)]}, {"u": [TimedWord("b", 0, 1)]})
    assert s.matched == 0 and math.isnan(s.aas)


def test_case_folding():
    ref = {"u": [TimedWord("Hello", 0, 1)]}
    hyp = {"u": [TimedWord("hello", 0.5, 1)]}
    assert score_timestamps(ref, hyp).matched == 0
    assert score_timestamps(ref, hyp, lower_case=True).aas == pytest.approx(0.25)


@pytest.mark.parametrize(
    "line,message",
    [
        ("u1 1 0.0 hello\n", "got 4 fields"),
        ("u1 1 x 0.3 hello\n", "must be numbers"),
        ("u1 1 0.5 -0.3 hello\n", "negative"),
    ],
)
def test_bad_ctm_lines(tmp_path, line, message):
    p = tmp_path / "bad.ctm"
    p.write_text("u0 1 0 1 ok\n" + line, encoding="utf-8")
    with pytest.raises(InputError, match=f"bad.ctm:2: .*{message}"):
        read_ctm(p)


def test_cli(tmp_path, capsys):
    ref, hyp = _files(tmp_path)
    assert main(["score-times", str(ref), str(hyp), "--tolerance", "0.03", "0.1"]) == 0
    out, err = capsys.readouterr()
    assert out.startswith("%AAS 0.0225 s [ 4 matched / 5 ref words, 5 hyp words, 2 utterances ]")
    assert "0.03 s: 75.00%" in out and "'u3'" in err
    (tmp_path / "other.ctm").write_text("zz 1 0 1 a\n", encoding="utf-8")
    assert main(["score-times", str(ref), str(tmp_path / "other.ctm")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no utterance is shared" in err
