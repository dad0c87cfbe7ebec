"""``cifst train`` and ``cifst average``: argument parsing only; the work is :func:`asr.train.run.train_experiment`
and :func:`asr.train.average.average_checkpoints`. Standard library imports only at module level."""

from __future__ import annotations

import argparse

__all__ = ["register"]

TRAIN_HELP = """Train a Paraformer on a Kaldi data dir; writes EXP_DIR/config.yaml, the tokenizer files, cmvn.json,
checkpoint.pt (resumable), epoch_N.pt, final.pt, train.log, losses.tsv and tensorboard/.

Example:
  cifst train --config conf/train.yaml --train-data data/train --dev-data data/dev \\
      --tokenizer data/lang_bpe300 exp/tiny
  # continue after a kill or a crash (same losses as an uninterrupted run):
  cifst train --config conf/train.yaml --train-data data/train --dev-data data/dev \\
      --tokenizer data/lang_bpe300 --resume exp/tiny
  # branch an experiment at epoch 4 from the model of epoch 3 (copy epoch_1..3.pt, cmvn.json into it first;
  # the LR schedule resumes at epoch 3's step, the optimizer moments start afresh):
  cifst train --config conf/other.yaml ... --start-epoch 4 exp/branch
  # two processes (DDP, gloo on CPU / nccl on GPUs):
  torchrun --nproc_per_node 2 -m asr.cli train --config ... exp/tiny
"""

AVERAGE_HELP = """Average the parameters of the last N epoch_N.pt of EXP_DIR into EXP_DIR/avg_N.pt, or
with --best-by METRIC of the N epochs with the lowest dev METRIC into EXP_DIR/avg_best_N.pt. A tensor an epoch
did not train (unchanged from the epoch before, e.g. the decoder in train.ctc_only_epochs) is averaged over the
epochs that trained it only.

Examples:
  cifst average exp/tiny --num 5
  cifst average exp/tiny --num 5 --best-by dev_loss      # or dev_ctc, dev_token_error_rate
"""


def _train(args: argparse.Namespace) -> int:
    from asr.train.run import TrainRequest, train_experiment

    req = TrainRequest(
        config=args.config,
        train_data=args.train_data,
        dev_data=args.dev_data,
        tokenizer=args.tokenizer,
        exp_dir=args.exp_dir,
        resume=args.resume,
        start_epoch=args.start_epoch,
        device=args.device,
        max_steps=args.max_steps,
        progress=not args.no_progress,
        phone_lexicon=args.phone_lexicon,
    )
    return train_experiment(req)


def _average(args: argparse.Namespace) -> int:
    from asr.train.average import average_checkpoints

    out = average_checkpoints(args.exp_dir, args.num, args.out, args.best_by)
    print(f"wrote {out}")
    return 0


def register(sub) -> None:
    from asr.cli import add_command

    p = add_command(sub, "train", "train a Paraformer model", TRAIN_HELP, _train)
    p.add_argument("exp_dir", metavar="EXP_DIR", help="experiment directory (created)")
    p.add_argument("--config", help="YAML config (asr/models/configs/tiny.yaml is a starting point)")
    p.add_argument("--train-data", required=True, help="training Kaldi data dir")
    p.add_argument("--dev-data", help="validation Kaldi data dir")
    p.add_argument("--tokenizer", required=True, help="tokenizer dir from `cifst tokenizer train`")
    p.add_argument("--resume", action="store_true", help="continue from EXP_DIR/checkpoint.pt")
    p.add_argument(
        "--start-epoch",
        type=int,
        metavar="N",
        help="start epoch N from EXP_DIR/epoch_{N-1}.pt (its model and step; fresh optimizer moments)",
    )
    p.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto")
    p.add_argument("--max-steps", type=int, default=None, help="stop after this many updates (for tests)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.add_argument(
        "--phone-lexicon",
        metavar="FILE",
        help="pronunciation lexicon (word PH1 PH2 ... per line) for model.interctc_phone_layers; copied into "
        "EXP_DIR, where --resume finds it",
    )

    p = add_command(sub, "average", "average the last N epoch checkpoints", AVERAGE_HELP, _average)
    p.add_argument("exp_dir", metavar="EXP_DIR", help="experiment directory")
    p.add_argument("--num", type=int, default=5, help="number of last epochs to average")
    p.add_argument("--out", help="output file (default EXP_DIR/avg_N.pt, or avg_best_N.pt with --best-by)")
    p.add_argument(
        "--best-by",
        metavar="METRIC",
        help="average the N epochs with the lowest value of this dev metric (dev_loss, dev_ctc, ...)",
    )
