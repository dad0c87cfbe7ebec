"""Precomputed fbank (`cifst data fbank`, asr.data.feats): the stored matrices are exactly the fbank of the audio
(kaldiio reads them back), unreadable audio is named and left out, a killed run resumes chunk by chunk, changed
options start over, and AsrDataset reads the matrices without touching the audio, refusing features made with
other fbank options."""

from __future__ import annotations

import logging
import shutil
import subprocess

import kaldiio
import numpy as np
import pytest

from asr.cli import main
from asr.data.audio import load_audio
from asr.data.dataset import AsrDataset
from asr.data.feats import compute_feats
from asr.errors import CifstError, InputError
from asr.features.fbank import FbankConfig, compute_fbank
from asr.text.tokenizer import train_tokenizer

pytestmark = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng not installed")

TEXT = {"a1": "the cat sat on the mat", "a2": "a dog ran in the park", "a3": "birds sing at dawn"}


@pytest.fixture(scope="module")
def source_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("feats_src")
    (d / "wav").mkdir()
    wav_scp, text = {}, dict(TEXT)
    for key, t in TEXT.items():
        path = d / "wav" / f"{key}.wav"
        subprocess.run(["espeak-ng", "-s", "200", "-w", str(path), t], check=True)  # 22050 Hz: resampled
        wav_scp[key] = str(path)
    wav_scp["a4"] = f"cat {d / 'wav' / 'a1.wav'} |"
    text["a4"] = TEXT["a1"]
    (d / "wav" / "junk.wav").write_bytes(b"junk")
    wav_scp["b_junk"], text["b_junk"] = str(d / "wav" / "junk.wav"), "the cat"
    for name, table in (("wav.scp", wav_scp), ("text", text), ("utt2spk", {k: k for k in text})):
        (d / name).write_text("".join(f"{k} {table[k]}\n" for k in sorted(table)), encoding="utf-8")
    (d / "spk2utt").write_text("".join(f"{k} {k}\n" for k in sorted(text)), encoding="utf-8")
    return d


@pytest.fixture
def data_dir(source_dir, tmp_path):
    d = tmp_path / "data"
    shutil.copytree(source_dir, d)
    return d


def _expected(data_dir, key, config):
    spec = dict(line.split(" ", 1) for line in (data_dir / "wav.scp").read_text().splitlines())[key]
    wave, rate = load_audio(spec, config.sample_rate)
    return compute_fbank(wave, rate, config, 0.0)


def test_matrices_equal_the_fbank_of_the_audio(data_dir, caplog):
    config = FbankConfig()
    with caplog.at_level(logging.WARNING):
        report = compute_feats(data_dir, config, jobs=2, chunk_size=2, progress=False)
    assert report.written == 4 and report.chunks == 3 and report.resumed == 0
    assert set(report.failed) == {"b_junk"}
    assert "b_junk" in caplog.text and "junk.wav" in caplog.text
    lines = (data_dir / "feats.scp").read_text().splitlines()
    assert [line.split()[0] for line in lines] == ["a1", "a2", "a3", "a4"]
    stored = dict(kaldiio.load_scp(str(data_dir / "feats.scp")))
    frames = dict(line.split() for line in (data_dir / "utt2num_frames").read_text().splitlines())
    for key in TEXT:
        want = _expected(data_dir, key, config)
        np.testing.assert_array_equal(stored[key], want)
        assert int(frames[key]) == want.shape[0]
    assert report.frames == sum(int(v) for v in frames.values())
    np.testing.assert_array_equal(stored["a4"], stored["a1"])  # the pipe reads the same audio


def test_resume_recomputes_only_missing_chunks(data_dir):
    config = FbankConfig()
    compute_feats(data_dir, config, chunk_size=2, progress=False)
    scp = (data_dir / "feats.scp").read_text()
    arks = {p.name: p.stat().st_mtime_ns for p in (data_dir / "fbank").glob("feats.*.ark")}
    (data_dir / "fbank" / "chunk.1.json").unlink()  # as if killed while chunk 1 was written
    report = compute_feats(data_dir, config, chunk_size=2, progress=False)
    assert (report.chunks, report.resumed) == (3, 2)
    assert (data_dir / "feats.scp").read_text() == scp
    now = {p.name: p.stat().st_mtime_ns for p in (data_dir / "fbank").glob("feats.*.ark")}
    assert now["feats.0.ark"] == arks["feats.0.ark"] and now["feats.2.ark"] == arks["feats.2.ark"]
    # other options: nothing is reused
    report = compute_feats(data_dir, FbankConfig(num_mel_bins=40), chunk_size=2, progress=False)
    assert report.resumed == 0
    assert dict(kaldiio.load_scp(str(data_dir / "feats.scp")))["a1"].shape[1] == 40


