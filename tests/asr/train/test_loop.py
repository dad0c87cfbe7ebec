"""Training loop: resume after a simulated kill continues with the same losses, epoch files and averaging,
TensorBoard-readable logs, and a 2-process DDP run on CPU (gloo) that keeps the ranks in sync."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))

from fakes import (  # noqa: E402
    FakeSource,
    deterministic_config,
    make_model_and_frontend,
    make_trainer,
    rows,
    tiny_config,
)

from asr.errors import CifstError  # noqa: E402
from asr.train.average import average_checkpoints  # noqa: E402
from asr.train.checkpoint import load_model_state  # noqa: E402
from asr.train.loop import Trainer, warmup_cosine, warmup_decay  # noqa: E402

ROOT = Path(__file__).resolve().parents[3]


def run(exp, seed=0, resume=False, max_steps=None, cfg=None):
    trainer = make_trainer(exp, cfg or tiny_config(), seed)
    return trainer.fit(resume=resume, max_steps=max_steps), trainer.model


@pytest.fixture(scope="module")
def full_run(tmp_path_factory):
    exp = tmp_path_factory.mktemp("full")
    state, model = run(exp)
    return exp, state, model


def test_full_run_writes_the_experiment(full_run):
    exp, state, _ = full_run
    assert state.finished and state.global_step == 8  # 2 epochs x 4 batches
    for name in (
        "checkpoint.pt",
        "epoch_1.pt",
        "epoch_2.pt",
        "final.pt",
        "train.log",
        "losses.tsv",
        "losses.png",
    ):
        assert (exp / name).exists(), name
    assert (exp / "losses.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    train = rows(exp)
    assert [int(r["step"]) for r in train] == list(range(1, 9))
    assert len(rows(exp, "dev")) == 2 and "token_error_rate" in rows(exp, "dev")[0]
    assert float(train[-1]["loss"]) < float(train[0]["loss"])
    # TensorBoard can read the event files
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(exp / "tensorboard"))
    acc.Reload()
    events = acc.Scalars("train/loss")
    assert [e.step for e in events] == list(range(1, 9))
    assert events[0].value == pytest.approx(float(train[0]["loss"]), rel=1e-5)


def test_resume_after_kill_gives_the_same_losses(full_run, tmp_path):
    exp_full, _, model_full = full_run
    exp = tmp_path / "killed"
    state, _ = run(exp, max_steps=5)  # killed after step 5; the last checkpoint is from step 3
    assert state.global_step == 5
    # a new process: other initial weights, other RNG, everything must come from checkpoint.pt
    torch.manual_seed(1234)
    state, model = run(exp, seed=99, resume=True)
    assert state.finished and state.global_step == 8
    full = {int(r["step"]): r for r in rows(exp_full)}
    resumed = rows(exp)
    assert [int(r["step"]) for r in resumed] == list(range(1, 9))  # steps 4-5 were not logged twice
    for r in resumed:
        for k in ("loss", "ce", "mae", "ctc", "mae_ts"):
            assert float(r[k]) == pytest.approx(float(full[int(r["step"])][k]), rel=1e-5, abs=1e-6), (
                r["step"],
                k,
            )
    for (k, a), b in zip(model_full.state_dict().items(), model.state_dict().values()):
        torch.testing.assert_close(a, b, msg=k)


def test_average_is_the_mean_of_parameters(full_run, tmp_path):
    exp, _, _ = full_run
    out = average_checkpoints(exp, 2, tmp_path / "avg_2.pt")
    avg, meta = load_model_state(out)
    e1, _ = load_model_state(exp / "epoch_1.pt")
    e2, _ = load_model_state(exp / "epoch_2.pt")
    assert meta["averaged"] == ["epoch_1.pt", "epoch_2.pt"]
    for k in avg:
        if avg[k].is_floating_point():
            torch.testing.assert_close(avg[k], (e1[k] + e2[k]) / 2)
    assert not torch.equal(e1["decoder.output.weight"], e2["decoder.output.weight"])
    with pytest.raises(CifstError, match="lower --num to at most 2"):
        average_checkpoints(exp, 3)


def test_warmup_decay_shape():
    f = warmup_decay(100)
    assert f(50) == pytest.approx(0.5) and f(100) == pytest.approx(1.0) and f(400) == pytest.approx(0.5)


def test_warmup_cosine_shape():
    f = warmup_cosine(100, 1100, 0.1)
    assert f(50) == pytest.approx(0.5) and f(100) == pytest.approx(1.0)
    assert f(600) == pytest.approx(0.1 + 0.9 * 0.5)  # half-way through the decay
    assert f(1100) == pytest.approx(0.1) and f(5000) == pytest.approx(0.1)  # floor, held past the end
    values = [f(s) for s in range(100, 1101, 50)]
    assert all(a >= b for a, b in zip(values, values[1:]))


def test_cosine_schedule_reaches_floor_at_last_update(tmp_path):
    """With ``lr_schedule: cosine`` the LR of the last update of the last epoch is ``lr * min_lr_ratio``."""
    cfg = tiny_config()
    cfg.train.epochs, cfg.train.save_every_steps = 2, 0
    cfg.train.lr_schedule, cfg.train.min_lr_ratio, cfg.train.warmup_steps = "cosine", 0.25, 1
    src = FakeSource(n_utts=6, batch=2)
    model, frontend = make_model_and_frontend(cfg, 0)
    trainer = Trainer(model, frontend, cfg.train, tmp_path / "exp", src, None, "cpu", progress=False)
    trainer.fit()
    assert trainer.state.global_step == 6
    assert trainer.optimizer.param_groups[0]["lr"] == pytest.approx(cfg.train.lr * 0.25)


def test_gradient_accumulation_matches_one_big_batch(tmp_path):
    """accum_grad=2 over batches of 2 == one update over the same 4 utterances (per-token CE differs only by
    the per-batch normalization, so compare with a dropout-free model on equal-length utterances)."""
    cfg = deterministic_config()
    cfg.train.epochs = 1

    class Same(FakeSource):
        def __init__(self, batch):
            super().__init__(n_utts=4, batch=batch)
            feats, toks = self.items[0]
            g = torch.Generator().manual_seed(5)
            self.items = [(feats + 0.1 * torch.randn(feats.shape, generator=g), toks) for _ in range(4)]

    results = []
    for batch, accum in ((2, 2), (4, 1)):
        cfg.train.accum_grad = accum
        model, frontend = make_model_and_frontend(cfg, 0)
        trainer = Trainer(
            model, frontend, cfg.train, tmp_path / f"b{batch}", Same(batch), None, "cpu", progress=False
        )
        # plain SGD: Adam's first step is ~sign(grad) and would amplify rounding noise in near-zero gradients
        trainer.optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
        trainer.scheduler = torch.optim.lr_scheduler.LambdaLR(trainer.optimizer, lambda step: 1.0)
        before = {k: v.clone() for k, v in model.state_dict().items()}
        trainer.fit()
        results.append({k: v - before[k] for k, v in model.state_dict().items() if v.is_floating_point()})
    assert any(d.abs().max() > 1e-3 for d in results[0].values())  # the step did move the parameters
    for k in results[0]:
        torch.testing.assert_close(results[0][k], results[1][k], atol=1e-6, rtol=1e-4, msg=k)


def run_ddp(out: Path, *extra: str) -> None:
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",  # a free port, so parallel runs do not collide
        "--nproc_per_node",
        "2",
        str(Path(__file__).parent / "ddp_worker.py"),
        str(out),
        *extra,
    ]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]


def assert_ranks_in_sync(out: Path) -> None:
    r0 = torch.load(out / "rank0.pt", weights_only=True)
    r1 = torch.load(out / "rank1.pt", weights_only=True)
    for k in r0:
        torch.testing.assert_close(r0[k], r1[k], msg=k)


def test_two_process_ddp_on_cpu(tmp_path):
    run_ddp(tmp_path)
    assert_ranks_in_sync(tmp_path)
    assert (tmp_path / "final.pt").exists() and (tmp_path / "epoch_2.pt").exists()
    train = rows(tmp_path)
    assert [int(r["step"]) for r in train] == list(range(1, 9))  # 16 utts / 2 per batch / 2 ranks x 2 epochs
    ckpt = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    assert len(ckpt["rng"]) == 2


def test_raising_epochs_and_resuming_trains_further(full_run, tmp_path):
    import shutil

    exp_full, _, _ = full_run
    exp = tmp_path / "longer"
    shutil.copytree(exp_full, exp)
    cfg = tiny_config()
    cfg.train.epochs = 3
    state, _ = run(exp, seed=5, resume=True, cfg=cfg)
    assert state.finished and state.global_step == 12 and (exp / "epoch_3.pt").exists()
    state, _ = run(exp, seed=5, resume=True, cfg=cfg)  # nothing left to do
    assert state.global_step == 12


def test_average_best_by_dev_metric(tmp_path):
    from asr.train.checkpoint import save_model_file

    losses = [3.0, 1.0, 2.0, 1.5]
    for epoch, loss in enumerate(losses, start=1):
        state = {"w": torch.full((2, 2), float(epoch)), "n": torch.tensor(epoch)}
        save_model_file(tmp_path / f"epoch_{epoch}.pt", state, {"epoch": epoch, "dev_loss": loss})
    out = average_checkpoints(tmp_path, 2, best_by="dev_loss")
    assert out == tmp_path / "avg_best_2.pt"
    avg, meta = load_model_state(out)
    assert meta["averaged"] == ["epoch_2.pt", "epoch_4.pt"] and meta["best_by"] == "dev_loss"
    torch.testing.assert_close(avg["w"], torch.full((2, 2), 3.0))  # (2 + 4) / 2
    assert int(avg["n"]) == 4  # integer buffers from the newest chosen
    # the last-N default is unchanged
    assert load_model_state(average_checkpoints(tmp_path, 2))[1]["averaged"] == ["epoch_3.pt", "epoch_4.pt"]
    with pytest.raises(
        CifstError, match=r"--best-by dev_ctc: not in the meta of epoch_1.pt.*metrics in epoch_4.pt: dev_loss"
    ):
        average_checkpoints(tmp_path, 2, best_by="dev_ctc")


def test_average_leaves_out_the_epochs_that_did_not_train_a_tensor(tmp_path):
    """As after ``train.ctc_only_epochs: [2, 3]``: the decoder's tensor is bit-identical in epochs 1-3 and moves in
    epoch 4, so it is averaged over the epochs that trained it, while the encoder's is a plain mean."""
    from asr.train.checkpoint import save_model_file

    dec = {1: 10.0, 2: 10.0, 3: 10.0, 4: 40.0}
    for epoch in range(1, 5):
        state = {
            "enc": torch.full((3,), float(epoch)),
            "dec": torch.full((2,), dec[epoch]),
            "n": torch.tensor(epoch),
        }
        save_model_file(tmp_path / f"epoch_{epoch}.pt", state, {"epoch": epoch})
    avg, meta = load_model_state(average_checkpoints(tmp_path, 3))
    torch.testing.assert_close(avg["enc"], torch.full((3,), 3.0))  # (2 + 3 + 4) / 3
    torch.testing.assert_close(avg["dec"], torch.full((2,), 40.0))  # epochs 2 and 3 did not train it
    assert meta["untrained_in"] == {"epoch_2.pt": 1, "epoch_3.pt": 1}
    # epoch 1 has no earlier checkpoint to compare with, so it counts as trained
    avg, meta = load_model_state(average_checkpoints(tmp_path, 4))
    torch.testing.assert_close(avg["enc"], torch.full((3,), 2.5))
    torch.testing.assert_close(avg["dec"], torch.full((2,), 25.0))  # (10 + 40) / 2
    # a tensor no chosen epoch trained keeps its value
    avg, _ = load_model_state(average_checkpoints(tmp_path, 2, tmp_path / "a.pt"))  # epochs 3, 4
    torch.testing.assert_close(avg["dec"], torch.full((2,), 40.0))
    (tmp_path / "epoch_4.pt").unlink()
    avg, meta = load_model_state(average_checkpoints(tmp_path, 2, tmp_path / "b.pt"))  # epochs 2, 3
    torch.testing.assert_close(avg["dec"], torch.full((2,), 10.0))
    torch.testing.assert_close(avg["enc"], torch.full((3,), 2.5))


