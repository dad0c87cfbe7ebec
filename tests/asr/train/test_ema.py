"""Weight EMA (``train.ema_decay``): the average the trainer writes to ``ema.pt`` equals one computed by hand from
the weights after every update, survives a kill and ``--resume`` unchanged, and leaves training itself alone."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))

from fakes import deterministic_config, make_model_and_frontend, make_trainer, rows  # noqa: E402

from asr.errors import CifstError  # noqa: E402
from asr.train.checkpoint import load_model_state  # noqa: E402
from asr.train.ema import WeightEma, ema_factor  # noqa: E402


def test_ema_factor_warms_up_then_holds():
    assert ema_factor(0.999, 1) == pytest.approx(2 / 11)
    assert ema_factor(0.999, 50) == pytest.approx(51 / 60)
    assert ema_factor(0.999, 100_000) == 0.999


def test_weight_ema_is_the_recursive_average():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4))
    ema = WeightEma(model, 0.9)
    expect = {k: v.clone() for k, v in model.state_dict().items() if v.is_floating_point()}
    for n in range(1, 30):
        with torch.no_grad():
            for p in model.parameters():
                p.add_(torch.randn_like(p))
            model[1].running_mean.add_(1.0)  # a float buffer is averaged too
            model[1].num_batches_tracked += 1  # an integer buffer is not
        ema.update()
        d = min(0.9, (1 + n) / (10 + n))
        for k, v in model.state_dict().items():
            if k in expect:
                expect[k] = d * expect[k] + (1 - d) * v
    state = ema.model_state()
    for k, v in expect.items():
        torch.testing.assert_close(state[k], v, msg=k)
    assert int(state["1.num_batches_tracked"]) == 29
    other = WeightEma(model, 0.9)
    other.load_state_dict(ema.state_dict())
    assert other.updates == 29
    for k, v in expect.items():
        torch.testing.assert_close(other.model_state()[k], v, msg=k)
    with pytest.raises(ValueError, match="must be in"):
        WeightEma(model, 1.0)


def _fit(exp, cfg, record=None, **kwargs):
    trainer = make_trainer(exp, cfg)
    model = trainer.model
    if record is not None:
        real = trainer._update

        def spy():
            norm = real()
            record.append({k: v.detach().clone() for k, v in model.state_dict().items()})
            return norm

        trainer._update = spy
    trainer.fit(**kwargs)
    return model


def test_trainer_writes_the_average_of_every_update(tmp_path):
    cfg = deterministic_config()
    cfg.train.epochs, cfg.train.save_every_steps, cfg.train.ema_decay = 2, 3, 0.8
    init = {k: v.clone() for k, v in make_model_and_frontend(cfg, 0)[0].state_dict().items()}
    after = []
    model = _fit(tmp_path / "full", cfg, after)
    assert len(after) == 8
    expect = {k: v.clone() for k, v in init.items() if v.is_floating_point()}
    for n, weights in enumerate(after, 1):
        d = min(0.8, (1 + n) / (10 + n))
        for k in expect:
            expect[k] = d * expect[k] + (1 - d) * weights[k]
    state, meta = load_model_state(tmp_path / "full" / "ema.pt")
    assert meta == {"epoch": 2, "step": 8, "ema_decay": 0.8}
    assert sorted(state) == sorted(model.state_dict())
    for k, v in expect.items():
        torch.testing.assert_close(state[k], v, msg=k)
    assert not torch.equal(state["ctc.proj.weight"], model.state_dict()["ctc.proj.weight"])

    # killed after step 5 (checkpoint from step 3), resumed: the same average and the same losses as without EMA
    _fit(tmp_path / "killed", cfg, max_steps=5)
    _fit(tmp_path / "killed", cfg, resume=True)
    resumed, _ = load_model_state(tmp_path / "killed" / "ema.pt")
    for k, v in state.items():
        torch.testing.assert_close(resumed[k], v, msg=k)
    cfg.train.ema_decay = 0.0
    _fit(tmp_path / "plain", cfg)
    assert not (tmp_path / "plain" / "ema.pt").exists()
    assert [r["loss"] for r in rows(tmp_path / "plain")] == [r["loss"] for r in rows(tmp_path / "full")]


def test_ema_decay_is_checked(tmp_path):
    from asr.models.config import load_config

    path = tmp_path / "c.yaml"
    path.write_text("train:\n  ema_decay: 1.0\n", encoding="utf-8")
    with pytest.raises(CifstError, match=r"train.ema_decay=1.0 must be in \[0, 1\)"):
        load_config(path)
