"""The library API: process() on mappings and lists, missing/extra keys, empty references, metric naming,
per-speaker totals, confusions, file reading errors, and agreement with jiwer on whole corpora."""

from __future__ import annotations

import random

import jiwer
import kaldialign
import pytest

from asr.errors import CifstError, InputError
from asr.scoring import ErrorCounts, NormalizeConfig, ScoreConfig, process, score_files


def test_counts_and_rates_on_a_small_set():
    refs = {"u1": "a b c d", "u2": "e f"}
    hyps = {"u1": "a x c", "u2": "e f g"}
    r = process(refs, hyps)
    assert r.totals == ErrorCounts(hits=4, subs=1, dels=1, ins=1)
    assert r.totals.ref_len == 6
    assert r.error_rate == pytest.approx(3 / 6)
    assert r.sentences == 2 and r.sentence_errors == 2 and r.ser == 1.0
    u1 = r.utterances[0]
    assert u1.alignment() == [("a", "a"), ("b", "x"), ("c", "c"), ("d", None)]
    assert u1.op_string == "CSCD"
    assert r.metric == "WER"


def test_lists_like_jiwer():
    r = process(["a b", "c"], ["a", "c"])
    assert r.totals == ErrorCounts(2, 0, 1, 0)
    assert [u.key for u in r.utterances] == ["0", "1"]
    with pytest.raises(ValueError, match="2 references but 1 hypotheses"):
        process(["a", "b"], ["a"])
    with pytest.raises(ValueError, match="both"):
        process({"a": "x"}, ["x"])


def test_missing_hypothesis_is_all_deletions_and_reported():
    r = process({"u1": "a b", "u2": "c d e"}, {"u1": "a b", "u9": "z"})
    assert r.missing_keys == ["u2"]
    assert r.extra_keys == ["u9"]
    u2 = r.utterances[1]
    assert u2.hyp_missing and u2.counts == ErrorCounts(0, 0, 3, 0)
    assert r.totals == ErrorCounts(2, 0, 3, 0)
    assert [u.key for u in r.utterances] == ["u1", "u2"]  # extra keys are not scored


def test_empty_references():
    # one empty reference among others: its hypothesis words are insertions
    r = process({"u1": "a b", "u2": ""}, {"u1": "a b", "u2": "x y"})
    assert r.totals == ErrorCounts(2, 0, 0, 2)
    assert r.error_rate == pytest.approx(1.0)
    # the whole reference set empty: 0% without insertions, 100% with
    assert process({"u": ""}, {"u": ""}).error_rate == 0.0
    r = process({"u": "", "v": ""}, {"u": "x", "v": ""})
    assert r.totals.ref_len == 0 and r.totals.ins == 1
    assert r.error_rate == 1.0
    assert r.utterances[0].counts.rate == 1.0 and r.utterances[1].counts.rate == 0.0


def test_metric_naming_and_modes():
    zh = {"u": "今天天气很好"}
    assert process(zh, {"u": "今天天汽很好"}, ScoreConfig(NormalizeConfig(mode="auto"))).metric == "CER"
    en = {"u": "hello big world"}
    assert process(en, en, ScoreConfig(NormalizeConfig(mode="auto"))).metric == "WER"
    r = process(en, {"u": "hello bag world"}, ScoreConfig(NormalizeConfig(mode="cer")))
    assert r.metric == "CER"
    assert r.totals == ErrorCounts(hits=12, subs=1, dels=0, ins=0)
    # mixed: CJK characters are words, Latin words stay words
    r = process({"u": "我 用 python"}, {"u": "我用 pithon"})
    assert r.totals == ErrorCounts(2, 1, 0, 0)


def test_normalization_applies_to_both_sides():
    cfg = ScoreConfig(NormalizeConfig(lower_case=True, strip_punct=True, strip_special=True))
    r = process({"u": "Hello, World!"}, {"u": "<s> hello world </s>"}, cfg)
    assert r.totals.errors == 0


def test_by_speaker_and_confusions():
    refs = {"s1-a": "x y", "s1-b": "x", "s2-a": "y y"}
    hyps = {"s1-a": "x z", "s1-b": "x", "s2-a": "y"}
    r = process(refs, hyps)
    spk = {s.speaker: s for s in r.by_speaker({"s1-a": "s1", "s1-b": "s1", "s2-a": "s2"})}
    assert spk["s1"].counts == ErrorCounts(2, 1, 0, 0) and spk["s1"].sentences == 2 and spk["s1"].ser == 0.5
    assert spk["s2"].counts == ErrorCounts(1, 0, 1, 0)
    unknown = r.by_speaker({})
    assert [s.speaker for s in unknown] == ["<unknown>"]
    subs, dels, ins = r.confusions()
    assert subs == {("y", "z"): 1} and dels == {"y": 1} and not ins


