"""CTC loss on the CPU: PyTorch's ``F.ctc_loss`` (the peer) against ours (``asr/models/ctc_loss.py``, numba
recursions over the gathered label log-probs), in one run. Each timed step is what a training update spends on the
CTC head: the output projection (D -> V), log-softmax, the loss, and the backward through all three. Batches are
shaped like the synthetic English corpus by default (14 utterances x 45 LFR frames, 12 tokens) and like longer
read speech with ``--long`` (6 x 160 frames, 45 tokens). The two losses are checked to agree before timing.

Usage:
  OMP_NUM_THREADS=1 .venv/bin/python tools/bench/ctc_loss.py --vocab 500 --vocab 2000 --vocab 4000 [--long]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from asr.models.ctc_loss import ctc_loss  # noqa: E402


def make_step(fn, d_model: int, vocab: int, n_b: int, n_t: int, n_u: int):
    torch.manual_seed(0)  # the same projection weights for both losses
    gen = torch.Generator().manual_seed(0)
    proj = torch.nn.Linear(d_model, vocab)
    hidden = torch.randn(n_b, n_t, d_model, generator=gen, requires_grad=True)
    targets = torch.randint(1, vocab, (n_b, n_u), generator=gen)
    in_lens = torch.randint(n_t * 3 // 4, n_t + 1, (n_b,), generator=gen)
    tgt_lens = torch.randint(n_u // 2, n_u + 1, (n_b,), generator=gen)

    def step() -> float:
        proj.zero_grad()
        hidden.grad = None
        logp = F.log_softmax(proj(hidden), dim=-1).transpose(0, 1)
        loss = fn(logp, targets, in_lens, tgt_lens, blank=0, reduction="sum", zero_infinity=True)
        loss.backward()
        return float(loss.detach())

    return step


def best_ms(step, repeat: int, rounds: int) -> float:
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(repeat):
            step()
        best = min(best, (time.perf_counter() - start) / repeat * 1000)
    return best


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--vocab", type=int, action="append", help="vocabulary sizes (default 500, 2000, 4000)")
    ap.add_argument("--d-model", type=int, default=128)
    ap.add_argument("--long", action="store_true", help="6 x 160 frames, 45 tokens instead of 14 x 45, 12")
    ap.add_argument("--repeat", type=int, default=30)
    ap.add_argument("--rounds", type=int, default=5, help="alternating rounds; the best of each is kept")
    args = ap.parse_args(argv)
    n_b, n_t, n_u = (6, 160, 45) if args.long else (14, 45, 12)
    print(
        f"batch {n_b} x {n_t} frames, {n_u} tokens, d_model {args.d_model}, {torch.get_num_threads()} thread(s)"
    )
    for vocab in args.vocab or [500, 2000, 4000]:
        steps = {
            name: make_step(fn, args.d_model, vocab, n_b, n_t, n_u)
            for name, fn in (("torch", F.ctc_loss), ("ours", ctc_loss))
        }
        values = {name: step() for name, step in steps.items()}  # also warms up (and compiles ours)
        if abs(values["torch"] - values["ours"]) > 1e-4 * abs(values["torch"]):
            raise SystemExit(f"ctc_loss: the losses differ at vocab {vocab}: {values}")
        times = {name: float("inf") for name in steps}
        for _ in range(args.rounds):  # alternate so that a busy moment hits both
            for name, step in steps.items():
                times[name] = min(times[name], best_ms(step, args.repeat, 1))
        print(
            f"vocab {vocab}: F.ctc_loss {times['torch']:.2f} ms, ours {times['ours']:.2f} ms per step "
            f"(projection + log-softmax + loss, forward and backward): x{times['torch'] / times['ours']:.2f}"
        )


if __name__ == "__main__":
    main()
