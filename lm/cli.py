"""``cifst lm build|ppl|prune``: thin argparse layer over :mod:`lm.build`, :mod:`lm.ppl` and :mod:`lm.prune`.

``cifst lm build`` takes lmplz's options with lmplz's spellings (``-o``, ``-S``, ``-T``, ``--prune``,
``--limit_vocab_file``, ``--discount_fallback``, ``--interpolate_unigrams``, ``--skip_symbols``, ``--text``,
``--arpa``, ``--verbose_header``; ``--vocab_estimate``, ``--minimum_block``, ``--sort_block``, ``--block_count`` are
accepted and ignored), reads stdin or the files given, and writes ARPA to stdout or ``--arpa``. Only the standard
library is imported at module level.
"""

from __future__ import annotations

import argparse
import sys

from asr.cli import add_command, add_group

__all__ = ["register"]

BUILD_HELP = """Build an n-gram LM (modified Kneser-Ney exactly as kenlm's lmplz; other smoothing on request).

Reads text (one sentence per line; stdin, files, .gz) and writes ARPA to stdout or --arpa.

Example:
  cifst lm build -o 3 < data/train/text.txt > lm.arpa
  cifst lm build -o 4 --prune 0 0 1 --arpa lm.arpa corpus.txt.gz
  cifst lm build -o 5 --unit char --discount_fallback --arpa zh.arpa zh_text.txt
"""

FROM_INTERMEDIATE_HELP = """Write the model held in kenlm intermediate files (from `cifst lm build --intermediate` or lmplz) as ARPA.

Example:
  cifst lm build -o 4 --intermediate work/lm corpus.txt
  cifst lm from-intermediate work/lm --arpa lm.arpa
"""

PPL_HELP = """Perplexity and OOV count of an ARPA LM on a text (the numbers kenlm's query prints).

Example:
  cifst lm ppl lm.arpa data/test/text.txt
"""

PRUNE_HELP = """Relative-entropy (Stolcke) pruning of an ARPA LM, by threshold or to a target number of n-grams.

Example:
  cifst lm prune lm.arpa small.arpa --threshold 1e-8
  cifst lm prune lm.arpa small.arpa --target-size 100000
"""


def register(sub) -> None:
    group = add_group(sub, "lm", "n-gram language models: build (lmplz drop-in), ppl, prune")
    p = add_command(group, "build", "build an ARPA LM from text", BUILD_HELP, _build, prog="lm build")
    p.add_argument("texts", nargs="*", metavar="TEXT", help="text files (default: stdin; .gz accepted)")
    p.add_argument("-o", "--order", type=int, required=True, help="order of the model")
    p.add_argument("--text", help="read text from this file instead of stdin (lmplz spelling)")
    p.add_argument("--arpa", help="write the ARPA to this file instead of stdout")
    p.add_argument("-S", "--memory", default="1G", help="memory bound for counting, e.g. 500M, 4G, 50%%")
    p.add_argument("-T", "--temp_prefix", default=None, help="directory for spilled sorted runs")
    p.add_argument(
        "--prune",
        nargs="+",
        default=None,
        metavar="N",
        help="prune n-grams with count <= N, one value per order",
    )
    p.add_argument("--limit_vocab_file", default=None, help="prune n-grams with words not in this file")
    p.add_argument(
        "--discount_fallback",
        nargs="*",
        default=None,
        metavar="D",
        help="discounts for orders where the closed form fails (no values: 0.5 1 1.5)",
    )
    p.add_argument(
        "--interpolate_unigrams",
        nargs="?",
        type=int,
        const=1,
        default=1,
        choices=(0, 1),
        help="interpolate unigrams with the uniform distribution (0: SRILM-style mass to <unk>)",
    )
    p.add_argument(
        "--skip_symbols", action="store_true", help="treat <s>, </s>, <unk> in the text as whitespace"
    )
    p.add_argument(
        "--vocab_pad",
        type=int,
        default=0,
        metavar="N",
        help="if the vocabulary is smaller than N, pad the uniform distribution with <unk> to reach N",
    )
    p.add_argument(
        "--collapse_values",
        action="store_true",
        help="write q (probability and back-off folded into one value, same sentence scores), back-offs 0",
    )
    p.add_argument(
        "--renumber",
        action="store_true",
        help="number words by their MurmurHash64A, so sections list n-grams in kenlm's trie order",
    )
    p.add_argument(
        "--intermediate",
        metavar="PREFIX",
        default=None,
        help="write kenlm intermediate files PREFIX.1.. (implies --renumber; no ARPA unless --arpa is given)",
    )
    p.add_argument("--verbose_header", action="store_true", help="write '# ...' header lines before \\data\\")
    p.add_argument(
        "--unit", choices=("word", "char"), default="word", help="char: each CJK character a token"
    )
    p.add_argument(
        "--smoothing",
        default="mkn",
        choices=("mkn", "kn", "absolute", "witten-bell", "add-k", "katz"),
        help="mkn = lmplz's modified Kneser-Ney",
    )
    p.add_argument("--discount", type=float, default=None, help="fixed discount for --smoothing kn/absolute")
    p.add_argument("--add-k", type=float, default=1.0, help="k of --smoothing add-k")
    p.add_argument("--katz-k", type=int, default=5, help="Katz: counts above this are not discounted")
    p.add_argument("--quiet", action="store_true", help="no statistics or progress bars on stderr")
    for ignored in ("--vocab_estimate", "--minimum_block", "--sort_block", "--block_count"):
        p.add_argument(ignored, default=None, help=argparse.SUPPRESS)

    fi = add_command(
        group,
        "from-intermediate",
        "ARPA from kenlm intermediate files",
        FROM_INTERMEDIATE_HELP,
        _from_intermediate,
        prog="lm from-intermediate",
    )
    fi.add_argument(
        "prefix", metavar="PREFIX", help="prefix given to --intermediate (PREFIX.1, PREFIX.vocab, ...)"
    )
    fi.add_argument("--arpa", default=None, help="write the ARPA here instead of stdout")

    q = add_command(group, "ppl", "perplexity of an ARPA LM on text", PPL_HELP, _ppl, prog="lm ppl")
    q.add_argument("lm", metavar="LM", help="ARPA file (.gz accepted)")
    q.add_argument("text", metavar="TEXT", help="text, one sentence per line ('-' = stdin)")
    q.add_argument("--unit", choices=("word", "char"), default="word")
    q.add_argument("--per-sentence", action="store_true", help="also print each sentence's log10 probability")

    r = add_command(
        group, "prune", "relative-entropy pruning of an ARPA LM", PRUNE_HELP, _prune, prog="lm prune"
    )
    r.add_argument("lm", metavar="LM", help="input ARPA")
    r.add_argument("out", metavar="OUT", help="output ARPA ('-' = stdout)")
    g = r.add_mutually_exclusive_group(required=True)
    g.add_argument("--threshold", type=float, help="prune n-grams whose removal costs less relative entropy")
    g.add_argument("--target-size", type=int, help="keep about this many n-grams in total")
    r.add_argument("--min-order", type=int, default=2, help="lowest order that may be pruned")