def test_jiwer_policy_matches_jiwer_on_a_corpus():
    rng = random.Random(0)
    words = "alpha beta gamma delta epsilon zeta eta theta iota kappa".split()
    refs, hyps = [], []
    for _ in range(500):
        ref = [rng.choice(words) for _ in range(rng.randint(1, 20))]
        hyp = [w if rng.random() > 0.2 else rng.choice(words) for w in ref if rng.random() > 0.05]
        hyp += [rng.choice(words)] if rng.random() < 0.2 else []
        refs.append(" ".join(ref))
        hyps.append(" ".join(hyp))
    r = process(refs, hyps, ScoreConfig(policy="jiwer"))
    o = jiwer.process_words(refs, hyps)
    assert (r.totals.hits, r.totals.subs, r.totals.dels, r.totals.ins) == (
        o.hits,
        o.substitutions,
        o.deletions,
        o.insertions,
    )
    assert r.error_rate == pytest.approx(o.wer)
    k = kaldialign.batch_error_rate([x.split() for x in refs], [x.split() for x in hyps])
    rk = process(refs, hyps)
    assert (rk.totals.subs, rk.totals.dels, rk.totals.ins) == (k["sub"], k["del"], k["ins"])


def test_score_files_errors(tmp_path):
    ref = tmp_path / "ref"
    hyp = tmp_path / "hyp"
    ref.write_text("u1 a b\nu2 c\n", encoding="utf-8")
    hyp.write_text("u1 a b\nu1 c\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"hyp:2: duplicate key 'u1' \(first on line 1\)"):
        score_files(ref, hyp)
    hyp.write_bytes(b"u1 a \xe4b\n")
    with pytest.raises(InputError, match=r"hyp:1: not valid UTF-8"):
        score_files(ref, hyp)
    hyp.write_text("x1 a\n", encoding="utf-8")
    with pytest.raises(InputError, match="no utterance key is shared"):
        score_files(ref, hyp)
    hyp.write_text("u1 a b\nu3 x\n", encoding="utf-8")
    with pytest.raises(InputError, match="1 missing .*'u2'.*1 extra .*'u3'"):
        score_files(ref, hyp, strict_keys=True)
    r = score_files(ref, hyp)
    assert r.missing_keys == ["u2"] and r.extra_keys == ["u3"]
    with pytest.raises(InputError, match="directory"):
        score_files(tmp_path, hyp)
    with pytest.raises(InputError, match="not found"):
        score_files(tmp_path / "nope", hyp)
    (tmp_path / "e1").write_text("", encoding="utf-8")
    (tmp_path / "e2").write_text("", encoding="utf-8")
    with pytest.raises(InputError, match="e1: the reference has no utterances"):
        score_files(tmp_path / "e1", tmp_path / "e2")
    r = score_files(ref, tmp_path / "e2")  # a decoder that produced nothing: all deletions
    assert r.error_rate == 1.0 and r.missing_keys == ["u1", "u2"]


def test_too_long_pair_is_a_clear_error(monkeypatch):
    import asr.scoring.score as score_mod

    monkeypatch.setattr(score_mod, "MAX_CELLS", 100)
    with pytest.raises(
        CifstError, match="utterance 'long' is too long to align \\(20 reference x 10 hypothesis"
    ):
        process({"ok": "a b", "long": " ".join("x" * 20)}, {"ok": "a b", "long": " ".join("y" * 10)})


def _fortune_lines(n: int) -> list[str]:
    """Real Chinese (with some English) sentences from the fortunes-zh package, ANSI colour codes removed."""
    import re
    from pathlib import Path

    p = Path("/usr/share/games/fortunes/chinese")
    if not p.exists():
        pytest.skip("fortunes-zh is not installed")
    lines = []
    for line in p.read_text(encoding="utf-8", errors="ignore").splitlines():
        line = re.sub(r"\x1b\[[0-9;]*m", "", line).strip()
        if 6 <= len(line) <= 40 and "<" not in line and any("\u4e00" <= c <= "\u9fff" for c in line):
            lines.append("".join(line.split()))
        if len(lines) == n:
            break
    return lines


def test_real_chinese_text_cer_matches_kaldialign_and_jiwer():
    refs = _fortune_lines(400)
    chars = sorted(set("".join(refs)))
    rng = random.Random(11)
    hyps = []
    for ref in refs:
        hyp = list(ref)
        for _ in range(rng.randint(0, 4)):
            pos = rng.randrange(len(hyp) + 1)
            op = rng.random()
            if op < 0.5 and pos < len(hyp):
                hyp[pos] = rng.choice(chars)
            elif op < 0.75 and pos < len(hyp):
                del hyp[pos]
            else:
                hyp.insert(pos, rng.choice(chars))
        hyps.append("".join(hyp))
    cer = ScoreConfig(NormalizeConfig(mode="cer"))
    r = process(refs, hyps, cer)
    k = kaldialign.batch_error_rate([list(x) for x in refs], [list(x) for x in hyps])
    assert (r.totals.subs, r.totals.dels, r.totals.ins) == (k["sub"], k["del"], k["ins"])
    rj = process(refs, hyps, ScoreConfig(NormalizeConfig(mode="cer"), policy="jiwer"))
    o = jiwer.process_characters(refs, hyps)
    assert (rj.totals.hits, rj.totals.subs, rj.totals.dels, rj.totals.ins) == (
        o.hits,
        o.substitutions,
        o.deletions,
        o.insertions,
    )
    # auto mode on this text: Latin words stay words, so units differ, but the figure is named CER
    assert process(refs, hyps, ScoreConfig(NormalizeConfig(mode="auto"))).metric == "CER"
