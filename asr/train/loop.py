"""The training loop: a Paraformer, a front end and batch sources -> ``checkpoint.pt`` (resumable state),
``epoch_N.pt`` / ``final.pt`` (model only), ``train.log``, ``losses.tsv`` (drawn into ``losses.png`` at every epoch
end) and TensorBoard events in the experiment directory.

Single process or DDP under ``torchrun`` (gloo on CPU, nccl on CUDA; each rank reads its share of the length-bucketed
batches), gradient accumulation, AMP on CUDA, linear warmup then inverse-square-root (noam) or cosine decay, gradient
clipping, validation each epoch, atomic checkpoints every ``save_every_steps`` updates and at epoch ends.
``--resume`` restores model, optimizer, scheduler, AMP scaler, the position inside the epoch (batches already seen
are skipped without being loaded) and every rank's RNG states, so an interrupted run continues with the same losses
it would have had (exactly so with ``num_workers: 0``). ``--start-epoch N`` instead starts epoch N from the model in
``epoch_{N-1}.pt`` with the LR schedule at that file's step and fresh optimizer moments (epoch files hold only the
model), to branch an experiment from one of its epochs (icefall's ``--start-epoch``). With ``train.ema_decay`` rank 0
also keeps an exponential moving average of the weights (``asr/train/ema.py``), saved in ``checkpoint.pt`` and
written to ``ema.pt`` at every epoch end. Reference: the loop structure
of WeNet's ``executor.py`` and icefall's ``train.py`` (checkpoint every N batches, resume mid-epoch).
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Protocol

import torch
import torch.distributed as dist
from torch import nn

from asr.errors import CifstError
from asr.models.config import TrainConfig
from asr.train.average import list_epoch_checkpoints
from asr.train.checkpoint import (
    load_checkpoint,
    load_model_state,
    load_state_strict,
    rng_state,
    save_checkpoint,
    save_model_file,
    set_rng_state,
)
from asr.train.ema import WeightEma

__all__ = [
    "BatchSource",
    "DistInfo",
    "LoopState",
    "Trainer",
    "warmup_decay",
    "init_distributed",
    "edit_distance",
]

LOG = logging.getLogger("cifst.train")

# losses.tsv columns (train rows leave token_error_rate empty, dev rows grad_norm)
TSV_COLUMNS = ["loss", "ce", "mae", "ctc", "mae_ts", "acc", "grad_norm", "token_error_rate"]


class BatchSource(Protocol):
    """What the loop needs from a data pipeline: deterministic batches per epoch for this rank."""

    def set_epoch(self, epoch: int) -> None: ...

    def num_batches(self) -> int: ...

    def iterate(self, skip: int = 0) -> Iterator[dict]:
        """Batches ``{"feats" [B,T,80], "feats_lens" [B], "tokens" [B,U] (-1 pad), "tokens_lens" [B], ...}`` of
        the current epoch, starting after the first ``skip``."""
        ...


@dataclass
class DistInfo:
    """Process-group facts: ``rank``, ``world_size``, ``local_rank`` (1 process: 0, 1, 0)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def init_distributed(device: str) -> tuple[DistInfo, torch.device]:
    """Join the process group when started by ``torchrun`` (``WORLD_SIZE`` > 1): gloo on CPU, nccl on CUDA.

    Args:
        device: ``cpu``, ``cuda`` or ``cuda:N`` (under torchrun, CUDA ranks use ``cuda:LOCAL_RANK``).

    Returns:
        ``(DistInfo, torch.device)``.
    """
    from asr.device import resolve_device

    resolve_device(device)  # a clear error for CUDA asked where there is none
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    dev = torch.device(device)
    if dev.type == "cuda" and world > 1:
        dev = torch.device("cuda", local)
        torch.cuda.set_device(dev)
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if dev.type == "cuda" else "gloo")
    return DistInfo(rank, world, local), dev


def warmup_decay(warmup_steps: int):
    """LR multiplier: ``step / warmup`` up to ``warmup``, then ``sqrt(warmup / step)`` (Noam shape, peak 1)."""
    warmup = max(1, warmup_steps)

    def factor(step: int) -> float:
        step = max(step, 1)
        return min(step / warmup, math.sqrt(warmup / step))

    return factor


