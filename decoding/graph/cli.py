"""``cifst graph build`` and ``cifst graph info``: command-line layer over :mod:`decoding.graph.build` and
:mod:`decoding.graph.load`. Imports only the standard library at module level.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

__all__ = ["register"]

BUILD_DESCRIPTION = """\
Compile a decoding graph TLG = T o min(det(L o G)) into GRAPH_DIR: TLG.fst (OpenFst), TLG.pt (torch CSR tensors),
tokens.txt, words.txt (and L_disambig.fst, G.fst, LG.fst, lexicon.txt with disambiguation symbols). Input labels
are token id + 1 (blank = 1), output labels word ids, weights natural-log costs. A rerun with the same inputs skips
the steps already done.

Example:
  cifst graph build --tokens exp/tok/tokens.txt --lexicon data/lang/lexicon.txt --arpa data/lm/lm.arpa \\
      --topo cif exp/graph
  cifst graph build --tokenizer exp/tok --arpa data/lm/lm.arpa --topo ctc --oov skip exp/graph_nolex
  cifst graph build --tokens exp/tok/tokens.txt --lexicon data/lang/lexicon.txt --tokenizer exp/tok \
      --arpa data/lm/lm.arpa --extra-words hotwords.txt --topo cif exp/graph_hot
"""

INFO_DESCRIPTION = """\
Print the statistics of a graph: states, arcs, final states, input-epsilon arcs, out-degree, label ranges, and the
symbol tables' sizes. GRAPH is a graph directory, a TLG.fst or a TLG.pt.

Example:
  cifst graph info exp/graph