def test_specaug_starts_at_the_configured_epoch(tmp_path, monkeypatch):
    """``train.specaug_from_epoch: 2``: epoch 1 trains on clean features, epoch 2 on masked ones, dev never."""
    import asr.features.frontend as frontend_mod

    cfg = tiny_config()
    assert cfg.frontend.specaug is not None
    cfg.train.epochs, cfg.train.save_every_steps, cfg.train.specaug_from_epoch = 2, 0, 2
    trainer = make_trainer(tmp_path / "exp", cfg)
    masked_in_epoch = []
    real = frontend_mod.spec_augment

    def spy(*args, **kwargs):
        masked_in_epoch.append(trainer.state.epoch)
        return real(*args, **kwargs)

    monkeypatch.setattr(frontend_mod, "spec_augment", spy)
    trainer.fit()
    assert trainer.state.global_step == 8  # 2 epochs x 4 batches, dev run after each
    assert masked_in_epoch == [2, 2, 2, 2]


def test_specaug_from_epoch_must_be_positive(tmp_path):
    from asr.models.config import load_config

    path = tmp_path / "c.yaml"
    path.write_text("train:\n  specaug_from_epoch: 0\n", encoding="utf-8")
    with pytest.raises(CifstError, match="specaug_from_epoch=0 must be >= 1"):
        load_config(path)


