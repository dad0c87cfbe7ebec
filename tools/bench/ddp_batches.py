"""What a DDP step waits for: the straggler cost of the batch pairing across ranks, and the gradient all-reduce.

Under DDP every update ends at the gradient all-reduce, so a step lasts as long as its slowest rank. This bench
takes the real batches of a data dir, as the trainer's ``BucketBatchSampler`` cuts them for R ranks (``--ranks``,
``shard_items`` as with the fbank cache), and times one training update (forward, backward, AdamW) of each rank's
batch at sampled steps on one thread, on synthetic features and tokens of the batch's real lengths. For each
pairing, independent (each rank shuffles its own batches, the trainer's order before ``train.sync_batch_lengths``)
and synced (``sync_ranks=True``: the same length quantile on every rank at each step), it prints the mean compute
per rank and step, the mean step if the ranks ran in parallel (the slowest rank of each step), and the straggler
overhead between the two; then the ratio of synced to independent steps. ``--allreduce`` also times gloo's
all-reduce of the model's gradients between R local processes (idle ranks, one thread each). ``--ddp V`` runs R
real DDP processes (gloo, one thread each) over the same synced batches of ``--ddp-steps`` steps and prints ms per
update for each variant V: ``no-sync`` (no all-reduce at all: the compute floor), ``default`` (DDP as the trainer
wraps it; ``find_unused_parameters`` when ``--ctc-only``), ``bucket-1mb`` (``bucket_cap_mb=1``: the all-reduce
starts during the backward), ``fp16`` (gradients all-reduced in float16, ``fp16_compress_hook``), ``flat`` (no DDP
wrapper: after the backward every gradient goes into one flat buffer, one all-reduce, and back).

Usage:
  .venv/bin/python tools/bench/ddp_batches.py egs/synth_en/asr/conf/train_1h_ctc6.yaml \\
      egs/synth_en/asr/data/train egs/synth_en/asr/data/lang_bpe2000 --steps 60 --ctc-only --allreduce
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from asr.data.kaldi_dir import read_text, read_utt2dur  # noqa: E402
from asr.data.sampler import BucketBatchSampler  # noqa: E402
from asr.features.fbank import num_frames  # noqa: E402
from asr.features.lfr import lfr_lengths  # noqa: E402
from asr.models.config import load_config  # noqa: E402
from asr.models.paraformer import Paraformer, count_parameters  # noqa: E402
from asr.text.tokenizer import load_tokenizer  # noqa: E402
from asr.train.loop import make_adamw  # noqa: E402


def corpus_lengths(data_dir: Path, lang_dir: Path, cfg) -> tuple[np.ndarray, np.ndarray]:
    """Fbank frames and token counts of every utterance with a duration and a text (in c-sorted key order, as the
    dataset keeps them)."""
    durs = read_utt2dur(data_dir / "utt2dur")
    texts = read_text(data_dir / "text")
    tok = load_tokenizer(lang_dir)
    keys = sorted(k for k in durs if k in texts)
    rate = cfg.fbank.sample_rate
    frames = np.array([max(1, num_frames(int(durs[k] * rate), cfg.fbank)) for k in keys], dtype=np.int64)
    tokens = np.array([max(1, len(tok.encode(texts[k], strict=False))) for k in keys], dtype=np.int64)
    return frames, tokens


class Updater:
    """One model and optimizer; ``time(batch)`` = seconds of one update on a synthetic batch of those lengths."""

    def __init__(self, cfg, symbols: list[str], ctc_only: bool):
        torch.manual_seed(0)
        self.cfg = cfg
        self.vocab = len(symbols)
        self.ctc_only = ctc_only
        self.model = Paraformer(cfg.model, self.vocab)
        self.model.bind_symbols(symbols)  # model.interctc_vocab derives its vocabulary from them
        self.opt = make_adamw(self.model, 1e-4, 0.0)
        self.gen = torch.Generator().manual_seed(0)

    def make_batch(self, frames: np.ndarray, tokens: np.ndarray) -> tuple:
        lfr = torch.as_tensor(lfr_lengths(frames, self.cfg.frontend.lfr.n))
        toks = torch.as_tensor(tokens)
        b, t, u = len(frames), int(lfr.max()), int(toks.max())
        x = torch.randn(b, t, self.cfg.model.encoder.input_dim, generator=self.gen)
        y = torch.randint(1, self.vocab, (b, u), generator=self.gen)
        y = y.masked_fill(torch.arange(u)[None, :] >= toks[:, None], -1)
        return x, lfr, y, toks

    def time(self, batch: tuple, repeat: int = 2) -> float:
        best = float("inf")
        for _ in range(repeat):
            start = time.perf_counter()
            loss = self.model(*batch, ctc_only=self.ctc_only)["loss"]
            loss.backward()
            self.opt.step()
            self.opt.zero_grad(set_to_none=True)
            best = min(best, time.perf_counter() - start)
        return best


def rank_batches(frames: np.ndarray, cfg, ranks: int, epoch: int, sync: bool) -> list[list[list[int]]]:
    out = []
    for r in range(ranks):
        s = BucketBatchSampler(
            frames,
            cfg.train.max_frames,
            seed=cfg.train.seed,
            num_replicas=ranks,
            rank=r,
            shard_items=True,
            sync_ranks=sync,
        )
        s.set_epoch(epoch)
        out.append(list(s))
    return out


def _join_group(rank: int, world: int, port: int) -> None:
    """Join the local gloo group of a spawned rank (one thread)."""
    import torch.distributed as dist

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world)


def _allreduce_worker(rank: int, world: int, port: int, numel: int, repeat: int, out) -> None:
    import torch.distributed as dist

    _join_group(rank, world, port)
    grad = torch.randn(numel)
    for _ in range(3):
        dist.all_reduce(grad)
    dist.barrier()
    start = time.perf_counter()
    for _ in range(repeat):
        dist.all_reduce(grad)
    if rank == 0:
        out.put((time.perf_counter() - start) / repeat)
    dist.destroy_process_group()


DDP_VARIANTS = ("no-sync", "default", "bucket-1mb", "fp16", "flat")


def _ddp_worker(rank, world, port, config, symbols, ctc_only, variant, steps_by_rank, repeat, out) -> None:
    """One DDP rank: ``repeat`` passes over its steps (``steps_by_rank[rank]``, a list of (frames, tokens) arrays);
    rank 0 puts the best seconds per update."""
    import contextlib

    import torch.distributed as dist
    from torch import nn

    _join_group(rank, world, port)
    upd = Updater(load_config(config), symbols, ctc_only)
    upd.gen.manual_seed(rank)
    kwargs = {"find_unused_parameters": ctc_only}
    if variant == "bucket-1mb":
        kwargs["bucket_cap_mb"] = 1
    net = upd.model if variant == "flat" else nn.parallel.DistributedDataParallel(upd.model, **kwargs)
    if variant == "fp16":
        from torch.distributed.algorithms.ddp_comm_hooks import default_hooks

        net.register_comm_hook(None, default_hooks.fp16_compress_hook)
    batches = [upd.make_batch(f, t) for f, t in steps_by_rank[rank]]

    def update(batch):
        ctx = net.no_sync() if variant == "no-sync" else contextlib.nullcontext()
        with ctx:
            loss = net(*batch, ctc_only=ctc_only)["loss"]
            loss.backward()
        if variant == "flat":
            allreduce_flat(upd.model, world)
        upd.opt.step()
        upd.opt.zero_grad(set_to_none=True)

    for batch in batches[:3]:
        update(batch)
    best = float("inf")
    for _ in range(repeat):
        dist.barrier()
        start = time.perf_counter()
        for batch in batches:
            update(batch)
        dist.barrier()
        best = min(best, (time.perf_counter() - start) / len(batches))
    if rank == 0:
        out.put(best)
    dist.destroy_process_group()


def allreduce_flat(model, world: int) -> None:
    """The gradients' mean over the ranks in one all-reduce of one flat buffer (parameters without a gradient,
    the same on every rank, are left out)."""
    import torch.distributed as dist
    from torch._utils import _flatten_dense_tensors, _unflatten_dense_tensors

    grads = [p.grad for p in model.parameters() if p.grad is not None]
    flat = _flatten_dense_tensors(grads)
    dist.all_reduce(flat)
    flat.div_(world)
    for g, r in zip(grads, _unflatten_dense_tensors(flat, grads)):
        g.copy_(r)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_ranks(target, world: int, *args) -> float:
    """Start ``world`` spawned processes ``target(rank, world, port, *args, queue)``; rank 0's result."""
    import torch.multiprocessing as mp

    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    port = _free_port()
    procs = [ctx.Process(target=target, args=(r, world, port, *args, out)) for r in range(world)]
    for p in procs:
        p.start()
    result = out.get(timeout=1800)
    for p in procs:
        p.join()
    return result


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("config", help="training config (YAML, may use base:)")
    ap.add_argument("data_dir", help="training data dir (utt2dur, text)")
    ap.add_argument("lang_dir", help="tokenizer dir (tokens.txt and the model)")
    ap.add_argument("--ranks", type=int, default=2)
    ap.add_argument("--steps", type=int, default=60, help="steps sampled from the epoch, evenly spaced")
    ap.add_argument("--epoch", type=int, default=2, help="the sampler's epoch (its shuffle)")
    ap.add_argument("--ctc-only", action="store_true", help="time CTC-only updates (train.ctc_only_epochs)")
    ap.add_argument("--allreduce", action="store_true", help="also time gloo's all-reduce of the gradients")
    ap.add_argument(
        "--ddp", action="append", default=[], choices=DDP_VARIANTS, help="real DDP runs (repeatable)"
    )
    ap.add_argument("--ddp-steps", type=int, default=30, help="synced steps per DDP pass")
    ap.add_argument("--ddp-repeat", type=int, default=2, help="passes per DDP variant (best taken)")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    cfg = load_config(args.config)
    frames, tokens = corpus_lengths(Path(args.data_dir), Path(args.lang_dir), cfg)
    symbols = load_tokenizer(args.lang_dir).symbols.symbols
    vocab = len(symbols)
    upd = Updater(cfg, symbols, args.ctc_only)
    params = count_parameters(upd.model)
    print(
        f"{args.data_dir}: {len(frames)} utterances, {frames.sum() / 360000:.2f} h; {args.ranks} ranks, "
        f"max_frames {cfg.train.max_frames}; {'CTC-only' if args.ctc_only else 'joint'} updates of "
        f"{params / 1e6:.2f} M parameters, vocab {vocab}, one thread"
    )
    pairings = {sync: rank_batches(frames, cfg, args.ranks, args.epoch, sync) for sync in (False, True)}
    warm = pairings[False][0][0]
    upd.time(upd.make_batch(frames[warm], tokens[warm]), repeat=3)
    step_means = {}
    for sync, per_rank in pairings.items():
        n = len(per_rank[0])
        picks = np.linspace(0, n - 1, min(args.steps, n)).round().astype(int)
        compute, slowest = [], []
        for k in picks:
            ts = [upd.time(upd.make_batch(frames[b[k]], tokens[b[k]])) for b in per_rank]
            compute.append(np.mean(ts))
            slowest.append(max(ts))
        name = "synced" if sync else "independent"
        mean_c, mean_s = 1000 * np.mean(compute), 1000 * np.mean(slowest)
        step_means[name] = mean_s
        print(
            f"{name:>11}: {n} steps per epoch; {len(picks)} sampled: compute {mean_c:.1f} ms per rank and step, "
            f"slowest rank {mean_s:.1f} ms per step, straggler overhead {100 * (mean_s / mean_c - 1):.1f}%"
        )
    print(
        f"synced / independent step time: {step_means['synced'] / step_means['independent']:.3f} "
        f"(x{step_means['independent'] / step_means['synced']:.2f} the updates per second)"
    )
    if args.allreduce:
        ms = 1000 * run_ranks(_allreduce_worker, args.ranks, params, 50)
        print(
            f"gloo all-reduce of {params / 1e6:.2f} M float32 gradients across {args.ranks} processes: {ms:.1f} ms"
        )
    if args.ddp:
        per_rank = pairings[True]
        n = len(per_rank[0])
        picks = np.linspace(0, n - 1, min(args.ddp_steps, n)).round().astype(int)
        steps = [[(frames[b[k]], tokens[b[k]]) for k in picks] for b in per_rank]
        base = None
        for variant in args.ddp:
            t = 1000 * run_ranks(
                _ddp_worker,
                args.ranks,
                args.config,
                symbols,
                args.ctc_only,
                variant,
                steps,
                args.ddp_repeat,
            )
            base = base or t
            print(
                f"DDP {variant}: {t:.1f} ms per update ({len(picks)} steps x {args.ranks} ranks), x{base / t:.2f}"
            )


if __name__ == "__main__":
    main()
