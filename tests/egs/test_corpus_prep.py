"""AISHELL-1 and LibriSpeech data preparation on tiny fake copies of their layouts."""

from __future__ import annotations

import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest
import soundfile

from asr.data.kaldi_dir import read_spk2utt, read_text, read_utt2spk, read_wav_scp

ROOT = Path(__file__).resolve().parents[2]


def _tone(path: Path, seconds: float = 0.3, fmt: str = "WAV") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(16000 * seconds)) / 16000
    soundfile.write(path, (0.1 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), 16000, format=fmt)


def _prep(recipe: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, f"egs/{recipe}/asr/local/prepare_data.py", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)  # fmt: skip


def _fake_aishell(root: Path) -> Path:
    corpus = root / "data_aishell"
    (corpus / "transcript").mkdir(parents=True)
    lines = {
        "BAC009S0002W0122": "而 对 楼市 成交 抑制 作用 最 大 的 限 购",
        "BAC009S0002W0123": "也 成为 地方 政府 的 眼中 钉",
        "BAC009S0724W0121": "甚至 出现 交易 几乎 停滞 的 情况",
        "BAC009S0764W0121": "一二 线 城市 虽然 也 处于 调整 中",
        "BAC009S0764W0122": "但 因为 聚集 了 过多 公共 资源",
    }
    (corpus / "transcript" / "aishell_transcript_v0.8.txt").write_text(
        "".join(f"{k} {v}\n" for k, v in lines.items()), encoding="utf-8"
    )
    _tone(corpus / "wav" / "train" / "S0002" / "BAC009S0002W0122.wav")
    _tone(corpus / "wav" / "train" / "S0002" / "BAC009S0002W0123.wav")
    _tone(corpus / "wav" / "train" / "S0002" / "BAC009S0002W0999.wav")  # no transcript: left out
    _tone(corpus / "wav" / "dev" / "S0724" / "BAC009S0724W0121.wav")
    # the test speaker ships as an archive, as the corpus does
    staging = root / "staging"
    _tone(staging / "test" / "S0764" / "BAC009S0764W0121.wav")
    _tone(staging / "test" / "S0764" / "BAC009S0764W0122.wav")
    with tarfile.open(corpus / "wav" / "S0764.tar.gz", "w:gz") as tar:
        tar.add(staging / "test", arcname="test")
    return corpus


def test_aishell_layout(tmp_path):
    corpus = _fake_aishell(tmp_path)
    data = tmp_path / "data"
    proc = _prep("aishell", str(corpus), str(data))
    assert proc.returncode == 0, proc.stderr
    assert "1 wav files have no transcript" in proc.stderr
    train = read_text(data / "train" / "text", require_sorted=True)
    assert train == {"BAC009S0002W0122": "而 对 楼 市 成 交 抑 制 作 用 最 大 的 限 购",
                     "BAC009S0002W0123": "也 成 为 地 方 政 府 的 眼 中 钉"}  # fmt: skip
    assert read_utt2spk(data / "train" / "utt2spk") == {
        "BAC009S0002W0122": "S0002",
        "BAC009S0002W0123": "S0002",
    }
    test_wav = read_wav_scp(data / "test" / "wav.scp")
    assert set(test_wav) == {"BAC009S0764W0121", "BAC009S0764W0122"}  # unpacked from S0764.tar.gz
    assert all(Path(p).is_file() and Path(p).is_absolute() for p in test_wav.values())
    assert read_spk2utt(data / "test" / "spk2utt") == {"S0764": ["BAC009S0764W0121", "BAC009S0764W0122"]}
    assert (data / "local" / "lm_text").read_text(encoding="utf-8").splitlines() == list(train.values())
    words = _prep("aishell", str(corpus), str(tmp_path / "data_w"), "--unit", "word")
    assert words.returncode == 0
    assert read_text(tmp_path / "data_w" / "dev" / "text") == {
        "BAC009S0724W0121": "甚至 出现 交易 几乎 停滞 的 情况"
    }


def test_aishell_wrong_directory_is_explained(tmp_path):
    proc = _prep("aishell", str(tmp_path), str(tmp_path / "data"))
    assert proc.returncode == 1
    assert "aishell_transcript_v0.8.txt not found" in proc.stderr