def test_start_epoch_branches_from_an_epoch_file(tmp_path):
    """``--start-epoch 2`` in a dir holding only ``epoch_1.pt``: the first update of epoch 2 sees the same model,
    batch and LR as the uninterrupted run's (same loss, same LR at every step); the run ends at the same step with
    epoch 1's dev result kept in the history."""
    import shutil

    cfg = deterministic_config()
    cfg.train.lr_schedule = "cosine"
    full = tmp_path / "full"
    make_trainer(full, cfg).fit()
    branch = tmp_path / "branch"
    branch.mkdir()
    shutil.copyfile(full / "epoch_1.pt", branch / "epoch_1.pt")
    trainer = make_trainer(branch, cfg, seed=1)  # other init: the epoch file must overwrite it
    state = trainer.fit(start_epoch=2)
    assert state.finished and state.global_step == 8
    assert [h["epoch"] for h in state.history] == [1, 2]
    assert state.history[0] == load_model_state(full / "epoch_1.pt")[1]
    a, b = rows(full), rows(branch)
    assert [int(r["step"]) for r in b] == [5, 6, 7, 8]
    assert [float(r["lr"]) for r in b] == [float(r["lr"]) for r in a[4:]]
    assert float(b[0]["loss"]) == pytest.approx(float(a[4]["loss"]), rel=1e-5)


