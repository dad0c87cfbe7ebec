"""``cifst score`` end to end on the bundled samples, the report directory, --compare, and every bad-input path
(one line on stderr, exit 1, no traceback)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from asr.cli import main

SAMPLES = Path(__file__).resolve().parents[3] / "egs" / "samples" / "score"


def run(capsys, *argv):
    code = main(list(map(str, argv)))
    out, err = capsys.readouterr()
    return code, out, err


def test_samples_print_the_kaldi_lines(capsys):
    code, out, err = run(capsys, "score", SAMPLES / "ref", SAMPLES / "hyp")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].startswith("%CER ") and "ins," in lines[0] and lines[1].startswith("%SER ")
    assert "missing from" in err and "spk02-utt003" in err  # reported, not silently dropped
    assert "no reference" in err and "spk04-utt001" in err


def test_report_directory(capsys, tmp_path):
    out_dir = tmp_path / "report"
    code, out, _ = run(
        capsys, "score", SAMPLES / "ref", SAMPLES / "hyp", "--utt2spk", SAMPLES / "utt2spk", "--out", out_dir
    )
    assert code == 0
    assert sorted(p.name for p in out_dir.iterdir()) == [
        "details.txt",
        "report.html",
        "speakers.txt",
        "summary.json",
        "utterances.tsv",
        "wer",
    ]
    rows = (out_dir / "utterances.tsv").read_text(encoding="utf-8").splitlines()
    assert rows[0].split("\t")[:3] == ["key", "speaker", "ref_units"] and len(rows) == 13
    missing = next(r for r in rows if r.startswith("spk02-utt003")).split("\t")
    assert missing[1] == "spk02" and missing[-1] == "1" and missing[8] == "100.00"
    assert (out_dir / "wer").read_text(encoding="utf-8").splitlines() == out.splitlines()[:2]
    details = (out_dir / "details.txt").read_text(encoding="utf-8")
    assert "KEY: spk01-utt002" in details and "SUB: (链) --> (连)" in details
    assert "ACC_UTT:" in details and "SENTS: 12" in details
    summary = json.loads((out_dir / "summary.json").read_text(encoding="utf-8"))
    assert set(summary["speakers"]) == {"spk01", "spk02", "spk03"}
    assert "data:image/png;base64," in (out_dir / "report.html").read_text(encoding="utf-8")


def test_modes_and_normalization(capsys, tmp_path):
    ref = tmp_path / "ref"
    hyp = tmp_path / "hyp"
    ref.write_text("u1 Hello, World!\n", encoding="utf-8")
    hyp.write_text("u1\t<s> hello world </s>\n", encoding="utf-8")
    code, out, _ = run(capsys, "score", ref, hyp, "--mode", "wer")
    assert out.startswith("%WER 200.00 [ 4 / 2, 2 ins, 0 del, 2 sub ]")
    code, out, _ = run(capsys, "score", ref, hyp, "--normalize")
    assert code == 0 and out.startswith("%WER 0.00 [ 0 / 2, 0 ins, 0 del, 0 sub ]")
    code, out, _ = run(capsys, "score", ref, hyp, "--mode", "cer", "--normalize")
    assert out.startswith("%CER 0.00 [ 0 / 10,")
    mapping = tmp_path / "map"
    mapping.write_text("world earth\n", encoding="utf-8")
    code, out, _ = run(capsys, "score", ref, hyp, "--normalize", "--mapping", mapping)
    assert out.startswith("%WER 0.00")


def test_compare(capsys, tmp_path):
    ref = tmp_path / "ref"
    a = tmp_path / "a"
    b = tmp_path / "b"
    ref.write_text("".join(f"u{i} a b c d\n" for i in range(30)), encoding="utf-8")
    a.write_text("".join(f"u{i} a x c\n" for i in range(30)), encoding="utf-8")
    b.write_text("".join(f"u{i} a b c d\n" for i in range(30)), encoding="utf-8")
    code, out, _ = run(
        capsys, "score", ref, a, "--compare", b, "--bootstrap", "300", "--out", tmp_path / "cmp"
    )
    assert code == 0
    assert "A: %WER 50.00" in out and "B: %WER 0.00" in out
    assert "P(B better than A) = 1.0000" in out and "MAPSSWE" in out
    assert (tmp_path / "cmp" / "compare.txt").exists() and (tmp_path / "cmp" / "A" / "details.txt").exists()
    code2, out2, _ = run(capsys, "score", ref, "--compare", a, b, "--bootstrap", "300")
    assert code2 == 0 and out2 == out


@pytest.mark.parametrize(
    "setup,argv,message",
    [
        (lambda d: None, ["score", "{d}/nope", "{d}/hyp"], "nope: reference file not found"),
        (
            lambda d: (d / "ref").write_text("u1 a\nu1 b\n"),
            ["score", "{d}/ref", "{d}/hyp"],
            "ref:2: duplicate key 'u1'",
        ),
        (
            lambda d: (d / "ref").write_bytes(b"u1 \xff\n"),
            ["score", "{d}/ref", "{d}/hyp"],
            "ref:1: not valid UTF-8",
        ),
        (
            lambda d: (d / "ref").write_text(" u1 a\n"),
            ["score", "{d}/ref", "{d}/hyp"],
            "ref:1: line starts with",
        ),
        (
            lambda d: (d / "ref").write_text("zz a\n"),
            ["score", "{d}/ref", "{d}/hyp"],
            "no utterance key is shared",
        ),
        (
            lambda d: (d / "ref").write_text("u1 a\nu2 b\n"),
            ["score", "{d}/ref", "{d}/hyp", "--strict-keys"],
            "key sets",
        ),
        (lambda d: None, ["score", "{d}/hyp"], "give the hypothesis file"),
        (
            lambda d: None,
            ["score", "{d}/hyp", "{d}/hyp", "--compare", "{d}/hyp", "{d}/hyp"],
            "exactly two systems",
        ),
        (lambda d: None, ["score", "{d}/hyp", "{d}/hyp", "--mapping", "{d}/nomap"], "nomap"),
        (lambda d: None, ["score", "{d}/hyp", "{d}/hyp", "--utt2spk", "{d}"], "Is a directory"),
        (
            lambda d: None,
            ["score", "{d}/hyp", "{d}/hyp", "--bootstrap", "0", "--compare", "{d}/hyp"],
            "--bootstrap",
        ),
        (lambda d: None, ["score", "{d}/hyp", "{d}/hyp", "--max-ranked", "-1"], "--max-ranked must be >= 0"),
    ],
)
def test_bad_input_is_one_line_and_exit_1(capsys, tmp_path, setup, argv, message):
    (tmp_path / "hyp").write_text("u1 a\n", encoding="utf-8")
    setup(tmp_path)
    code, out, err = run(capsys, *[a.format(d=tmp_path) for a in argv])
    assert code == 1
    assert err.count("\n") == 1 and err.startswith("cifst score: error: "), err
    assert message in err
    assert "Traceback" not in err


def test_hotwords_block(capsys, tmp_path):
    pytest.importorskip("asr.scoring.hotword_metrics")
    hw = tmp_path / "hw.txt"
    hw.write_text("会议室\npython 2.0\nbatch size :1.5\n", encoding="utf-8")
    code, out, _ = run(
        capsys, "score", SAMPLES / "ref", SAMPLES / "hyp", "--hotwords", hw, "--out", tmp_path / "r"
    )
    assert code == 0
    assert "%HOTWORD recall 66.67 [ 2 / 3 ]" in out  # 'batch size' became 'batch 赛斯'
    assert (tmp_path / "r" / "hotwords.txt").read_text(encoding="utf-8").startswith("%HOTWORD")
    assert "<h2>Hotwords</h2><pre>%HOTWORD recall" in (tmp_path / "r" / "report.html").read_text(
        encoding="utf-8"
    )
    code, out, err = run(
        capsys, "score", SAMPLES / "ref", SAMPLES / "hyp", "--hotwords", tmp_path / "none.txt"
    )
    assert code == 1 and out == "" and "none.txt" in err
