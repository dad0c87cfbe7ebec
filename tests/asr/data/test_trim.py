"""Silence trimming (`cifst data trim`, asr.data.trim): on tone bursts placed at known times in a quiet floor, the
kept frames are the burst plus the margin; the trimmed feats.scp rows are the stored matrix's rows; the new
segments file describes audio whose fbank is exactly those rows (so features computed again from the audio agree);
ctm times follow the cut; trimming twice changes nothing; bad input is named."""

from __future__ import annotations

import kaldiio
import numpy as np
import pytest
import soundfile as sf

from asr.cli import main
from asr.data.dataset import AsrDataset
from asr.data.feats import compute_feats
from asr.data.kaldi_dir import read_segments
from asr.data.trim import speech_span, trim_data_dir
from asr.errors import InputError
from asr.features.fbank import FbankConfig

RATE = 16000
# key -> (seconds of floor before the burst, burst seconds, seconds of floor after)
LAYOUT = {"u1": (0.40, 1.00, 0.60), "u2": (0.00, 0.80, 0.90), "u3": (0.25, 0.50, 0.05)}


def _signal(lead: float, burst: float, trail: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    n = int(round((lead + burst + trail) * RATE))
    x = 1e-4 * rng.standard_normal(n)  # a floor ~70 dB under the burst
    a, b = int(round(lead * RATE)), int(round((lead + burst) * RATE))
    t = np.arange(b - a) / RATE
    x[a:b] += 0.3 * np.sin(2 * np.pi * 300 * t) + 0.1 * np.sin(2 * np.pi * 1700 * t)
    return x.astype(np.float32)


@pytest.fixture
def data_dir(tmp_path):
    d = tmp_path / "data"
    (d / "wav").mkdir(parents=True)
    for i, (key, layout) in enumerate(LAYOUT.items()):
        sf.write(d / "wav" / f"{key}.wav", _signal(*layout, seed=i), RATE, subtype="FLOAT")
    lines = {
        "wav.scp": [f"{k} {d / 'wav' / k}.wav" for k in LAYOUT],
        "text": [f"{k} a tone" for k in LAYOUT],
        "utt2spk": [f"{k} {k}" for k in LAYOUT],
        "spk2utt": [f"{k} {k}" for k in LAYOUT],
        # one word over the burst of u1, one over its floor before it
        "ctm": ["u1 1 0.100 0.200 quiet 1.00", "u1 1 0.400 1.000 tone 1.00"],
    }
    for name, rows in lines.items():
        (d / name).write_text("".join(r + "\n" for r in rows), encoding="utf-8")
    compute_feats(d, FbankConfig(dither=0.0), progress=False)
    return d


def _expected_span(lead: float, burst: float, total_frames: int, margin: int) -> tuple[int, int]:
    """Frames (25 ms windows every 10 ms) that overlap the burst, widened by ``margin`` frames."""
    first = max(0, int(np.ceil((lead - 0.025) / 0.01)))
    last = int(np.ceil((lead + burst) / 0.01)) - 1
    return max(0, first - margin), min(total_frames - 1, last + margin)


def test_kept_frames_are_the_burst_plus_margin_and_match_the_audio(data_dir, tmp_path):
    out = tmp_path / "trim"
    report = trim_data_dir(data_dir, out, margin=0.1, floor_db=40.0, progress=False)
    stored = dict(kaldiio.load_scp(str(data_dir / "feats.scp")))
    trimmed = dict(kaldiio.load_scp(str(out / "feats.scp")))
    frames = {
        k: int(v) for k, v in (line.split() for line in (out / "utt2num_frames").read_text().splitlines())
    }
    segments = read_segments(out / "segments")
    assert report.utterances == 3 and report.frames_in == sum(m.shape[0] for m in stored.values())
    for key, (lead, burst, _) in LAYOUT.items():
        first, last = _expected_span(lead, burst, stored[key].shape[0], margin=10)
        seg = segments[key]
        got_first = int(round(seg.start / 0.01))
        assert abs(got_first - first) <= 1, (
            key
        )  # a window reaching 1-2 samples into the burst may be below the floor
        assert abs(got_first + frames[key] - 1 - last) <= 1, key
        np.testing.assert_array_equal(trimmed[key], stored[key][got_first : got_first + frames[key]])
        assert seg.recording == key and seg.end == pytest.approx(seg.start + (frames[key] - 1) * 0.01 + 0.025)
    assert report.frames_out == sum(frames.values()) < report.frames_in
    # fbank computed again from the audio the segments describe is the trimmed matrix
    config = FbankConfig(dither=0.0)
    again = AsrDataset(out, None, config, use_feats=False, progress=False)
    via_feats = AsrDataset(out, None, config, progress=False)
    assert again.keys == via_feats.keys == list(LAYOUT)
    assert via_feats.num_frames == [frames[k] for k in LAYOUT]
    for i, key in enumerate(again.keys):
        np.testing.assert_allclose(again.features(i), trimmed[key], atol=1e-4, err_msg=key)
        np.testing.assert_array_equal(via_feats.features(i), trimmed[key])
    durs = dict(line.split() for line in (out / "utt2dur").read_text().splitlines())
    assert float(durs["u1"]) == pytest.approx(segments["u1"].end - segments["u1"].start, abs=1e-3)
    # ctm: times move with the leading cut; a word before it is clipped to the start
    cut = segments["u1"].start
    ctm = [line.split() for line in (out / "ctm").read_text().splitlines()]
    assert ctm[1][4] == "tone" and float(ctm[1][2]) == pytest.approx(0.4 - cut, abs=1e-3)
    assert float(ctm[1][3]) == pytest.approx(1.0, abs=1e-3)
    assert float(ctm[0][2]) == 0.0 and float(ctm[0][3]) == pytest.approx(max(0.0, 0.3 - cut), abs=1e-3)
    # the rest is copied
    assert (out / "text").read_text() == (data_dir / "text").read_text()
    assert (out / "wav.scp").read_text() == (data_dir / "wav.scp").read_text()


def test_trimming_twice_changes_nothing(data_dir, tmp_path):
    once, twice = tmp_path / "once", tmp_path / "twice"
    trim_data_dir(data_dir, once, progress=False)
    report = trim_data_dir(once, twice, progress=False)
    assert report.frames_out == report.frames_in
    for name in ("feats.scp", "segments", "utt2num_frames", "utt2dur", "ctm"):
        assert (twice / name).read_text() == (once / name).read_text(), name


def test_a_wider_floor_or_margin_keeps_more(data_dir, tmp_path):
    kept = [
        trim_data_dir(data_dir, tmp_path / f"t{i}", margin=m, floor_db=f, progress=False).frames_out
        for i, (m, f) in enumerate([(0.0, 40.0), (0.2, 40.0), (0.0, 90.0)])
    ]
    assert kept[0] < kept[1] and kept[0] < kept[2]


def test_speech_span_of_constant_and_empty_matrices():
    assert speech_span(np.zeros((7, 80), np.float32), 40.0, 2) == (0, 6)
    assert speech_span(np.zeros((0, 80), np.float32), 40.0, 2) is None
    x = np.full((20, 4), -20.0, np.float32)
    x[8:11] = 0.0
    assert speech_span(x, 40.0, 0) == (8, 10) and speech_span(x, 40.0, 3) == (5, 13)


def test_bad_input_is_named(data_dir, tmp_path, capsys):
    with pytest.raises(InputError, match="the trimmed directory must differ"):
        trim_data_dir(data_dir, data_dir, progress=False)
    (tmp_path / "nofeats").mkdir()
    with pytest.raises(InputError, match=r"nofeats/feats.scp: missing: run `cifst data fbank`"):
        trim_data_dir(tmp_path / "nofeats", tmp_path / "x", progress=False)
    with pytest.raises(InputError, match="margin -1"):
        trim_data_dir(data_dir, tmp_path / "x", margin=-1.0, progress=False)
    (data_dir / "ctm").write_text("u1 1 0.1 x quiet\n")
    with pytest.raises(InputError, match=r"ctm:1: start/duration must be numbers"):
        trim_data_dir(data_dir, tmp_path / "x", progress=False)
    (data_dir / "feats.scp").write_text(f"u1 {data_dir}/fbank/missing.ark:12\n")
    with pytest.raises(InputError, match=r"feats.scp: utterance 'u1': cannot read"):
        trim_data_dir(data_dir, tmp_path / "x", progress=False)
    assert main(["data", "trim", str(tmp_path / "nofeats"), str(tmp_path / "y")]) == 1
    assert "feats.scp" in capsys.readouterr().err


def test_cli_writes_a_valid_directory(data_dir, tmp_path, capsys):
    out = tmp_path / "trim"
    assert main(["data", "trim", "--margin", "0.05", "--no-progress", str(data_dir), str(out)]) == 0
    msg = capsys.readouterr().out
    assert f"{out}: 3 utterances" in msg and "frames kept" in msg
    assert main(["data", "validate", str(out)]) == 0