def test_start_epoch_errors(tmp_path):
    cfg = deterministic_config()
    model, frontend = make_model_and_frontend(cfg, 0)
    trainer = Trainer(model, frontend, cfg.train, tmp_path, FakeSource(), None, "cpu", progress=False)
    with pytest.raises(CifstError, match="epoch_1.pt: missing; --start-epoch 2"):
        trainer.fit(start_epoch=2)
    with pytest.raises(CifstError, match="must be between 2 and train.epochs"):
        trainer.fit(start_epoch=3)
    with pytest.raises(CifstError, match="exclude each other"):
        trainer.fit(resume=True, start_epoch=2)


def outside_ctc(name: str) -> bool:
    return not name.startswith(("encoder.", "ctc."))


def test_ctc_only_epochs_train_the_encoder_alone(tmp_path):
    """``train.ctc_only_epochs: [1]``: epoch 1's loss is the CTC loss, the predictor, decoder and timestamp head
    stay exactly at their initial weights (no step, no weight decay) while the encoder moves; epoch 2 trains all."""
    cfg = deterministic_config()
    cfg.train.ctc_only_epochs = [1]
    cfg.train.weight_decay = 0.01
    init = make_model_and_frontend(cfg, 0)[0].state_dict()  # run() builds the same model from seed 0
    _, model = run(tmp_path, cfg=cfg)
    train = rows(tmp_path)
    first, second = [r for r in train if r["epoch"] == "1"], [r for r in train if r["epoch"] == "2"]
    assert len(first) == len(second) == 4
    assert all(r["ce"] == "" and r["mae_ts"] == "" and float(r["loss"]) == float(r["ctc"]) for r in first)
    assert all(r["ce"] != "" and float(r["loss"]) != float(r["ctc"]) for r in second)
    epoch1, _ = load_model_state(tmp_path / "epoch_1.pt")
    outside = [k for k in init if outside_ctc(k) and init[k].is_floating_point()]
    assert any(k.startswith("decoder.") for k in outside) and any(k.startswith("timestamp.") for k in outside)
    for k in outside:
        torch.testing.assert_close(epoch1[k], init[k], rtol=0, atol=0, msg=k)
    assert not torch.equal(epoch1["ctc.proj.weight"], init["ctc.proj.weight"])
    final = model.state_dict()
    assert not torch.equal(final["decoder.output.weight"], init["decoder.output.weight"])