def _build(args) -> int:
    from asr.errors import CifstError
    from lm.build import LmBuildConfig, build_arpa, parse_prune_thresholds
    from lm.counts import parse_size
    from lm.discount import parse_discount_fallback

    # Options taking several numbers (--prune, --discount_fallback) swallow a following TEXT path: give it back.
    stray: list[str] = []
    args.discount_fallback = _numbers_only(args.discount_fallback, stray)
    args.prune = _numbers_only(args.prune, stray)
    sources = list(args.texts) + stray
    if args.text:
        sources.append(args.text)
    if not sources:
        if sys.stdin.isatty():
            raise CifstError("no text given: pipe a corpus into stdin or name text files (see --help)")
        sources = ["-"]
    cfg = LmBuildConfig(
        order=args.order,
        unit=args.unit,
        memory=parse_size(args.memory),
        temp_prefix=args.temp_prefix,
        prune=parse_prune_thresholds(args.prune, args.order),
        limit_vocab_file=args.limit_vocab_file,
        discount_fallback=parse_discount_fallback(args.discount_fallback),
        interpolate_unigrams=bool(args.interpolate_unigrams),
        vocab_pad=args.vocab_pad,
        collapse_values=args.collapse_values,
        renumber=args.renumber,
        intermediate=args.intermediate,
        skip_symbols=args.skip_symbols,
        smoothing=args.smoothing,
        discount=args.discount,
        add_k=args.add_k,
        katz_k=args.katz_k,
        progress=not args.quiet,
        verbose=not args.quiet,
        verbose_header=args.verbose_header,
    )
    build_arpa(sources, args.arpa, cfg)
    return 0


def _from_intermediate(args) -> int:
    from lm.intermediate import intermediate_to_arpa

    intermediate_to_arpa(args.prefix, args.arpa)
    return 0


def _numbers_only(values: list[str] | None, stray: list[str]) -> list[str] | None:
    """Keep the leading numeric values; move the rest (file names argparse attached to the option) to ``stray``."""
    if values is None:
        return None
    keep: list[str] = []
    for i, v in enumerate(values):
        try:
            float(v)
        except ValueError:
            stray.extend(values[i:])
            break
        keep.append(v)
    return keep


def _ppl(args) -> int:
    from lm.ppl import perplexity_file

    res = perplexity_file(args.lm, args.text, args.unit)
    if args.per_sentence:
        for i, lp in enumerate(res.sentence_logprob, 1):
            print(f"{i}\t{lp:.6f}")
    sys.stdout.write(res.summary())
    return 0


def _prune(args) -> int:
    from lm.model import read_model_arpa, write_model_arpa
    from lm.prune import relative_entropy_prune

    model = read_model_arpa(args.lm)
    before = sum(model.counts().values())
    pruned = relative_entropy_prune(
        model, threshold=args.threshold, target_size=args.target_size, min_order=args.min_order
    )
    write_model_arpa(pruned, None if args.out == "-" else args.out)
    after = sum(pruned.counts().values())
    print(f"cifst lm prune: {before} -> {after} n-grams ({pruned.counts()})", file=sys.stderr)
    return 0
