"""Global CMVN: stats equal numpy's mean/std over all frames, normalization gives zero mean / unit variance,
save/load round trip, bad files named."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from asr.errors import CifstError, InputError
from asr.features.cmvn import CmvnAccumulator, GlobalCmvn


def _mats(seed=0):
    rng = np.random.default_rng(seed)
    return [(rng.standard_normal((n, 6)) * np.arange(1, 7) + 5.0).astype(np.float32) for n in (10, 1, 33, 7)]


def test_stats_equal_numpy():
    mats = _mats()
    cmvn = GlobalCmvn.compute(iter(mats), progress=False)
    allx = np.concatenate(mats).astype(np.float64)
    np.testing.assert_allclose(cmvn.mean, allx.mean(axis=0), rtol=1e-6)
    np.testing.assert_allclose(cmvn.std, allx.std(axis=0), rtol=1e-5)
    assert cmvn.frames == 51
    normed = cmvn.apply(np.concatenate(mats))
    np.testing.assert_allclose(normed.mean(axis=0), 0.0, atol=1e-5)
    np.testing.assert_allclose(normed.std(axis=0), 1.0, atol=1e-4)


def test_merge_equals_single_pass_and_torch_apply():
    mats = _mats(1)
    a, b = CmvnAccumulator(), CmvnAccumulator()
    for x in mats[:2]:
        a.add(x)
    for x in mats[2:]:
        b.add(torch.from_numpy(x))
    a.merge(b)
    one = GlobalCmvn.compute(mats, progress=False)
    merged = a.finish()
    np.testing.assert_allclose(merged.mean, one.mean, rtol=1e-6)
    np.testing.assert_allclose(merged.std, one.std, rtol=1e-6)
    x = torch.from_numpy(mats[0])
    np.testing.assert_allclose(one.apply(x).numpy(), one.apply(mats[0]), rtol=1e-5, atol=1e-6)


def test_constant_dimension_is_floored_and_empty_raises():
    x = np.ones((5, 2), np.float32)
    cmvn = GlobalCmvn.compute([x], progress=False)
    assert np.all(np.isfinite(cmvn.apply(x)))
    with pytest.raises(CifstError, match="no feature frames"):
        GlobalCmvn.compute([None, np.zeros((0, 2))], progress=False)


def test_save_load_round_trip(tmp_path):
    cmvn = GlobalCmvn.compute(_mats(), progress=False)
    cmvn.save(tmp_path / "cmvn.json")
    assert GlobalCmvn.load(tmp_path / "cmvn.json") == cmvn


def test_bad_files_are_named(tmp_path):
    p = tmp_path / "cmvn.json"
    p.write_text("{not json")
    with pytest.raises(InputError, match="cmvn.json:1"):
        GlobalCmvn.load(p)
    p.write_text(json.dumps({"dim": 2, "mean": [0, 0], "std": [1, 0]}))
    with pytest.raises(InputError, match="dimension 1"):
        GlobalCmvn.load(p)
    p.write_text(json.dumps({"dim": 3, "mean": [0, 0], "std": [1, 1]}))
    with pytest.raises(InputError, match="dim says 3"):
        GlobalCmvn.load(p)


def test_dimension_mismatch_on_apply():
    cmvn = GlobalCmvn.identity(560)
    with pytest.raises(ValueError, match="560 dims"):
        cmvn.apply(np.zeros((3, 80), np.float32))