def test_ctc_only_loss_is_the_models_ctc_loss():
    cfg = deterministic_config()
    model, frontend = make_model_and_frontend(cfg, 0)
    model.eval()
    batch = next(iter(FakeSource().iterate(0)))
    x, x_lens = frontend(batch["feats"], batch["feats_lens"])
    full = model(x, x_lens, batch["tokens"], batch["tokens_lens"])
    alone = model(x, x_lens, batch["tokens"], batch["tokens_lens"], ctc_only=True)
    assert set(alone) == {"ctc", "loss"}
    torch.testing.assert_close(alone["ctc"], full["ctc"])


def test_ctc_only_epochs_under_ddp(tmp_path):
    """Two gloo ranks with epoch 1 CTC-only: the ranks stay in sync and rank 0's initial decoder is untouched
    after epoch 1 (DDP's unused-parameter handling must not step it)."""
    run_ddp(tmp_path, "ctc-only")
    assert_ranks_in_sync(tmp_path)
    cfg = tiny_config()
    init, _ = make_model_and_frontend(cfg, seed=0)  # rank 0's start, which DDP broadcasts
    epoch1, _ = load_model_state(tmp_path / "epoch_1.pt")
    for k, v in init.state_dict().items():
        if outside_ctc(k) and v.is_floating_point():
            torch.testing.assert_close(epoch1[k], v, rtol=0, atol=0, msg=k)
    assert not torch.equal(epoch1["ctc.proj.weight"], init.state_dict()["ctc.proj.weight"])


@pytest.mark.parametrize(
    ("yaml", "message"),
    [
        ("train:\n  epochs: 3\n  ctc_only_epochs: [1, 4]\n", "epoch 4 is outside 1..train.epochs=3"),
        ("model:\n  ctc_weight: 0.0\ntrain:\n  ctc_only_epochs: [1]\n", "needs the CTC head"),
    ],
)
def test_ctc_only_epochs_checked(tmp_path, yaml, message):
    from asr.models.config import load_config

    path = tmp_path / "c.yaml"
    path.write_text(yaml, encoding="utf-8")
    with pytest.raises(CifstError, match=message):
        load_config(path)


