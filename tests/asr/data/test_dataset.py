"""AsrDataset on a real data dir made with espeak-ng: good utterances become fbank + tokens; unreadable, empty,
too-long, missing-text and failing-pipe utterances are skipped with a warning naming them; text outside the
token set is warned about per utterance; training adds dither and speed perturbation; collate pads."""

from __future__ import annotations

import logging
import shutil
import subprocess

import numpy as np
import pytest
import soundfile as sf
import torch

from asr.data.audio import load_audio
from asr.data.dataset import AsrDataset, DatasetConfig, cmvn_stats, collate_asr, compute_cmvn
from asr.features.fbank import compute_fbank
from asr.features.lfr import apply_lfr
from asr.text.tokenizer import train_tokenizer

pytestmark = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng not installed")

GOOD = {
    "a1": "the cat sat on the mat",
    "a2": "a dog ran in the park",
    "a3": "birds sing at dawn",
}


def _speak(path, text):
    subprocess.run(["espeak-ng", "-s", "220", "-w", str(path), text], check=True)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("data")
    wav = d / "wav"
    wav.mkdir()
    wav_scp, text = {}, {}
    for key, t in GOOD.items():
        _speak(wav / f"{key}.wav", t)  # 22050 Hz: resampled to 16 kHz on load
        wav_scp[key], text[key] = str(wav / f"{key}.wav"), t
    _speak(wav / "long.wav", "this sentence is spoken for far longer than the limit we set in the test " * 2)
    wav_scp["b_long"], text["b_long"] = str(wav / "long.wav"), "the cat"
    sf.write(wav / "empty.wav", np.zeros(0, np.float32), 16000)
    wav_scp["b_empty"], text["b_empty"] = str(wav / "empty.wav"), "the dog"
    (wav / "junk.wav").write_bytes(b"junk")
    wav_scp["b_junk"], text["b_junk"] = str(wav / "junk.wav"), "the dog"
    wav_scp["b_pipefail"], text["b_pipefail"] = "exit 1 |", "the dog"
    wav_scp["b_notext"] = str(wav / "a1.wav")
    text["b_noaudio"] = "the cat"
    wav_scp["b_emptytext"], text["b_emptytext"] = str(wav / "a1.wav"), ""
    wav_scp["c_oov"], text["c_oov"] = str(wav / "a2.wav"), "a dog ran in the señor park"
    wav_scp["c_pipe"], text["c_pipe"] = f"sox {wav / 'a3.wav'} -t wav - |", GOOD["a3"]
    # a pipe that only fails when read (its duration is given, so it is not probed)
    wav_scp["c_latefail"], text["c_latefail"] = "exit 2 |", "the cat"
    (d / "utt2dur").write_text("c_latefail 1.0\n")
    for name, table in (("wav.scp", wav_scp), ("text", text)):
        lines = [f"{k} {v}".rstrip() for k, v in sorted(table.items())]
        (d / name).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return d


@pytest.fixture(scope="module")
def tokenizer():
    return train_tokenizer("char", list(GOOD.values()), 0)


def test_filtering_and_warnings(data_dir, tokenizer, caplog):
    with caplog.at_level(logging.WARNING):
        ds = AsrDataset(data_dir, tokenizer, train=True, max_duration=4.0, progress=False)
    assert ds.keys == ["a1", "a2", "a3", "c_latefail", "c_oov", "c_pipe"]
    reasons = ds.skipped
    assert set(reasons) == {
        "b_long",
        "b_empty",
        "b_junk",
        "b_pipefail",
        "b_notext",
        "b_noaudio",
        "b_emptytext",
    }
    assert "longer than max_duration 4.0" in reasons["b_long"]
    assert "empty" in reasons["b_empty"]
    assert "cannot read audio" in reasons["b_junk"]
    assert "status 1" in reasons["b_pipefail"]
    assert "no line in text" in reasons["b_notext"]
    assert "no audio" in reasons["b_noaudio"]
    assert "empty transcript" in reasons["b_emptytext"]
    messages = [r.getMessage() for r in caplog.records]
    for key in reasons:
        assert any(f"'{key}'" in m for m in messages), key
    oov = [m for m in messages if "'c_oov'" in m]
    assert oov and "'ñ'" in oov[0] and "<unk>" in oov[0]
    assert any("resampling to 16000" in m for m in messages) or ds.keys  # warned once per process
    assert tokenizer.unk_id in ds[ds.keys.index("c_oov")]["tokens"].tolist()
    assert len(ds.num_frames) == len(ds) and all(n > 50 for n in ds.num_frames)


