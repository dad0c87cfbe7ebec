"""Milliseconds per training update of a model config on the CPU (forward, backward, AdamW step), on a synthetic
batch shaped like the synthetic English corpus (utterances of 2.7 s: 270 fbank frames, so 45 LFR frames at n=6 and
34 at n=8; 12 tokens), for the config as given and with each listed change. Used to choose what the one-hour CPU
model spends its updates on (docs/benchmarks/models.md). No peer: the comparison is between variants of our own
config, in one run.

Usage:
  .venv/bin/python tools/bench/train_step.py egs/synth_en/asr/conf/train_1h_wordnet.yaml --vocab 300 \
      --variant no-dropout --variant eval
  variants: no-dropout (every dropout 0), eval (model.eval(): no dropout and no glancing pass),
            encoder-only (forward+backward of the encoder alone),
            ctc-only (the encoder and CTC head on the CTC loss alone, as in train.ctc_only_epochs),
            torch-ctc (ctc-only with PyTorch's F.ctc_loss instead of our numba CTC loss, asr/models/ctc_loss.py),
            loop-adamw (PyTorch's per-tensor AdamW, its CPU default, instead of the trainer's fused one),
            bf16 (forward under CPU autocast to bfloat16; the trainer's AMP is CUDA-only),
            compile-encoder (the encoder under torch.compile(dynamic=True), the inductor's C++ kernels; the whole
            model does not compile: the glancing sampler draws with a torch.Generator, which dynamo refuses)
"""

from __future__ import annotations

import argparse
import copy
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from asr.features.lfr import lfr_lengths  # noqa: E402
from asr.models import ctc as ctc_module  # noqa: E402
from asr.models.config import load_config  # noqa: E402
from asr.models.paraformer import Paraformer  # noqa: E402
from asr.train.loop import make_adamw  # noqa: E402

VARIANTS = (
    "no-dropout",
    "eval",
    "encoder-only",
    "ctc-only",
    "torch-ctc",
    "loop-adamw",
    "bf16",
    "compile-encoder",
)


def time_variant(cfg, vocab: int, variant: str, batch: tuple, repeat: int, symbols=None) -> float:
    """Best-of-3 mean milliseconds per update over ``repeat`` updates."""
    cfg = copy.deepcopy(cfg)
    if variant == "no-dropout":
        cfg.model.encoder.dropout = 0.0
        cfg.model.predictor.dropout = 0.0
        cfg.model.decoder.dropout = 0.0
    torch.manual_seed(0)
    model = Paraformer(cfg.model, vocab)
    if symbols is not None:
        model.bind_symbols(symbols)
    if variant == "eval":
        model.eval()
    if variant == "compile-encoder":
        model.encoder = torch.compile(model.encoder, dynamic=True)
    if variant == "loop-adamw":
        opt = torch.optim.AdamW(model.parameters(), 1e-4, foreach=False)
    else:
        opt = make_adamw(model, 1e-4, 0.0)  # as the trainer makes it

    def step():
        if variant == "encoder-only":
            hidden, _ = model.encode(batch[0], batch[1])
            loss = hidden.square().mean()
        else:
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=variant == "bf16"):
                loss = model(*batch, ctc_only=variant in ("ctc-only", "torch-ctc"))["loss"]
        loss.backward()
        opt.step()
        opt.zero_grad()

    t0 = time.perf_counter()
    for _ in range(3):
        step()
    if variant == "compile-encoder":
        print(
            f"  (compile-encoder: first 3 updates, with the compilation, took {time.perf_counter() - t0:.1f} s)"
        )
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(repeat):
            step()
        best = min(best, (time.perf_counter() - start) / repeat * 1000)
    return best


def time_variant_ctc(cfg, vocab: int, variant: str, batch: tuple, repeat: int, symbols=None) -> float:
    """:func:`time_variant`, with PyTorch's CTC loss put in the CTC head's place for ``torch-ctc``."""
    ours = ctc_module.ctc_loss
    if variant == "torch-ctc":
        ctc_module.ctc_loss = F.ctc_loss
    try:
        return time_variant(cfg, vocab, variant, batch, repeat, symbols)
    finally:
        ctc_module.ctc_loss = ours


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("config", help="training config (YAML, may use base:)")
    ap.add_argument("--vocab", type=int, default=300, help="tokens.txt size")
    ap.add_argument(
        "--tokens",
        help="a tokens.txt to take the vocabulary from (instead of --vocab); needed by model.interctc_vocab(s)",
    )
    ap.add_argument("--frames", type=int, default=4000, help="fbank frames per batch (train.max_frames)")
    ap.add_argument("--utt-frames", type=int, default=270, help="fbank frames per utterance (10 ms each)")
    ap.add_argument("--utt-tokens", type=int, default=12, help="tokens per utterance")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=10)
    ap.add_argument("--variant", action="append", default=[], choices=VARIANTS)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    cfg = load_config(args.config)
    symbols = None
    if args.tokens:
        with open(args.tokens, encoding="utf-8") as f:
            symbols = [line.split()[0] for line in f if line.strip()]
        args.vocab = len(symbols)
    elif (cfg.model.interctc_vocab or cfg.model.interctc_vocabs) and cfg.model.interctc_layers:
        sys.exit(
            f"{args.config}: model.interctc_vocab(s) derive vocabularies from a tokens.txt: pass --tokens"
        )
    n = cfg.frontend.lfr.n
    b = max(1, args.frames // args.utt_frames)
    t, u = lfr_lengths(args.utt_frames, n), args.utt_tokens
    gen = torch.Generator().manual_seed(0)
    batch = (
        torch.randn(b, t, cfg.model.encoder.input_dim, generator=gen),
        torch.full((b,), t),
        torch.randint(1, args.vocab, (b, u), generator=gen),
        torch.full((b,), u),
    )
    print(
        f"{args.config}: batch {b} x {t} LFR frames, {u} tokens, vocab {args.vocab}, {args.threads} thread(s)"
    )
    base = time_variant(cfg, args.vocab, "as-is", batch, args.repeat, symbols)
    print(f"as configured: {base:.1f} ms per update")
    for variant in args.variant:
        ms = time_variant_ctc(cfg, args.vocab, variant, batch, args.repeat, symbols)
        print(f"{variant}: {ms:.1f} ms per update, x{base / ms:.2f} the updates per second")


if __name__ == "__main__":
    main()
