"""Errors by training count (``cifst score --train-text``): the buckets against an independent count over kaldialign
alignments, the bucket labels and edges, and the command's table, report file and bad input."""

from __future__ import annotations

import random
from collections import Counter

import kaldialign
import pytest

from asr.cli import main
from asr.errors import CifstError
from asr.scoring import Normalizer, errors_by_frequency, process
from asr.scoring.frequency import FrequencyBucket, check_edges, count_units


def _write(path, lines):
    path.write_text("".join(f"{k} {t}\n" for k, t in lines), encoding="utf-8")
    return path


def test_buckets_match_an_independent_count_over_kaldialign():
    rng = random.Random(3)
    vocab = [f"w{i}" for i in range(30)]
    counts = Counter({w: rng.choice([0, 1, 3, 7, 60, 200]) for w in vocab})
    refs, hyps = {}, {}
    for u in range(40):
        ref = [rng.choice(vocab) for _ in range(rng.randint(1, 9))]
        hyp = [w if rng.random() < 0.6 else rng.choice(vocab) for w in ref if rng.random() < 0.85]
        hyp += [rng.choice(vocab) for _ in range(rng.randint(0, 2))]
        refs[f"u{u:02d}"], hyps[f"u{u:02d}"] = " ".join(ref), " ".join(hyp)
    buckets = errors_by_frequency(process(refs, hyps), counts, (1, 5, 50))

    want_words, want_errors = Counter(), Counter()
    for key, ref in refs.items():
        for r, h in kaldialign.align(ref.split(), hyps[key].split(), "*"):
            if r == "*":
                continue
            c = counts[r]
            b = 0 if c < 1 else 1 if c < 5 else 2 if c < 50 else 3
            want_words[b] += 1
            want_errors[b] += r != h
    assert [b.words for b in buckets] == [want_words[i] for i in range(4)]
    # the default (kaldi) policy breaks ties as kaldialign does, so even the error of each word is the same
    assert [b.errors for b in buckets] == [want_errors[i] for i in range(4)]
    assert sum(want_errors.values()) > 20 and all(want_words[i] > 10 for i in range(4))  # a case with content
    assert [b.label for b in buckets] == ["unseen (0)", "1-4", "5-49", "50+"]


def test_exact_buckets_on_a_hand_case():
    counts = Counter({"the": 100, "cat": 3, "sat": 1})
    result = process({"a": "the cat sat on the mat"}, {"a": "the cap sat the mat mat"})
    b = errors_by_frequency(result, counts, (1, 2, 50))
    # the/the ok (100: 50+), cat->cap (3: 2-49), sat ok (1: "1"), on deleted (0), the ok, mat ok (0), + 1 insertion
    assert [(x.label, x.words, x.errors) for x in b] == [
        ("unseen (0)", 2, 1),
        ("1", 1, 0),
        ("2-49", 1, 1),
        ("50+", 2, 0),
    ]
    assert b[0].rate == pytest.approx(50.0) and FrequencyBucket(5, None, 0, 0).rate == 0.0


def test_training_counts_are_normalized_like_the_scored_text(tmp_path):
    text = _write(tmp_path / "text", [("t1", "The CAT"), ("t2", "the dog")])
    assert count_units(text, Normalizer()) == Counter({"The": 1, "CAT": 1, "the": 1, "dog": 1})
    from asr.scoring import NormalizeConfig

    lower = count_units(text, Normalizer(NormalizeConfig(lower_case=True)))
    assert lower == Counter({"the": 2, "cat": 1, "dog": 1})


@pytest.mark.parametrize("edges", [(), (0, 5), (5, 5), (10, 3)])
def test_bad_edges(edges):
    with pytest.raises(CifstError, match="increasing integers"):
        check_edges(edges)


def test_cli_table_and_report_file(capsys, tmp_path):
    train = _write(tmp_path / "train", [("t1", "the cat sat"), ("t2", "the cat"), ("t3", "the the the")])
    ref = _write(tmp_path / "ref", [("a", "the cat sat on the mat")])
    hyp = _write(tmp_path / "hyp", [("a", "the cap sat the mat mat")])
    out_dir = tmp_path / "report"
    code = main(["score", str(ref), str(hyp), "--train-text", str(train), "--count-edges", "1", "2", "5"])
    out = capsys.readouterr().out
    assert code == 0
    rows = {line.split()[0]: line.split() for line in out.splitlines()[3:7]}
    assert rows["unseen"][2:] == ["2", "33.3%", "1", "50.00"]  # on, mat
    assert rows["1"][1:] == ["1", "16.7%", "0", "0.00"]  # sat
    assert rows["2-4"][1:] == ["1", "16.7%", "1", "100.00"]  # cat
    assert rows["5+"][1:] == ["2", "33.3%", "0", "0.00"]  # the
    assert "(1 inserted words" in out
    code = main(["score", str(ref), str(hyp), "--train-text", str(train), "--out", str(out_dir)])
    assert code == 0
    table = (out_dir / "frequency.txt").read_text(encoding="utf-8")
    assert table.startswith(f"words by count in {train}")
    assert "Errors by training count" in (out_dir / "report.html").read_text(encoding="utf-8")


def test_cli_bad_training_text_is_one_line(capsys, tmp_path):
    ref = _write(tmp_path / "ref", [("a", "x")])
    code = main(["score", str(ref), str(ref), "--train-text", str(tmp_path / "nope")])
    err = capsys.readouterr().err
    assert code == 1 and "nope" in err and "not found" in err and "Traceback" not in err
    code = main(["score", str(ref), str(ref), "--train-text", str(ref), "--count-edges", "5", "2"])
    err = capsys.readouterr().err
    assert code == 1 and "increasing integers" in err


def test_cli_compare_gives_each_system_its_table(capsys, tmp_path):
    train = _write(tmp_path / "train", [("t1", "the cat sat")])
    ref = _write(tmp_path / "ref", [("a", "the cat sat on the mat")])
    hyp_a = _write(tmp_path / "a", [("a", "the cat sat on the mat")])
    hyp_b = _write(tmp_path / "b", [("a", "a cat sat in the mat")])
    argv = ["score", ref, hyp_a, "--compare", hyp_b, "--train-text", train, "--bootstrap", "50"]
    code = main(list(map(str, argv)))
    out = capsys.readouterr().out
    assert code == 0
    unseen = [line.split() for line in out.splitlines() if "unseen" in line]
    assert [row[0] for row in unseen] == ["A:", "B:"]
    assert unseen[0][-1] == "0.00" and unseen[1][-1] == "50.00"  # on, mat: B misses "on"
    rare = [line.split()[-1] for line in out.splitlines() if line.startswith("B:") and " 1-4 " in line]
    assert rare == ["25.00"]  # the, cat, sat, the: B has "a" for the first "the"