def test_skip_policy_for_bad_text(data_dir, tokenizer):
    ds = AsrDataset(
        data_dir, tokenizer, config=DatasetConfig(max_duration=4.0, bad_text="skip"), progress=False
    )
    assert "c_oov" not in ds.keys and "outside tokens.txt" in ds.skipped["c_oov"]


def test_items_equal_fbank_of_resampled_audio(data_dir, tokenizer):
    ds = AsrDataset(data_dir, tokenizer, train=False, max_duration=4.0, progress=False)
    item = ds[0]
    wave, _ = load_audio(str(data_dir / "wav" / "a1.wav"), 16000)
    np.testing.assert_array_equal(item["feats"].numpy(), compute_fbank(wave, 16000))
    assert item["key"] == "a1" and item["feats"].dtype == torch.float32
    assert item["tokens"].tolist() == tokenizer.encode(GOOD["a1"])
    # the sox pipe gives the same audio as the file
    pipe = ds[ds.keys.index("c_pipe")]
    file = ds[ds.keys.index("a3")]
    np.testing.assert_allclose(pipe["feats"].numpy(), file["feats"].numpy(), atol=1e-3)


def test_late_failure_returns_none_and_collate_drops_it(data_dir, tokenizer, caplog):
    ds = AsrDataset(data_dir, tokenizer, train=False, max_duration=4.0, progress=False)
    with caplog.at_level(logging.WARNING):
        bad = ds[ds.keys.index("c_latefail")]
    assert bad is None
    assert any("'c_latefail'" in r.getMessage() and "status 2" in r.getMessage() for r in caplog.records)
    batch = collate_asr([ds[0], bad, ds[1]])
    assert batch["keys"] == ["a1", "a2"]
    b, t, d = batch["feats"].shape
    assert b == 2 and d == 80 and t == max(ds[0]["feats"].shape[0], ds[1]["feats"].shape[0])
    assert batch["feats_lens"].tolist() == [ds[0]["feats"].shape[0], ds[1]["feats"].shape[0]]
    assert batch["tokens_lens"].tolist() == [len(ds[0]["tokens"]), len(ds[1]["tokens"])]
    short = int(batch["tokens_lens"].argmin())
    assert (batch["tokens"][short, batch["tokens_lens"][short] :] == -1).all()
    empty = collate_asr([None])
    assert empty["keys"] == [] and empty["feats"].shape[0] == 0


def test_training_dither_and_speed_perturbation(data_dir, tokenizer):
    ds = AsrDataset(
        data_dir, tokenizer, train=True, speed_perturb=True, max_duration=4.0, seed=7, progress=False
    )
    plain = AsrDataset(data_dir, tokenizer, train=False, max_duration=4.0, progress=False)
    base = plain[0]["feats"].shape[0]
    seen = {}
    for epoch in range(12):
        ds.set_epoch(epoch)
        factor = ds.speed_factor(0)
        frames = ds[0]["feats"].shape[0]
        seen[factor] = frames
    assert set(seen) == {0.9, 1.0, 1.1}
    assert abs(seen[0.9] - base / 0.9) <= 2 and abs(seen[1.1] - base / 1.1) <= 2
    ds.set_epoch(0)
    assert ds.speed_factor(0) == ds.speed_factor(0)  # reproducible per (seed, epoch, index)
    # dither: two reads of the same utterance at speed 1.0 differ slightly
    ds_dither = AsrDataset(data_dir, tokenizer, train=True, max_duration=4.0, progress=False)
    a, b = ds_dither[0]["feats"], ds_dither[0]["feats"]
    assert not torch.equal(a, b) and float((a - b).abs().median()) < 0.5  # silence moves most