def _fake_librispeech(root: Path) -> Path:
    corpus = root / "LibriSpeech"
    parts = {
        "train-clean-100": {
            ("103", "1240"): ["CHAPTER ONE MISSUS RACHEL LYNDE IS SURPRISED", "THAT HAD ITS SOURCE"]
        },
        "train-clean-360": {("100", "121669"): ["TOM THE PIPER'S SON"]},
        "dev-clean": {("1272", "128104"): ["MISTER QUILTER IS THE APOSTLE OF THE MIDDLE CLASSES"]},
        "test-clean": {("1089", "134686"): ["HE HOPED THERE WOULD BE STEW FOR DINNER"]},
    }
    for part, chapters in parts.items():
        for (reader, chapter), texts in chapters.items():
            d = corpus / part / reader / chapter
            d.mkdir(parents=True)
            keys = [f"{reader}-{chapter}-{i:04d}" for i in range(len(texts))]
            (d / f"{reader}-{chapter}.trans.txt").write_text(
                "".join(f"{k} {t}\n" for k, t in zip(keys, texts))
            )
            for k in keys:
                _tone(d / f"{k}.flac", fmt="FLAC")
    (corpus / "SPEAKERS.TXT").write_text(
        "; ID  |SEX| SUBSET           |MINUTES| NAME\n103  | F | train-clean-100  | 25.00 | Karen Savage\n"
        "1272 | M | dev-clean        |  8.08 | John Rose\n"
    )
    return corpus


def test_librispeech_layout(tmp_path):
    corpus = _fake_librispeech(tmp_path)
    data = tmp_path / "data"
    proc = _prep("librispeech", str(corpus), str(data))
    assert proc.returncode == 0, proc.stderr
    assert {p.name for p in data.iterdir()} >= {"train_clean_100", "train_clean_360", "dev_clean", "test_clean",
                                                "train", "local"}  # fmt: skip
    train = read_text(data / "train" / "text", require_sorted=True)
    assert train == {
        "100-121669-0000": "tom the piper's son",
        "103-1240-0000": "chapter one missus rachel lynde is surprised",
        "103-1240-0001": "that had its source",
    }
    assert read_utt2spk(data / "train" / "utt2spk")["103-1240-0001"] == "103-1240"  # speaker = reader-chapter
    assert (data / "dev_clean" / "spk2gender").read_text() == "1272-128104 m\n"
    wav = read_wav_scp(data / "test_clean" / "wav.scp")
    assert soundfile.info(wav["1089-134686-0000"]).format == "FLAC"
    assert (data / "local" / "lm_text").read_text().splitlines() == list(train.values())
    only_100 = _prep("librispeech", str(corpus), str(tmp_path / "d100"), "--train-parts", "train-clean-100")
    assert only_100.returncode == 0
    assert len(read_text(tmp_path / "d100" / "train" / "text")) == 2


def test_librispeech_missing_audio_names_the_line(tmp_path):
    corpus = _fake_librispeech(tmp_path)
    (corpus / "dev-clean" / "1272" / "128104" / "1272-128104-0000.flac").unlink()
    proc = _prep("librispeech", str(corpus), str(tmp_path / "data"))
    assert proc.returncode == 1
    assert "1272-128104.trans.txt:1" in proc.stderr and "no audio" in proc.stderr


@pytest.mark.parametrize("name", ["aishell", "librispeech"])
def test_recipe_stage_0_needs_the_corpus_option(tmp_path, recipes, name):
    recipe = recipes.copy(name, tmp_path)
    proc = recipes.run(recipe, "--stop-stage", "0")
    assert proc.returncode == 1
    assert "--corpus DIR is required" in proc.stderr


def test_aishell_recipe_stage_0(tmp_path, recipes):
    corpus = _fake_aishell(tmp_path / "corpus")
    recipe = recipes.copy("aishell", tmp_path)
    proc = recipes.run(recipe, "--stop-stage", "0", "--corpus", str(corpus))
    assert proc.returncode == 0, proc.stderr
    assert len(read_text(recipe / "data" / "test" / "text")) == 2
