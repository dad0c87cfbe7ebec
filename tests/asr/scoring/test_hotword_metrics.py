from __future__ import annotations

import random

import kaldialign
import pytest

from asr.scoring.hotword_metrics import (
    compute_hotword_metrics,
    format_hotword_report,
    hotword_metrics,
    read_hotword_phrases,
)
from asr.scoring.score import process

HOTWORDS = ["zeta jones", "new york", "阳光保险", "zeta jones"]


def test_hand_worked_example():
    refs = {"u1": "i met zeta jones in new york", "u2": "the weather is fine", "u3": "阳光保险 很好"}
    hyps = {
        "u1": "i met zeta jones in new work",
        "u2": "the zeta jones weather is fine",
        "u3": "阳光保险 很好",
    }
    m = hotword_metrics(refs, hyps, HOTWORDS)
    assert (m.tp, m.fn, m.fp) == (2, 1, 1)
    assert m.recall == pytest.approx(2 / 3) and m.precision == pytest.approx(2 / 3)
    # biased: zeta jones new york (u1) + 阳光保险 (u3, one unit per character); york->work is a biased substitution,
    # the inserted "zeta jones" of u2 are biased insertions
    assert (m.biased.hits, m.biased.subs, m.biased.dels, m.biased.ins) == (7, 1, 0, 2)
    assert m.biased_wer == pytest.approx(3 / 8)
    assert (m.unbiased.ref_len, m.unbiased.errors) == (9, 0)
    assert (m.utts_with_hotword, m.utts_without_hotword, m.false_alarm_utts) == (2, 1, 1)
    assert m.false_alarm_rate == 1.0
    per = {c.phrase: (c.ref, c.hyp, c.tp) for c in m.per_hotword}
    assert per == {"zeta jones": (1, 2, 1), "new york": (1, 0, 0), "阳光保险": (1, 1, 1)}
    report = format_hotword_report(m)
    assert "%HOTWORD recall 66.67 [ 2 / 3 ] precision 66.67 [ 2 / 3 ] false-alarms 1" in report
    assert "%B-WER 37.50 [ 3 / 8, 2 ins, 0 del, 1 sub ]" in report
    assert "%FA-UTT 100.00 [ 1 / 1 utterances without a hotword ]" in report


def test_overlapping_hotwords_and_repeated_occurrences():
    refs = {"a": "阳光保险 保险 保险"}
    hyps = {"a": "阳光保定 保险"}
    m = hotword_metrics(refs, hyps, ["阳光保险", "保险"])
    # ref: 阳光保险 once, 保险 three times (one inside 阳光保险); hyp: 保险 once
    assert (m.tp, m.fn, m.fp) == (1, 3, 0)
    assert m.biased.ref_len == 8 and m.unbiased.ref_len == 0


def test_error_split_adds_up_to_kaldialign_edit_distance():
    rng = random.Random(7)
    vocab = list("abcdefg")
    hotwords = ["a b", "c", "d e f", "g g"]
    refs, hyps = {}, {}
    for i in range(200):
        refs[f"u{i}"] = " ".join(rng.choice(vocab) for _ in range(rng.randint(0, 10)))
        hyps[f"u{i}"] = " ".join(rng.choice(vocab) for _ in range(rng.randint(0, 10)))
    result = process(refs, hyps)
    m = compute_hotword_metrics(result.utterances, hotwords)
    total_err = sum(kaldialign.edit_distance(refs[k].split(), hyps[k].split())["total"] for k in refs)
    assert m.biased.errors + m.unbiased.errors == total_err
    assert m.biased.ref_len + m.unbiased.ref_len == sum(len(t.split()) for t in refs.values())

    # recall/precision from independent occurrence counting (no overlap of one hotword with itself)
    def count(text, hw):
        units, n, i, c = text.split(), len(hw.split()), 0, 0
        while i + n <= len(units):
            if units[i : i + n] == hw.split():
                c, i = c + 1, i + n
            else:
                i += 1
        return c

    tp = sum(min(count(refs[k], h), count(hyps[k], h)) for k in refs for h in hotwords)
    nref = sum(count(refs[k], h) for k in refs for h in hotwords)
    nhyp = sum(count(hyps[k], h) for k in refs for h in hotwords)
    assert (m.tp, m.tp + m.fn, m.tp + m.fp) == (tp, nref, nhyp)


def test_reads_hotword_files(tmp_path):
    f = tmp_path / "hw.txt"
    f.write_text("# list\nnew york 2\nzeta :1.5\n阳光保险\n")
    assert read_hotword_phrases(f) == ["new york", "zeta", "阳光保险"]
