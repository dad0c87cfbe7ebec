"""cifst data combine: the union of data directories, keys made unique by tags, the result a valid data dir."""

from __future__ import annotations

from pathlib import Path

import pytest

from asr.cli import main
from asr.data.combine import combine_data_dirs, parse_source
from asr.data.kaldi_dir import read_kv, read_spk2utt
from asr.data.validate import validate_data_dir
from asr.errors import InputError


def _dir(root: Path, name: str, utts: dict[str, tuple[str, str]], extra: bool = True) -> Path:
    """utts: key -> (speaker, words)."""
    d = root / name
    d.mkdir()
    keys = sorted(utts)
    (d / "utt2spk").write_text("".join(f"{k} {utts[k][0]}\n" for k in keys))
    (d / "text").write_text("".join(f"{k} {utts[k][1]}\n" for k in keys))
    (d / "wav.scp").write_text("".join(f"{k} /audio/{name}/{k}.wav\n" for k in keys))
    spk2utt: dict[str, list[str]] = {}
    for k in keys:
        spk2utt.setdefault(utts[k][0], []).append(k)
    (d / "spk2utt").write_text("".join(f"{s} {' '.join(v)}\n" for s, v in sorted(spk2utt.items())))
    if extra:
        (d / "utt2dur").write_text("".join(f"{k} 1.5\n" for k in keys))
        (d / "ctm").write_text("".join(f"{k} 1 0.00 0.50 {utts[k][1].split()[0]} 1.00\n" for k in keys))
    return d


A = {"spk1-tr00000": ("spk1", "the cat sat"), "spk2-tr00001": ("spk2", "a dog ran")}
B = {"spk1-tr00000": ("spk1", "birds sing at dawn"), "spk3-tr00001": ("spk3", "rain again")}


def test_tagged_inputs_combine_into_a_valid_directory(tmp_path):
    a, b = _dir(tmp_path, "a", A), _dir(tmp_path, "b", B)
    out = tmp_path / "out"
    report = combine_data_dirs(out, [(a, ""), (b, "wn")])
    assert report.utterances == 4 and report.speakers == 3 and not report.left_out
    assert validate_data_dir(out).ok
    text = read_kv(out / "text")
    assert text == {
        "spk1-tr00000": "the cat sat",
        "spk1-tr00000-wn": "birds sing at dawn",
        "spk2-tr00001": "a dog ran",
        "spk3-tr00001-wn": "rain again",
    }
    assert list(text) == sorted(text)  # written in C-locale order
    assert read_kv(out / "wav.scp")["spk1-tr00000-wn"] == "/audio/b/spk1-tr00000.wav"
    assert read_spk2utt(out / "spk2utt")["spk1"] == ["spk1-tr00000", "spk1-tr00000-wn"]
    ctm_keys = [ln.split()[0] for ln in (out / "ctm").read_text().splitlines()]
    assert sorted(ctm_keys) == sorted(text)


def test_a_key_in_two_inputs_without_a_tag_is_an_error_naming_both(tmp_path):
    a, b = _dir(tmp_path, "a", A), _dir(tmp_path, "b", B)
    with pytest.raises(InputError, match=r"b/text:1: .*spk1-tr00000.*already in .*a/text.*DIR:TAG"):
        combine_data_dirs(tmp_path / "out", [(a, ""), (b, "")])
    assert not (tmp_path / "out" / "text").exists()  # nothing half-written


def test_a_file_missing_from_one_input_is_left_out(tmp_path):
    a, b = _dir(tmp_path, "a", A), _dir(tmp_path, "b", B, extra=False)
    report = combine_data_dirs(tmp_path / "out", [(a, ""), (b, "x")])
    assert set(report.left_out) == {"utt2dur", "ctm"}
    assert not (tmp_path / "out" / "utt2dur").exists()
    assert validate_data_dir(tmp_path / "out").ok


def test_segments_tag_their_recordings_too(tmp_path):
    dirs = []
    for name in ("a", "b"):
        d = tmp_path / name
        d.mkdir()
        (d / "wav.scp").write_text("rec1 /audio/rec1.wav\n")
        (d / "segments").write_text("spk1-u1 rec1 0.00 1.00\n")
        (d / "utt2spk").write_text("spk1-u1 spk1\n")
        (d / "spk2utt").write_text("spk1 spk1-u1\n")
        (d / "text").write_text(f"spk1-u1 words of {name}\n")
        dirs.append(d)
    out = tmp_path / "out"
    combine_data_dirs(out, [(dirs[0], ""), (dirs[1], "b")])
    assert read_kv(out / "segments") == {"spk1-u1": "rec1 0.00 1.00", "spk1-u1-b": "rec1-b 0.00 1.00"}
    assert read_kv(out / "wav.scp") == {"rec1": "/audio/rec1.wav", "rec1-b": "/audio/rec1.wav"}
    assert validate_data_dir(out).ok


def test_parse_source_and_the_command(tmp_path, capsys):
    assert parse_source("data/train:wn") == (Path("data/train"), "wn")
    assert parse_source("data/train") == (Path("data/train"), "")
    a, b = _dir(tmp_path, "a", A), _dir(tmp_path, "b", B)
    assert main(["data", "combine", str(tmp_path / "out"), str(a), f"{b}:wn"]) == 0
    assert "4 utterances, 3 speakers from 2 directories" in capsys.readouterr().out
    assert main(["data", "combine", str(tmp_path / "out2"), str(a), str(b)]) != 0
    assert "spk1-tr00000" in capsys.readouterr().err


def test_stored_features_keep_their_options_only_when_the_inputs_agree(tmp_path):
    a, b = _dir(tmp_path, "a", A), _dir(tmp_path, "b", B)
    for d, utts in ((a, A), (b, B)):
        (d / "feats.scp").write_text(
            "".join(f"{k} /f/{d.name}.ark:{i}\n" for i, k in enumerate(sorted(utts)))
        )
        (d / "feats.json").write_text('{"kind": "fbank", "num_mel_bins": 80}\n')
    report = combine_data_dirs(tmp_path / "same", [(a, ""), (b, "x")])
    assert "feats.scp" in report.written and "feats.json" in report.written
    assert (tmp_path / "same" / "feats.json").read_text() == (a / "feats.json").read_text()
    assert read_kv(tmp_path / "same" / "feats.scp")["spk1-tr00000-x"] == "/f/b.ark:0"
    (b / "feats.json").write_text('{"kind": "fbank", "num_mel_bins": 40}\n')
    report = combine_data_dirs(tmp_path / "differ", [(a, ""), (b, "x")])
    assert "feats.json" in report.left_out and not (tmp_path / "differ" / "feats.json").exists()
