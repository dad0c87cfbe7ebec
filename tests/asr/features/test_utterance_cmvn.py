"""Per-utterance CMVN in the front end (``frontend.utterance_cmvn``): equal to a numpy reference on a padded batch,
blind to gain, blind to added leading/trailing silence when the speech-frame floor is on (and not when it is off),
configured from YAML with a named error for a bad floor."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from asr.errors import InputError
from asr.features import Frontend, FrontendConfig, GlobalCmvn, UtteranceCmvnConfig, apply_lfr
from asr.models.config import load_config, save_config

SILENCE = -15.0  # the log-mel floor of digital silence (kaldi-native-fbank, dither 0)


def _speech(rng, n):
    """Speech-like log-mel frames: ~15 with a per-bin tilt and frame-to-frame variation."""
    return (15.0 + np.linspace(-1.5, 1.5, 80)[None, :] + 2.0 * rng.standard_normal((n, 80))).astype(
        np.float32
    )


def _batch(mats):
    lens = torch.tensor([len(m) for m in mats])
    feats = torch.zeros(len(mats), int(lens.max()), 80)
    for b, m in enumerate(mats):
        feats[b, : len(m)] = torch.from_numpy(m)
    return feats, lens


def _cmvn(rng):
    return GlobalCmvn.compute([apply_lfr(_speech(rng, 120)) for _ in range(4)], progress=False)


def _reference(mat, cmvn, floor_db, norm_vars):
    """numpy, float64, one utterance at a time: the mean (and std) per bin over the speech fbank frames."""
    mat = mat.astype(np.float64)
    keep = np.ones(len(mat), bool)
    if floor_db is not None:
        energy = np.logaddexp.reduce(mat, axis=1)
        keep = energy >= energy.max() - floor_db * np.log(10.0) / 10.0
    mean, std = mat[keep].mean(axis=0), np.maximum(mat[keep].std(axis=0), 1e-5)
    lfr = apply_lfr(mat)
    return (lfr - np.tile(mean, 7)) / (np.tile(std, 7) if norm_vars else np.asarray(cmvn.std))


@pytest.mark.parametrize("floor_db, norm_vars", [(40.0, False), (None, False), (40.0, True), (10.0, True)])
def test_padded_batch_equals_per_utterance_numpy(floor_db, norm_vars):
    rng = np.random.default_rng(0)
    cmvn = _cmvn(rng)
    mats = [
        np.concatenate(
            [
                np.full((40, 80), SILENCE, np.float32),
                _speech(rng, 200),
                np.full((25, 80), SILENCE, np.float32),
            ]
        ),
        _speech(rng, 61),
        np.concatenate(
            [_speech(rng, 90) - 3.0, _speech(rng, 60)]
        ),  # a part 13 dB quieter: left out of the stats only by floor_db 10
    ]
    cfg = FrontendConfig(
        specaug=None, utterance_cmvn=UtteranceCmvnConfig(floor_db=floor_db, norm_vars=norm_vars)
    )
    x, x_lens = Frontend(cfg, cmvn).eval()(*_batch(mats))
    for b, m in enumerate(mats):
        ref = _reference(m, cmvn, floor_db, norm_vars)
        n = int(x_lens[b])
        assert n == len(ref)
        np.testing.assert_allclose(x[b, :n].double().numpy(), ref, atol=2e-4)
        assert not x[b, n:].any()


@pytest.mark.parametrize("norm_vars", [False, True])
def test_gain_leaves_the_output_unchanged(norm_vars):
    rng = np.random.default_rng(1)
    cmvn = _cmvn(rng)
    mat = np.concatenate([np.full((30, 80), SILENCE, np.float32), _speech(rng, 150)])
    cfg = FrontendConfig(specaug=None, utterance_cmvn=UtteranceCmvnConfig(norm_vars=norm_vars))
    fe, plain = Frontend(cfg, cmvn).eval(), Frontend(FrontendConfig(specaug=None), cmvn).eval()
    gain = 2.3  # +10 dB: every log-mel bin moves by ln(10)
    a, _ = fe(*_batch([mat]))
    b, _ = fe(*_batch([mat + gain]))
    torch.testing.assert_close(a, b, atol=1e-4, rtol=0)
    pa, _ = plain(*_batch([mat]))
    pb, _ = plain(*_batch([mat + gain]))
    assert (pa - pb).abs().mean() > 0.3  # the global CMVN alone does see the gain


def test_added_silence_moves_speech_frames_only_with_every_frame_counted():
    rng = np.random.default_rng(2)
    cmvn = _cmvn(rng)
    speech = _speech(rng, 240)
    # silence in whole LFR hops (6 frames), so the speech rows stay aligned: 1.2 s before, 0.6 s after
    padded = np.concatenate(
        [np.full((120, 80), SILENCE, np.float32), speech, np.full((60, 80), SILENCE, np.float32)]
    )
    shifts = {}
    for floor_db in (40.0, None):
        fe = Frontend(
            FrontendConfig(specaug=None, utterance_cmvn=UtteranceCmvnConfig(floor_db=floor_db)), cmvn
        )
        a, _ = fe.eval()(*_batch([speech]))
        b, _ = fe(*_batch([padded]))
        inner = slice(1, 40)  # LFR rows with the same 7 stacked frames in both (row 0 repeats frame 0)
        shifts[floor_db] = (a[0, inner] - b[0, 20 + inner.start : 20 + inner.stop]).abs().mean().item()
    assert shifts[40.0] < 1e-4 and shifts[None] > 1.0


def test_config_from_yaml_round_trip_and_bad_floor(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("base: tiny\nfrontend:\n  utterance_cmvn:\n    floor_db: 30\n    norm_vars: true\n")
    cfg = load_config(path)
    assert cfg.frontend.utterance_cmvn == UtteranceCmvnConfig(floor_db=30.0, norm_vars=True)
    save_config(cfg, tmp_path / "saved.yaml")
    assert load_config(tmp_path / "saved.yaml").frontend.utterance_cmvn == cfg.frontend.utterance_cmvn
    builtin = tmp_path / "t.yaml"
    builtin.write_text("base: tiny\n")
    assert load_config(builtin).frontend.utterance_cmvn is None  # off unless asked for
    path.write_text("base: tiny\nfrontend:\n  utterance_cmvn:\n    floor_db: 0\n")
    with pytest.raises(InputError, match=r"c\.yaml.*frontend\.utterance_cmvn\.floor_db=0"):
        load_config(path)