"""


def register(sub) -> None:
    from asr.cli import add_command, add_group

    group = add_group(sub, "graph", "build and inspect TLG decoding graphs")
    p = add_command(
        group,
        "build",
        "compile TLG from tokens, a lexicon and an ARPA LM",
        BUILD_DESCRIPTION,
        _build,
        prog="graph build",
    )
    p.add_argument("graph_dir", metavar="GRAPH_DIR", help="output directory")
    p.add_argument("--tokens", help="tokens.txt (id 0 = <blk>); default: the tokenizer's")
    p.add_argument("--lexicon", help="lexicon.txt: 'word [prob] tok1 tok2 ...' per line")
    p.add_argument("--tokenizer", help="tokenizer directory: spell the LM's words with it (no lexicon)")
    p.add_argument("--arpa", required=True, help="ARPA n-gram LM (plain or .gz)")
    p.add_argument("--topo", default="ctc", choices=["ctc", "ctc-compact", "cif"], help="token topology T")
    p.add_argument("--oov", default="error", help="LM words not in the lexicon: error | skip | map:<unk>")
    p.add_argument(
        "--cif-skip-penalty",
        type=float,
        default=10.0,
        help="cif: cost of skipping a token slot (natural log)",
    )
    p.add_argument("--no-cif-skip", action="store_true", help="cif: every row must emit a token")
    p.add_argument("--sil-token", help="token of optional silence between words")
    p.add_argument("--sil-prob", type=float, default=0.0, help="probability of that silence")
    p.add_argument(
        "--lexicon-probs",
        choices=["auto", "yes", "no"],
        default="auto",
        help="whether lexicon.txt has a probability column",
    )
    p.add_argument(
        "--max-det-states",
        type=int,
        default=0,
        help="refuse a det(L o G) of more states, naming the n-gram contexts that make it big (0 = no cap with "
        "--det-method trie, whose size is known in advance; 20 x |L o G| + 100000 with openfst)",
    )
    p.add_argument(
        "--det-method",
        choices=["auto", "trie", "openfst"],
        default="auto",
        help="how det(L o G) is made: lexicon tries written directly (trie; auto unless --sil-token) or OpenFst "
        "compose + determinize (openfst)",
    )
    p.add_argument(
        "--extra-words",
        metavar="FILE",
        help="words or hotword phrases ('phrase', 'phrase weight', 'phrase :weight' per line) to make outputtable: "
        "the LM's unknown ones become unigrams of the back-off state (spelled by the lexicon, else --tokenizer)",
    )
    p.add_argument(
        "--extra-word-logprob",
        type=float,
        default=None,
        help="log10 unigram probability of the extra words (default: the ARPA's <unk>, else -7)",
    )
    p.add_argument("--no-pt", action="store_true", help="do not write TLG.pt")
    p.add_argument("--clean", action="store_true", help="delete L_disambig.fst, G.fst and LG.fst at the end")
    p.add_argument("--quiet", action="store_true", help="log warnings only")

    p = add_command(
        group, "info", "print the statistics of a graph", INFO_DESCRIPTION, _info, prog="graph info"
    )
    p.add_argument("graph", metavar="GRAPH", help="graph directory, TLG.fst or TLG.pt")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of text")


def _setup_logging(quiet: bool) -> None:
    logging.basicConfig(
        level=logging.WARNING if quiet else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


def _build(args: argparse.Namespace) -> int:
    from decoding.graph.build import GraphBuildConfig, build_graph

    _setup_logging(args.quiet)
    cfg = GraphBuildConfig(
        tokens=args.tokens,
        arpa=args.arpa,
        lexicon=args.lexicon,
        tokenizer=args.tokenizer,
        topo=args.topo,
        cif_skip=not args.no_cif_skip,
        cif_skip_penalty=args.cif_skip_penalty,
        oov=args.oov,
        lexicon_probs={"auto": None, "yes": True, "no": False}[args.lexicon_probs],
        sil_token=args.sil_token,
        sil_prob=args.sil_prob,
        max_det_states=args.max_det_states,
        det_method=args.det_method,
        extra_words=args.extra_words,
        extra_word_logprob=args.extra_word_logprob,
        write_pt=not args.no_pt,
        keep_intermediate=not args.clean,
    )
    res = build_graph(cfg, args.graph_dir)
    tlg = res.sizes.get("TLG.fst")
    where = f"{tlg[0]} states, {tlg[1]} arcs" if tlg else "all steps were already done"
    extra = f", {len(res.extra_words)} extra words" if res.extra_words else ""
    print(f"{res.graph_dir}: TLG ({cfg.topo}) {where}; {res.num_words} words{extra}, {res.num_tokens} tokens")
    return 0


def graph_stats(path: str | Path) -> dict:
    """Statistics of a graph directory, TLG.fst or TLG.pt (see ``cifst graph info``)."""
    import torch

    from asr.errors import InputError
    from decoding.graph.csr import CsrGraph
    from decoding.graph.load import convert_fst, load_graph

    p = Path(path)
    stats: dict = {"path": str(p)}
    if p.is_dir():
        graph, tokens, words = load_graph(p)
        stats["tokens"] = len(tokens)
        stats["words"] = sum(
            1 for s, i in words if i > 0 and not s.startswith("#") and s not in ("<s>", "</s>")
        )
        build = p / "build.json"
        if build.exists():
            stats["topo"] = json.loads(build.read_text())["config"].get("topo")
    elif p.suffix == ".pt":
        graph = CsrGraph.load(p)
    elif p.exists():
        import pywrapfst as fst

        from decoding.graph.fst_arrays import fst_to_arrays

        try:
            a = fst_to_arrays(fst.Fst.read(str(p)))
        except fst.FstIOError:
            raise InputError(p, None, "not an OpenFst binary FST") from None
        stats["input_epsilon_arcs"] = int((a.ilabel == 0).sum())
        graph = (
            convert_fst(p)
            if stats["input_epsilon_arcs"] == 0
            else CsrGraph.from_arrays(
                a.num_states, max(a.start, 0), a.src, a.dst, a.ilabel, a.olabel, a.weight, a.final
            )
        )
    else:
        raise FileNotFoundError(2, "No such file or directory", str(p))
    deg = torch.diff(graph.row_ptr)
    stats.update(
        states=graph.num_states,
        arcs=graph.num_arcs,
        start=graph.start,
        final_states=int(torch.isfinite(graph.final).sum()),
        input_epsilon_arcs=stats.get("input_epsilon_arcs", int((graph.ilabel == 0).sum())),
        word_arcs=int((graph.olabel > 0).sum()),
        max_out_degree=int(deg.max()) if deg.numel() else 0,
        mean_out_degree=round(float(deg.float().mean()), 3) if deg.numel() else 0.0,
        max_ilabel=int(graph.ilabel.max()) if graph.num_arcs else 0,
        max_olabel=int(graph.olabel.max()) if graph.num_arcs else 0,
        tensor_mb=round(
            sum(
                t.numel() * t.element_size()
                for t in (
                    graph.row_ptr,
                    graph.dst,
                    graph.ilabel,
                    graph.olabel,
                    graph.weight,
                    graph.final,
                )
            )
            / 2**20,
            2,
        ),
    )
    return stats


def _info(args: argparse.Namespace) -> int:
    stats = graph_stats(args.graph)
    if args.json:
        print(json.dumps(stats))
    else:
        width = max(len(k) for k in stats)
        for k, v in stats.items():
            print(f"{k:<{width}}  {v}")
    return 0
