"""``cifst decode GRAPH_DIR POSTERIORS_SCP OUT_DIR``: the batched TLG beam search (or ``--no-graph`` greedy / prefix
beam search) over a posterior set -> ``OUT_DIR/text``, ``ctm``, optional ``nbest``. Standard library only at module
level; the work is :func:`decoding.search.pipeline.run_decode`.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

__all__ = ["register"]

DESCRIPTION = """Decode posteriors (CIF token rows or CTC frames) with a TLG graph, batched on CPU or GPU.

Writes OUT_DIR/text (`utt w1 w2 ...`), OUT_DIR/ctm (`utt 1 start dur word confidence`), with --nbest > 1 also
OUT_DIR/nbest (`utt rank cost words...`), and OUT_DIR/failed for utterances that could not be decoded (bad
posteriors, no surviving path: they get an empty hypothesis and a warning, the rest is decoded). Batches are
written as they finish under OUT_DIR/shards; running the same command again skips what is done.

With --no-graph: `cifst decode --no-graph POSTERIORS_SCP OUT_DIR` decodes without a language model, by greedy
search (best token per row) or --nograph-method prefix (prefix beam search).

Example:
  cifst decode exp/graph_3gram exp/infer/test/posteriors.scp exp/decode_test --beam 16 --max-active 7000
  cifst decode exp/graph exp/infer/test/posteriors.scp exp/decode_hw --hotwords conf/hotwords.txt
  cifst decode --no-graph exp/infer/test/posteriors.scp exp/decode_greedy
"""


def register(sub) -> None:
    from asr.cli import add_command

    p = add_command(sub, "decode", "decode posteriors with a TLG graph (or without one)", DESCRIPTION, _run)
    p.add_argument(
        "paths",
        nargs="+",
        metavar="PATH",
        help="GRAPH_DIR POSTERIORS_SCP OUT_DIR (or POSTERIORS_SCP OUT_DIR with --no-graph)",
    )
    s = p.add_argument_group("search")
    s.add_argument("--beam", type=float, default=16.0, help="keep tokens within this cost of the best")
    s.add_argument("--max-active", type=int, default=7000, help="most tokens per utterance per row")
    s.add_argument("--min-active", type=int, default=20, help="fewest tokens per utterance per row")
    s.add_argument("--beam-delta", type=float, default=0.5, help="Kaldi's slack on the adaptive beam")
    s.add_argument("--acoustic-scale", type=float, default=1.0, help="multiplies the log-posteriors")
    s.add_argument("--lm-scale", type=float, default=1.0, help="multiplies the graph weights (the G part)")
    s.add_argument("--blank-penalty", type=float, default=0.0, help="cost added to every blank row")
    s.add_argument(
        "--nbest", type=int, default=1, help="distinct word sequences per utterance (> 1 writes nbest)"
    )
    s.add_argument("--no-graph", action="store_true", help="decode without a graph")
    s.add_argument(
        "--nograph-method", choices=("greedy", "prefix"), default="greedy", help="graph-less search"
    )
    s.add_argument("--prefix-beam", type=int, default=10, help="beam of the prefix beam search")
    s.add_argument(
        "--cif-skip-penalty",
        type=float,
        default=10.0,
        help="--no-graph on CIF rows: cost of leaving a token slot empty (the graph search uses its skip arc's)",
    )
    s.add_argument(
        "--cif-keep-blank",
        action="store_true",
        help="CIF rows: use the model's blank column (default: read it as log 1, a Paraformer has none)",
    )
    r = p.add_argument_group("input and running")
    r.add_argument("--row-type", choices=("cif", "frame"), help="override post.yaml's row_type")
    r.add_argument(
        "--frame-shift", type=float, help="override post.yaml's frame_shift (seconds per frame row)"
    )
    r.add_argument("--tokens", help="tokens.txt for --no-graph when post.yaml names none")
    r.add_argument(
        "--tokenizer",
        help="tokenizer directory for hotwords (default: the model named by post.yaml, else GRAPH_DIR, then tokens' dir)",
    )
    r.add_argument("--batch-size", type=int, default=64, help="utterances decoded together")
    r.add_argument("--device", default=None, help="cpu, cuda, cuda:N (default: cuda when available)")
    r.add_argument("--no-progress", action="store_true", help="no progress bar")
    try:
        from decoding.hotwords.cli import add_hotword_options
    except ImportError:  # hotwords package absent in this build
        return
    add_hotword_options(p)


def _run(args: argparse.Namespace) -> int:
    from asr.errors import CifstError
    from asr.malloc import tune_glibc_malloc

    tune_glibc_malloc()  # before the first big tensor: steps reuse heap pages instead of mmap/munmap (2x on CPU)
    from decoding.search.beam import BeamSearchConfig
    from decoding.search.pipeline import DecodeOptions, run_decode

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    want = 2 if args.no_graph else 3
    if len(args.paths) != want:
        shape = "POSTERIORS_SCP OUT_DIR" if args.no_graph else "GRAPH_DIR POSTERIORS_SCP OUT_DIR"
        raise CifstError(f"expected {shape}, got {len(args.paths)} paths: {' '.join(args.paths)}")
    graph_dir = None if args.no_graph else Path(args.paths[0])
    post_scp, out_dir = Path(args.paths[-2]), Path(args.paths[-1])
    if not post_scp.exists():
        raise FileNotFoundError(2, "No such file or directory", str(post_scp))
    from asr.device import resolve_device

    device = str(resolve_device(args.device))
    if args.batch_size < 1:
        raise CifstError(f"--batch-size must be >= 1, got {args.batch_size}")
    search = BeamSearchConfig(
        beam=args.beam,
        max_active=args.max_active,
        min_active=args.min_active,
        beam_delta=args.beam_delta,
        acoustic_scale=args.acoustic_scale,
        lm_scale=args.lm_scale,
        blank_penalty=args.blank_penalty,
        nbest=args.nbest,
        cif_blank=None if args.cif_keep_blank else 0.0,
    )
    try:
        search.validate()
    except ValueError as e:
        raise CifstError(str(e)) from None
    opts = DecodeOptions(
        search=search,
        method=("prefix" if args.nograph_method == "prefix" else "greedy") if args.no_graph else "tlg",
        batch_size=args.batch_size,
        device=device,
        prefix_beam=args.prefix_beam,
        row_type=args.row_type,
        frame_shift=args.frame_shift,
        progress=not args.no_progress,
        cif_skip_penalty=args.cif_skip_penalty,
    )
    hotwords, record = None, {}
    if getattr(args, "hotwords", None) or getattr(args, "hotwords_scp", None):
        from decoding.hotwords.cli import context_from_args, default_score
        from decoding.search.io import read_post_info

        tok_dir = args.tokenizer or (str(graph_dir) if graph_dir else str(Path(args.tokens or ".").parent))
        row_type = read_post_info(post_scp, args.row_type, args.frame_shift).row_type
        hotwords = context_from_args(args, tok_dir, row_type)
        record = {
            k: (str(v) if v is not None else None) for k, v in vars(args).items() if k.startswith("hotword")
        }
        if args.hotword_score is None:  # the run record holds the bonus actually used
            record["hotword_score"] = str(default_score(row_type))
    counts = run_decode(graph_dir, post_scp, out_dir, opts, hotwords, record, args.tokens)
    logging.getLogger("decoding.search").info(
        "%s: %d decoded, %d failed (see %s), %d already done",
        out_dir,
        counts["decoded"],
        counts["failed"],
        out_dir / "failed",
        counts["skipped"],
    )
    return 0
