"""``cifst infer``: argument parsing for :func:`asr.infer.infer_data_dir`. Standard library imports only here."""

from __future__ import annotations

import argparse

__all__ = ["register"]

HELP = """Run a trained Paraformer over a Kaldi data dir. Writes OUT_DIR/posteriors.ark/scp (natural-log
posteriors, one row per CIF token slot), times.ark/scp (start/end seconds per row), post.yaml, tokens.txt and the
greedy transcript text, and prints the real-time factor. --head ctc writes the encoder's CTC posteriors instead
(one row per 60 ms frame, row_type frame; decode them with a --topo ctc graph).

Example:
  cifst average exp/tiny --num 5
  cifst infer exp/tiny data/test exp/tiny/infer_test --checkpoint avg_5.pt --batch-size 16
  cifst infer exp/tiny data/test exp/tiny/infer_ctc_test --checkpoint avg_5.pt --head ctc
"""


def _run(args: argparse.Namespace) -> int:
    from asr.infer import InferConfig, infer_data_dir

    cfg = InferConfig(
        checkpoint=args.checkpoint,
        device=args.device,
        batch_size=args.batch_size,
        max_frames=args.max_frames,
        progress=not args.no_progress,
        head=args.head,
    )
    res = infer_data_dir(args.exp_dir, args.data_dir, args.out_dir, cfg)
    print(
        f"{res.utterances} utterances, {res.audio_seconds:.1f} s of audio in {res.wall_seconds:.1f} s: "
        f"RTF {res.rtf:.4f} ({len(res.skipped)} without output)"
    )
    return 0


def register(sub) -> None:
    from asr.cli import add_command

    p = add_command(sub, "infer", "posteriors, times and greedy text from a trained model", HELP, _run)
    p.add_argument("exp_dir", metavar="EXP_DIR", help="experiment directory of `cifst train`")
    p.add_argument("data_dir", metavar="DATA_DIR", help="Kaldi data dir (wav.scp; text not needed)")
    p.add_argument("out_dir", metavar="OUT_DIR", help="output directory")
    p.add_argument("--checkpoint", default="final.pt", help="checkpoint file in EXP_DIR (or a path)")
    p.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto")
    p.add_argument("--batch-size", type=int, default=16, help="utterances per batch")
    p.add_argument("--max-frames", type=int, default=40000, help="padded fbank frames per batch")
    p.add_argument(
        "--head",
        choices=("cif", "ctc"),
        default="cif",
        help="cif: Paraformer decoder over CIF token slots; ctc: the encoder's CTC head, one row per frame",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