def test_dataset_reads_matrices_without_the_audio(data_dir):
    config = FbankConfig(dither=0.0)
    tok = train_tokenizer("char", list(TEXT.values()), 0)
    from_audio = AsrDataset(data_dir, tok, config, progress=False)
    compute_feats(data_dir, config, progress=False)
    # the dataset must not open the audio any more (not even its headers): point wav.scp nowhere
    (data_dir / "wav.scp").write_text(
        "".join(f"{k} /nonexistent/{k}.wav\n" for k in ("a1", "a2", "a3", "a4"))
    )
    ds = AsrDataset(data_dir, tok, config, progress=False)
    assert ds.feats is not None
    assert ds.keys == from_audio.keys == ["a1", "a2", "a3", "a4"]
    assert ds.num_frames == from_audio.num_frames
    for i in range(len(ds)):
        item = ds[i]
        np.testing.assert_array_equal(
            item["feats"].numpy(), from_audio[i]["feats"].numpy(), err_msg=ds.keys[i]
        )
        assert item["tokens"].tolist() == from_audio[i]["tokens"].tolist()
    # a feature-only directory (no wav.scp, no utt2num_frames: the matrices are read for their lengths)
    (data_dir / "wav.scp").unlink()
    (data_dir / "utt2num_frames").unlink()
    only = AsrDataset(data_dir, tok, config, progress=False)
    assert only.keys == ds.keys and only.num_frames == ds.num_frames
    np.testing.assert_array_equal(only[3]["feats"].numpy(), ds[3]["feats"].numpy())
    # speed perturbation needs the audio: feats.scp is not used
    (data_dir / "wav.scp").write_text(
        "".join(f"{k} /nonexistent/{k}.wav\n" for k in ("a1", "a2", "a3", "a4"))
    )
    sp = AsrDataset(data_dir, tok, config, train=True, speed_perturb=True, check_audio=False, progress=False)
    assert sp.feats is None
    # nor when the config turns it off
    assert AsrDataset(data_dir, tok, config, use_feats=False, check_audio=False, progress=False).feats is None


def test_features_of_other_options_are_refused(data_dir):
    compute_feats(data_dir, FbankConfig(num_mel_bins=40), progress=False)
    with pytest.raises(InputError) as e:
        AsrDataset(data_dir, None, FbankConfig(), progress=False)
    msg = str(e.value)
    assert "feats.json" in msg and "num_mel_bins: 40 here, 80" in msg and "cifst data fbank" in msg
    # a feats.scp from elsewhere (no feats.json): the dimension is checked when a matrix is read
    (data_dir / "feats.json").unlink()
    ds = AsrDataset(data_dir, None, FbankConfig(), progress=False)
    with pytest.raises(InputError, match=r"feats.scp: utterance 'a1': .* \[frames, 80\]"):
        ds.features(0)


def test_cli_then_fix_drops_the_unreadable(data_dir, tmp_path, capsys):
    conf = tmp_path / "conf.yaml"
    conf.write_text("base: tiny\nfbank:\n  num_mel_bins: 80\n  dither: 0.0\n")
    assert (
        main(
            [
                "data",
                "fbank",
                "--config",
                str(conf),
                "--jobs",
                "2",
                "--chunk-size",
                "2",
                "--no-progress",
                str(data_dir),
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "fbank of 4 utterances" in out and "1 without features (run cifst data fix)" in out
    assert main(["data", "validate", str(data_dir)]) == 1  # feats.scp lacks b_junk
    assert "feats.scp" in capsys.readouterr().err
    assert main(["data", "fix", "--no-backup", str(data_dir)]) == 0
    assert "dropped b_junk" in capsys.readouterr().out
    assert main(["data", "validate", str(data_dir)]) == 0
    assert main(["data", "fbank", "--jobs", "0", str(data_dir)]) == 1
    assert "--jobs" in capsys.readouterr().err


def test_a_write_failure_is_a_clear_error_and_keeps_finished_chunks(data_dir, monkeypatch):
    import asr.data.feats as feats

    real = feats._chunk_job

    def full_disk(args):
        if args[0] == 1:
            raise OSError(28, "No space left on device")
        return real(args)

    monkeypatch.setattr(feats, "_chunk_job", full_disk)
    with pytest.raises(
        CifstError, match=r"fbank: cannot write the features .*No space left.*1 finished chunks"
    ):
        compute_feats(data_dir, FbankConfig(), chunk_size=2, progress=False)
    monkeypatch.setattr(feats, "_chunk_job", real)
    report = compute_feats(data_dir, FbankConfig(), chunk_size=2, progress=False)
    assert (report.chunks, report.resumed, report.written) == (3, 1, 4)