# the spy below replaces optimizer.step, which torch's LR scheduler notices and warns about
@pytest.mark.filterwarnings("ignore:Seems like `optimizer.step\\(\\)` has been overridden")
def test_weight_decay_starts_at_the_configured_epoch(tmp_path, monkeypatch):
    """``train.weight_decay_from_epoch: 2``: every update of epoch 1 runs with no decay, every one of epoch 2 with
    ``train.weight_decay``, also in a run killed in epoch 2 and resumed from the checkpoint saved at the end of
    epoch 1 (whose optimizer groups carry epoch 1's zero decay)."""
    cfg = deterministic_config()
    cfg.train.epochs, cfg.train.weight_decay, cfg.train.weight_decay_from_epoch = 2, 0.01, 2

    def fit(exp, **kwargs):
        trainer = make_trainer(exp, cfg)
        seen = []
        real = trainer.optimizer.step

        def spy(*args, **kw):
            seen.append((trainer.state.epoch, trainer.optimizer.param_groups[0]["weight_decay"]))
            return real(*args, **kw)

        monkeypatch.setattr(trainer.optimizer, "step", spy)
        trainer.fit(**kwargs)
        return seen

    assert fit(tmp_path / "full") == [(1, 0.0)] * 4 + [(2, 0.01)] * 4
    assert fit(tmp_path / "killed", max_steps=6) == [(1, 0.0)] * 4 + [(2, 0.01)] * 2
    assert fit(tmp_path / "killed", resume=True) == [(2, 0.01)] * 4


def test_weight_decay_from_epoch_must_be_positive(tmp_path):
    from asr.models.config import load_config

    path = tmp_path / "c.yaml"
    path.write_text("train:\n  weight_decay_from_epoch: 0\n", encoding="utf-8")
    with pytest.raises(CifstError, match="weight_decay_from_epoch=0 must be >= 1"):
        load_config(path)
    path.write_text("train:\n  weight_decay: -0.1\n", encoding="utf-8")
    with pytest.raises(CifstError, match="weight_decay=-0.1 must be >= 0"):
        load_config(path)


@pytest.mark.parametrize("decay_1d", [True, False])
def test_weight_decay_1d(decay_1d):
    """With zero gradients an AdamW step is pure decay: every matrix shrinks by ``lr * weight_decay`` of itself; the
    1-D parameters (biases, norm gains) shrink the same with ``train.weight_decay_1d`` true and stay put with it
    false."""
    from asr.train.loop import make_adamw

    cfg = deterministic_config()
    model, _ = make_model_and_frontend(cfg, 0)
    before = {k: v.detach().clone() for k, v in model.named_parameters()}
    opt = make_adamw(model, lr=0.1, weight_decay=0.5, decay_1d=decay_1d)
    for p in model.parameters():
        p.grad = torch.zeros_like(p)
    opt.step()
    names_1d = [k for k, v in before.items() if v.dim() == 1]
    assert names_1d and any(k.endswith(".bias") for k in names_1d)
    for k, p in model.named_parameters():
        shrink = 1.0 if before[k].dim() == 1 and not decay_1d else 1 - 0.1 * 0.5
        torch.testing.assert_close(p.detach(), before[k] * shrink, msg=k)


def test_resume_under_another_weight_decay_1d_is_a_clear_error(tmp_path):
    cfg = deterministic_config()
    run(tmp_path, max_steps=5, cfg=cfg)  # checkpoint.pt saved at the end of epoch 1 (step 4)
    cfg.train.weight_decay_1d = False
    with pytest.raises(
        CifstError, match=r"checkpoint.pt: its optimizer has 1 parameter group\(s\), this config makes 2"
    ):
        run(tmp_path, resume=True, cfg=cfg)