def test_segments_and_audio_only(tmp_path):
    wav = tmp_path / "rec.wav"
    _speak(wav, "one two three four five six")
    dur = sf.info(wav).duration
    (tmp_path / "wav.scp").write_text(f"rec {wav}\nrec2 {tmp_path / 'nothere.wav'}\n")
    (tmp_path / "segments").write_text(
        f"s1 rec 0.0 {dur / 2:.3f}\ns2 rec {dur / 2:.3f} -1\ns3 rec2 0 1\ns4 nosuch 0 1\n"
    )
    ds = AsrDataset(tmp_path, None, progress=False)
    assert ds.keys == ["s1", "s2"]
    assert "not in wav.scp" in ds.skipped["s4"] and "cannot read audio" in ds.skipped["s3"]
    full, _ = load_audio(str(wav), 16000)
    n1 = ds[0]["feats"].shape[0]
    n2 = ds[1]["feats"].shape[0]
    total = compute_fbank(full, 16000).shape[0]
    assert abs(n1 + n2 - total) <= 3
    assert ds[0]["tokens"].numel() == 0
    assert collate_asr([ds[0], ds[1]])["tokens"].shape == (2, 0)


def test_compute_cmvn_over_lfr_features(data_dir, tokenizer):
    ds = AsrDataset(data_dir, tokenizer, train=True, speed_perturb=True, max_duration=4.0, progress=False)
    cmvn = compute_cmvn(ds, 7, 6, progress=False)
    assert cmvn.dim == 560
    mats = []
    for i, key in enumerate(ds.keys):
        if key == "c_latefail":
            continue
        mats.append(apply_lfr(ds.features(i, augment=False)))
    allx = np.concatenate(mats).astype(np.float64)
    np.testing.assert_allclose(cmvn.mean, allx.mean(axis=0), rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(cmvn.std, allx.std(axis=0), rtol=1e-4, atol=1e-4)


def test_dataloader_with_workers_and_sampler(data_dir):
    from torch.utils.data import DataLoader

    from asr.data.sampler import BucketBatchSampler

    tok = train_tokenizer("bpe", list(GOOD.values()) * 5, 30)
    ds = AsrDataset(data_dir, tok, train=True, max_duration=4.0, progress=False)
    sampler = BucketBatchSampler(ds.num_frames, max_frames=800, seed=0)
    import pickle

    again = pickle.loads(pickle.dumps(ds))  # what a spawned worker receives
    assert again.keys == ds.keys and torch.equal(again[0]["tokens"], ds[0]["tokens"])
    loader = DataLoader(ds, batch_sampler=sampler, collate_fn=collate_asr, num_workers=2)
    keys = [k for batch in loader for k in batch["keys"]]
    assert sorted(keys) == sorted(k for k in ds.keys if k != "c_latefail")


def test_compute_cmvn_with_workers_and_subset(data_dir, tokenizer):
    ds = AsrDataset(data_dir, tokenizer, train=False, max_duration=4.0, progress=False)
    one = compute_cmvn(ds, progress=False)
    two = compute_cmvn(ds, progress=False, num_workers=2)
    np.testing.assert_allclose(two.mean, one.mean, rtol=1e-6)
    assert two.frames == one.frames
    sub = compute_cmvn(ds, progress=False, max_utterances=2)
    assert 0 < sub.frames < one.frames


def test_cmvn_shards_of_ddp_ranks_merge_to_the_whole_set(data_dir, tokenizer):
    from asr.features.cmvn import CmvnAccumulator

    ds = AsrDataset(data_dir, tokenizer, train=False, max_duration=4.0, progress=False)
    whole = compute_cmvn(ds, progress=False)
    shards = [cmvn_stats(ds, progress=False, shard=(r, 2)) for r in range(2)]
    assert 0 < shards[0].count < whole.frames and shards[0].count + shards[1].count == whole.frames
    summed = CmvnAccumulator.from_array(shards[0].to_array() + shards[1].to_array())  # what all_reduce does
    merged = summed.finish()
    assert merged.frames == whole.frames
    np.testing.assert_allclose(merged.mean, whole.mean, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(merged.std, whole.std, rtol=1e-6, atol=1e-6)


def test_cmvn_pass_through_the_training_cache_fills_it_with_the_ranks_items(data_dir, tokenizer):
    from asr.data.sampler import rank_items
    from asr.train.data import CachedDataset

    ds = AsrDataset(data_dir, tokenizer, train=False, max_duration=4.0, progress=False)
    direct = cmvn_stats(ds, progress=False, shard=(1, 2))
    cache = CachedDataset(ds)
    through = cmvn_stats(ds, progress=False, shard=(1, 2), items=cache)
    np.testing.assert_allclose(through.to_array(), direct.to_array(), rtol=1e-6)
    # the pass cached exactly the items the sharded sampler gives rank 1, so training reads no audio again
    assert set(cache._cache) == set(rank_items(len(ds), 1, 2).tolist())