def warmup_cosine(warmup_steps: int, total_steps: int, min_ratio: float):
    """LR multiplier: ``step / warmup`` up to ``warmup``, then half a cosine from 1 to ``min_ratio`` at
    ``total_steps`` (held there if training runs longer)."""
    warmup = max(1, warmup_steps)
    span = max(1, total_steps - warmup)

    def factor(step: int) -> float:
        step = max(step, 1)
        if step < warmup:
            return step / warmup
        t = min(1.0, (step - warmup) / span)
        return min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * t))

    return factor


def make_lr_factor(cfg, updates_per_epoch: int):
    """The LR multiplier of ``cfg.lr_schedule`` (``noam`` or ``cosine``) for a run of ``cfg.epochs`` epochs."""
    if cfg.lr_schedule == "cosine":
        return warmup_cosine(cfg.warmup_steps, cfg.epochs * updates_per_epoch, cfg.min_lr_ratio)
    return warmup_decay(cfg.warmup_steps)


def edit_distance(a: list[int], b: list[int]) -> int:
    """Levenshtein distance between two id sequences (for the dev token error rate)."""
    prev = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        cur = [i] + [0] * len(b)
        for j, y in enumerate(b, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (x != y))
        prev = cur
    return prev[-1]


@dataclass
class LoopState:
    """Where training is: ``epoch`` (1-based, the one in progress), ``batches_done`` in it, ``global_step``
    (optimizer updates so far), ``finished`` after the last epoch, and per-epoch dev results."""

    epoch: int = 1
    batches_done: int = 0
    global_step: int = 0
    finished: bool = False
    history: list[dict] = field(default_factory=list)


class _Stop(Exception):
    """Raised inside :meth:`Trainer.fit` when ``max_steps`` is reached (used to simulate a kill in tests)."""


def make_adamw(model: nn.Module, lr: float, weight_decay: float, decay_1d: bool = True) -> torch.optim.AdamW:
    """AdamW, fused (one kernel over all parameters) when every parameter is a float32/bf16/fp16 tensor on the CPU
    or CUDA. PyTorch's CPU default is a per-tensor loop: on the tiny model's 183 tensors its step takes ~10.6 ms on
    one idle core against ~2.0 ms fused, 1-6% of a whole update (``tools/bench/train_step.py --variant
    loop-adamw``); the arithmetic is the same up to rounding.

    Param group 0 holds the parameters that weight decay applies to. With ``decay_1d`` false the 1-D parameters
    (biases, LayerNorm/BatchNorm gains and shifts) go into a second group that never decays, the usual practice
    (shrinking a norm gain towards 0 rescales a whole layer rather than simplifying it); with it true (PyTorch's
    default, the recipes before ``train.weight_decay_1d``) there is one group."""
    params = list(model.parameters())
    fused = bool(params) and all(
        p.device.type in ("cpu", "cuda") and p.dtype in (torch.float32, torch.float16, torch.bfloat16)
        for p in params
    )
    groups: list[dict] = [{"params": params}]
    if not decay_1d:
        groups = [
            {"params": [p for p in params if p.dim() > 1]},
            {"params": [p for p in params if p.dim() <= 1], "weight_decay": 0.0},
        ]
    return torch.optim.AdamW(groups, lr=lr, weight_decay=weight_decay, fused=fused or None)


class Trainer:
    """Runs epochs over a :class:`BatchSource` and writes the experiment directory.

    Args:
        model: The :class:`asr.models.Paraformer` (unwrapped; DDP wrapping happens here).
        frontend: ``asr.features.Frontend`` (LFR + CMVN + SpecAugment in train mode), no trainable parameters.
        cfg: :class:`TrainConfig`.
        exp_dir: Experiment directory.
        train_source: Training batches for this rank.
        dev_source: Validation batches (used on rank 0), or ``None``.
        device: Torch device.
        dist_info: Rank facts (defaults to a single process).
        progress: Show tqdm bars (rank 0).
    """

    def __init__(
        self,
        model: nn.Module,
        frontend: nn.Module,
        cfg: TrainConfig,
        exp_dir: str | os.PathLike,
        train_source: BatchSource,
        dev_source: BatchSource | None,
        device: torch.device | str = "cpu",
        dist_info: DistInfo | None = None,
        progress: bool = True,
    ):
        self.cfg = cfg
        self.exp_dir = Path(exp_dir)
        self.device = torch.device(device)
        self.dist = dist_info or DistInfo()
        self.model = model.to(self.device)
        self.frontend = frontend.to(self.device)
        self.train_source = train_source
        self.dev_source = dev_source
        self.progress = progress and self.dist.is_main
        self.use_amp = cfg.amp and self.device.type == "cuda"
        self.optimizer = make_adamw(model, cfg.lr, cfg.weight_decay, cfg.weight_decay_1d)
        updates = 1
        if cfg.lr_schedule == "cosine":
            train_source.set_epoch(0)
            updates = max(1, math.ceil(train_source.num_batches() / max(1, cfg.accum_grad)))
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, make_lr_factor(cfg, updates))
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.use_amp)
        if self.dist.world_size > 1:
            ids = [self.device.index] if self.device.type == "cuda" else None
            # CTC-only epochs leave the predictor, decoder and timestamp head out of the graph; DDP then leaves
            # their gradients None on every rank, so AdamW skips them (tests/asr/train: CTC-only under DDP)
            unused = bool(cfg.ctc_only_epochs)
            self.net = nn.parallel.DistributedDataParallel(
                model, device_ids=ids, find_unused_parameters=unused
            )
        else:
            self.net = model
        self.state = LoopState()
        # every rank holds the same weights, so one average (rank 0's, which writes the files) is enough
        self.ema = WeightEma(model, cfg.ema_decay) if cfg.ema_decay > 0 and self.dist.is_main else None
        self._writer = None
        self._tsv_columns: list[str] | None = None

    # ----------------------------------------------------------------- state
    def _checkpoint_payload(self) -> dict:
        rngs = [rng_state()]
        if self.dist.world_size > 1:
            rngs = [None] * self.dist.world_size
            dist.all_gather_object(rngs, rng_state())
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
            "state": asdict(self.state),
            "rng": rngs,
            **({"ema": self.ema.state_dict()} if self.ema is not None else {}),
        }

    def save_state(self) -> None:
        """Write ``checkpoint.pt`` (all ranks take part in gathering RNG states; rank 0 writes)."""
        payload = self._checkpoint_payload()
        if self.dist.is_main:
            save_checkpoint(self.exp_dir / "checkpoint.pt", payload)
        self._barrier()

    def restore_state(self) -> bool:
        """Load ``checkpoint.pt`` if present; returns whether it was found."""
        path = self.exp_dir / "checkpoint.pt"
        if not path.exists():
            return False
        ckpt = load_checkpoint(path, map_location=self.device)
        saved_groups = len(ckpt["optimizer"]["param_groups"])
        if saved_groups != len(self.optimizer.param_groups):
            raise CifstError(
                f"{path}: its optimizer has {saved_groups} parameter group(s), this config makes "
                f"{len(self.optimizer.param_groups)}: train.weight_decay_1d was changed since the checkpoint; "
                "set it back to resume"
            )
        self.model.load_state_dict(ckpt["model"])
        self.optimizer.load_state_dict(ckpt["optimizer"])
        self.scheduler.load_state_dict(ckpt["scheduler"])
        self.scaler.load_state_dict(ckpt["scaler"])
        self.state = LoopState(**ckpt["state"])
        if self.ema is not None:
            if "ema" in ckpt:
                self.ema.load_state_dict(ckpt["ema"])
            else:
                LOG.warning(
                    "%s holds no weight average (train.ema_decay was 0): it starts from the restored weights",
                    path,
                )
                self.ema.reset()
        # raising train.epochs in EXP_DIR/config.yaml and resuming trains a finished run further
        self.state.finished = self.state.epoch > self.cfg.epochs
        rngs = ckpt["rng"]
        if len(rngs) == self.dist.world_size:
            set_rng_state(rngs[self.dist.rank])
        else:
            LOG.warning(
                "checkpoint has RNG states of %d ranks, this run has %d: RNG not restored",
                len(rngs),
                self.dist.world_size,
            )
        return True

    def start_from_epoch(self, epoch: int) -> None:
        """Position the run at the start of ``epoch`` from ``EXP_DIR/epoch_{epoch-1}.pt``: its model weights, the LR
        schedule at its step, the dev history of the ``epoch_K.pt`` files before it; the optimizer's moments start
        afresh (an epoch file has none).

        Raises:
            CifstError: ``epoch`` < 2 or beyond ``train.epochs``, a missing or foreign epoch file, or one without
                the step it was saved at.
        """
        if not 2 <= epoch <= self.cfg.epochs:
            raise CifstError(f"--start-epoch {epoch}: must be between 2 and train.epochs ({self.cfg.epochs})")
        path = self.exp_dir / f"epoch_{epoch - 1}.pt"
        if not path.exists():
            raise CifstError(
                f"{path}: missing; --start-epoch {epoch} starts from the model of epoch {epoch - 1}"
            )
        state, meta = load_model_state(path)
        if not isinstance(meta.get("step"), int):
            raise CifstError(f"{path}: its meta has no 'step' (not an epoch file written by cifst train)")
        load_state_strict(self.model, state, path)
        if self.ema is not None:
            self.ema.reset()
        step = meta["step"]
        history = []
        for k in range(1, epoch - 1):  # only the metas of the earlier epoch files (tensors mapped, not read)
            earlier = self.exp_dir / f"epoch_{k}.pt"
            if earlier.exists():
                history.append(load_model_state(earlier, mmap=True)[1])
        self.state = LoopState(epoch=epoch, global_step=step, history=[*history, meta])
        # the same schedule, positioned so that its construction step lands on ``step``
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, self.scheduler.lr_lambdas, last_epoch=step - 1
        )

    # --------------------------------------------------------------- logging
    def _setup_logging(self, resumed: bool) -> None:
        if not self.dist.is_main:
            return
        self.exp_dir.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(self.exp_dir / "train.log", encoding="utf-8")
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        LOG.handlers = [h for h in LOG.handlers if not isinstance(h, logging.FileHandler)] + [handler]
        LOG.setLevel(logging.INFO)
        tsv = self.exp_dir / "losses.tsv"
        if resumed and tsv.exists():
            # drop rows logged after the checkpoint: they will be produced again
            lines = tsv.read_text(encoding="utf-8").splitlines()
            header, rows = (
                lines[:1],
                [r for r in lines[1:] if int(r.split("\t")[2]) <= self.state.global_step],
            )
            tsv.write_text("\n".join(header + rows) + "\n", encoding="utf-8")
            if header:
                self._tsv_columns = header[0].split("\t")[4:]
        elif tsv.exists():
            tsv.unlink()
        try:
            from torch.utils.tensorboard import SummaryWriter

            self._writer = SummaryWriter(
                str(self.exp_dir / "tensorboard"), purge_step=self.state.global_step + 1
            )
        except ImportError:  # pragma: no cover - tensorboard is a dependency, but keep training without it
            LOG.warning("tensorboard is not installed: no TensorBoard events (losses.tsv still written)")

    def _plot(self) -> None:
        """Redraw ``losses.png`` from ``losses.tsv``; a plotting failure is logged, never fatal."""
        from asr.train.plot import plot_losses

        try:
            plot_losses(self.exp_dir / "losses.tsv", self.exp_dir / "losses.png", title=self.exp_dir.name)
        except Exception as e:  # a picture is not worth a training run
            LOG.warning("could not draw losses.png: %s", e)

    def _log_row(self, split: str, values: dict[str, float]) -> None:
        if not self.dist.is_main:
            return
        tsv = self.exp_dir / "losses.tsv"
        if self._tsv_columns is None:
            self._tsv_columns = TSV_COLUMNS + sorted(set(values) - set(TSV_COLUMNS))
        if not tsv.exists():
            tsv.write_text(
                "\t".join(["split", "epoch", "step", "lr"] + self._tsv_columns) + "\n", encoding="utf-8"
            )
        lr = self.optimizer.param_groups[0]["lr"]
        cells = [split, str(self.state.epoch), str(self.state.global_step), f"{lr:.6g}"]
        cells += [f"{values[c]:.6f}" if c in values else "" for c in self._tsv_columns]
        with open(tsv, "a", encoding="utf-8") as f:
            f.write("\t".join(cells) + "\n")
        if self._writer is not None:
            for k, v in values.items():
                self._writer.add_scalar(f"{split}/{k}", v, self.state.global_step)
            if split == "train":
                self._writer.add_scalar("train/lr", lr, self.state.global_step)
            self._writer.flush()

    # ------------------------------------------------------------- training
    def _barrier(self) -> None:
        if self.dist.world_size > 1:
            dist.barrier()

    def _move(self, batch: dict) -> tuple[torch.Tensor, ...]:
        d = self.device
        return (
            batch["feats"].to(d),
            batch["feats_lens"].to(d),
            batch["tokens"].to(d),
            batch["tokens_lens"].to(d),
        )

    def _step_losses(self, batch: dict) -> dict[str, torch.Tensor]:
        feats, feats_lens, tokens, tokens_lens = self._move(batch)
        with torch.autocast("cuda", dtype=torch.float16, enabled=self.use_amp):
            x, x_lens = self.frontend(feats, feats_lens)
            ctc_only = self.state.epoch in self.cfg.ctc_only_epochs
            return self.net(x, x_lens, tokens, tokens_lens, ctc_only=ctc_only)

    def _average_across_ranks(self, values: dict[str, float]) -> dict[str, float]:
        if self.dist.world_size == 1:
            return values
        keys = sorted(values)
        t = torch.tensor([values[k] for k in keys], dtype=torch.float64, device=self.device)
        dist.all_reduce(t)
        return {k: float(v) / self.dist.world_size for k, v in zip(keys, t.tolist())}

    def _update(self) -> float:
        self.scaler.unscale_(self.optimizer)
        norm = float(nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.grad_clip))
        self.scaler.step(self.optimizer)  # skips the step when the norm is not finite
        self.scaler.update()
        self.optimizer.zero_grad(set_to_none=True)
        self.scheduler.step()
        self.state.global_step += 1
        if self.ema is not None:
            self.ema.update()
        return norm

    def _train_epoch(self, max_steps: int | None) -> None:
        from tqdm import tqdm

        cfg = self.cfg
        src = self.train_source
        src.set_epoch(self.state.epoch)
        total = src.num_batches()
        if self.dist.world_size > 1:  # every rank must run the same number of batches
            t = torch.tensor([total], device=self.device)
            dist.all_reduce(t, op=dist.ReduceOp.MIN)
            total = int(t.item())
        self.net.train()
        self.frontend.train()
        self.frontend.specaug_enabled = self.state.epoch >= cfg.specaug_from_epoch
        # set every epoch (a resumed optimizer brings back the saved value): group 0 decays from
        # train.weight_decay_from_epoch on; a second group (the 1-D parameters, make_adamw) is built at 0 and stays
        decays = self.state.epoch >= cfg.weight_decay_from_epoch
        self.optimizer.param_groups[0]["weight_decay"] = cfg.weight_decay if decays else 0.0
        bar = tqdm(
            total=total,
            initial=self.state.batches_done,
            desc=f"epoch {self.state.epoch}",
            disable=not self.progress,
            unit="batch",
            dynamic_ncols=True,
        )
        window: dict[str, float] = {}
        window_n = 0
        accum = cfg.accum_grad
        pending = 0
        last_good = None
        for batch in src.iterate(self.state.batches_done):
            if self.state.batches_done >= total:
                break
            weight = 1.0
            if batch["feats_lens"].numel() == 0:  # every item failed to load (warned by the dataset)
                if self.dist.world_size == 1 or last_good is None:
                    self.state.batches_done += 1
                    bar.update(1)
                    continue
                batch, weight = last_good, 0.0  # DDP: every rank must run a backward; this one adds nothing
            last_good = batch
            last_of_epoch = self.state.batches_done + 1 == total
            sync = pending + 1 == accum or last_of_epoch
            ctx = self.net.no_sync() if (self.dist.world_size > 1 and not sync) else contextlib.nullcontext()
            with ctx:
                losses = self._step_losses(batch)
                self.scaler.scale(losses["loss"] * (weight / accum)).backward()
            pending += 1
            self.state.batches_done += 1
            for k, v in losses.items():
                window[k] = window.get(k, 0.0) + float(v.detach())
            window_n += 1
            bar.update(1)
            if not sync:
                continue
            pending = 0
            norm = self._update()
            if self.state.global_step % cfg.log_every_steps == 0 or last_of_epoch:
                avg = self._average_across_ranks({k: v / window_n for k, v in window.items()})
                avg["grad_norm"] = norm
                self._log_row("train", avg)
                bar.set_postfix(loss=f"{avg['loss']:.3f}", acc=f"{avg.get('acc', 0):.3f}")
                window, window_n = {}, 0
            if (
                cfg.save_every_steps
                and self.state.global_step % cfg.save_every_steps == 0
                and not last_of_epoch
            ):
                self.save_state()
            if max_steps is not None and self.state.global_step >= max_steps:
                bar.close()
                raise _Stop
        bar.close()

    @torch.no_grad()
    def validate(self) -> dict[str, float]:
        """Dev losses (no glancing, no augmentation) and greedy token error rate, on rank 0."""
        if self.dev_source is None:
            return {}
        self.model.eval()
        self.frontend.eval()
        sums: dict[str, float] = {}
        n_batches = 0
        errors = 0
        ref_tokens = 0
        self.dev_source.set_epoch(0)
        for batch in self.dev_source.iterate(0):
            feats, feats_lens, tokens, tokens_lens = self._move(batch)
            x, x_lens = self.frontend(feats, feats_lens)
            losses = self.model(x, x_lens, tokens, tokens_lens)
            for k, v in losses.items():
                sums[k] = sums.get(k, 0.0) + float(v)
            n_batches += 1
            rec = self.model.recognize(x, x_lens)
            hyp = rec.log_probs.argmax(-1).cpu()
            for i in range(tokens.shape[0]):
                ref = tokens[i, : int(tokens_lens[i])].tolist()
                errors += edit_distance(hyp[i, : int(rec.token_lens[i])].tolist(), ref)
                ref_tokens += len(ref)
        out = {k: v / max(n_batches, 1) for k, v in sums.items()}
        out["token_error_rate"] = errors / max(ref_tokens, 1)
        return out

    def _end_epoch(self) -> None:
        epoch = self.state.epoch
        dev = {}
        if self.dist.is_main:
            dev = self.validate()
            if dev:
                self._log_row("dev", dev)
            meta = {"epoch": epoch, "step": self.state.global_step, **{f"dev_{k}": v for k, v in dev.items()}}
            save_model_file(self.exp_dir / f"epoch_{epoch}.pt", self.model.state_dict(), meta)
            if self.ema is not None:
                ema_meta = {"epoch": epoch, "step": self.state.global_step, "ema_decay": self.cfg.ema_decay}
                save_model_file(self.exp_dir / "ema.pt", self.ema.model_state(), ema_meta)
            self.state.history.append(meta)
            LOG.info(
                "epoch %d done at step %d: %s",
                epoch,
                self.state.global_step,
                " ".join(f"dev_{k}={v:.4f}" for k, v in dev.items()) or "no dev set",
            )
            if self.cfg.keep_epochs:
                for old in list_epoch_checkpoints(self.exp_dir)[: -self.cfg.keep_epochs]:
                    old.unlink()
            self._plot()
        self._barrier()
        if self.dist.world_size > 1:
            hist = [self.state.history]
            dist.broadcast_object_list(hist, src=0)
            self.state.history = hist[0]
        self.state.epoch += 1
        self.state.batches_done = 0
        if self.state.epoch > self.cfg.epochs:
            self.state.finished = True
            if self.dist.is_main:
                save_model_file(
                    self.exp_dir / "final.pt",
                    self.model.state_dict(),
                    {"epoch": epoch, "step": self.state.global_step},
                )
        self.save_state()

    def fit(
        self, resume: bool = False, max_steps: int | None = None, start_epoch: int | None = None
    ) -> LoopState:
        """Train until ``cfg.epochs`` are done.

        Args:
            resume: Continue from ``checkpoint.pt`` when it exists (a fresh start otherwise).
            start_epoch: Start this epoch from ``epoch_{start_epoch-1}.pt`` (:meth:`start_from_epoch`); not with
                ``resume``.
            max_steps: Stop (without saving) once ``global_step`` reaches this: simulates a kill in tests.

        Returns:
            The final :class:`LoopState`.
        """
        if resume and start_epoch is not None:
            raise CifstError("--resume and --start-epoch exclude each other: resume continues checkpoint.pt")
        resumed = self.restore_state() if resume else False
        if start_epoch is not None:
            self.start_from_epoch(start_epoch)
        self._setup_logging(resumed or start_epoch is not None)
        if self.dist.is_main:
            where = "starting"
            if resumed:
                where = (
                    f"resumed at epoch {self.state.epoch}, batch {self.state.batches_done}, step "
                    f"{self.state.global_step}"
                )
            elif start_epoch is not None:
                where = f"starting epoch {start_epoch} from epoch_{start_epoch - 1}.pt (step {self.state.global_step})"
            LOG.info("%s: %d rank(s) on %s", where, self.dist.world_size, self.device)
        start = time.time()
        try:
            while not self.state.finished and self.state.epoch <= self.cfg.epochs:
                t0 = time.time()
                self._train_epoch(max_steps)
                if self.dist.is_main:
                    LOG.info("epoch %d trained in %.1f s", self.state.epoch, time.time() - t0)
                self._end_epoch()
        except _Stop:
            pass
        finally:
            if self._writer is not None:
                self._writer.close()
        if self.dist.is_main:
            LOG.info("training stopped after %.1f s at step %d", time.time() - start, self.state.global_step)
        return self.state
