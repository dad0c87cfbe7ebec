"""``cifst hotwords check FILE --tokenizer DIR``: a hotword file + the model's tokenizer -> a report of every line
that cannot be used (characters the model lacks, phrases over the length limit, a first token that does not start a
word, too many hotwords), the merged duplicates, and the size of the context graph; exit 1 when a line is bad.

Also the decode-time options shared with ``cifst decode`` (:func:`add_hotword_options`,
:func:`context_from_args`), so every command spells them the same way. Standard library only at module level.
"""

from __future__ import annotations

import argparse
import sys

from decoding.hotwords.config import (
    DEFAULT_HOTWORD_SCORE,
    DEFAULT_HOTWORD_SCORE_FRAME,
    DEFAULT_HOTWORD_WEIGHT,
    HotwordConfig,
)

__all__ = [
    "register",
    "add_hotword_options",
    "config_from_args",
    "context_from_args",
    "resolve_tokenizer_dir",
]

_CHECK_HELP = """Check a hotword file against a model's tokenizer before decoding with it.

Prints one line per phrase that cannot be used (file:line, the phrase, why and how to fix it), the duplicates that
were merged, and the size of the context graph; exits 1 when some line cannot be used.

File format: one hotword per line, `phrase weight` (FunASR) or `phrase :weight` (sherpa-onnx); the weight is
optional; `#` starts a comment.

Example:
  cifst hotwords check conf/hotwords.txt --tokenizer exp/paraformer --show-tokens
"""


def add_hotword_options(p: argparse.ArgumentParser, files: bool = True) -> None:
    """Add the hotword options to a decode-like command.

    Args:
        p: The command's parser.
        files: Also add ``--hotwords FILE`` and ``--hotwords-scp SCP``.
    """
    g = p.add_argument_group("hotword biasing")
    if files:
        g.add_argument(
            "--hotwords", metavar="FILE", help="hotword list: `phrase weight` or `phrase :weight` lines"
        )
        g.add_argument(
            "--hotwords-scp",
            metavar="SCP",
            help="per-utterance hotword lists: `utt_key FILE` lines (each utterance gets its file plus --hotwords)",
        )
    g.add_argument(
        "--hotword-score",
        type=float,
        default=None,
        help="bonus per matched hotword token (natural log); 0 = whole-phrase weights only "
        f"(default: {DEFAULT_HOTWORD_SCORE} for CIF rows, {DEFAULT_HOTWORD_SCORE_FRAME} for CTC frame rows)"
        "%(default).0s",  # (prints nothing: keeps the formatter from adding "(default: None)")
    )
    g.add_argument(
        "--hotword-weight",
        type=float,
        default=DEFAULT_HOTWORD_WEIGHT,
        help="whole-phrase bonus added when a hotword completes, for lines that give no weight",
    )
    g.add_argument(
        "--hotword-gate",
        type=float,
        default=HotwordConfig.gate,
        metavar="LOGP",
        help="acoustic gate: a token advances a hotword match only when its log-posterior at its row is at least "
        "LOGP (e.g. -4.6 = 1%%); needs a search that passes token log-posteriors",
    )
    g.add_argument(
        "--hotword-no-word-end",
        action="store_true",
        help="pay a completed hotword at once, also inside a longer word (default: only at a word end)",
    )
    g.add_argument(
        "--hotword-style",
        choices=("auto", "funasr", "sherpa", "plain"),
        default="auto",
        help="hotword file style; `plain` reads every line as a phrase (no weights)",
    )
    g.add_argument(
        "--hotword-max-tokens", type=int, default=HotwordConfig.max_phrase_tokens, help="longest phrase"
    )
    g.add_argument(
        "--hotword-max-count", type=int, default=HotwordConfig.max_hotwords, help="most hotwords per list"
    )
    g.add_argument(
        "--hotwords-skip-bad", action="store_true", help="warn and skip unusable phrases instead of failing"
    )


def default_score(row_type: str | None) -> float:
    """The per-token bonus when ``--hotword-score`` is not given: by the posteriors' row type."""
    return DEFAULT_HOTWORD_SCORE_FRAME if row_type == "frame" else DEFAULT_HOTWORD_SCORE


def config_from_args(args: argparse.Namespace, row_type: str | None = None) -> HotwordConfig:
    """The :class:`HotwordConfig` of parsed :func:`add_hotword_options` options (``row_type`` picks the default
    per-token bonus when ``--hotword-score`` was not given)."""
    score = args.hotword_score if args.hotword_score is not None else default_score(row_type)
    return HotwordConfig(
        score=score,
        weight=args.hotword_weight,
        style=args.hotword_style,
        max_phrase_tokens=args.hotword_max_tokens,
        max_hotwords=args.hotword_max_count,
        skip_bad=args.hotwords_skip_bad,
        gate=getattr(args, "hotword_gate", HotwordConfig.gate),
        word_end=not getattr(args, "hotword_no_word_end", False),
    )


def context_from_args(args: argparse.Namespace, tokenizer, row_type: str | None = None):
    """Build the decode-time hotword context from parsed options.

    Args:
        args: Parsed options of :func:`add_hotword_options`.
        tokenizer: The model's tokenizer (or its directory).

    Returns:
        ``None`` when neither ``--hotwords`` nor ``--hotwords-scp`` was given (the search then pays nothing), else a
        :class:`decoding.hotwords.load.UttContexts` (``.graph``, ``.start_states(keys)``).
    """
    if not getattr(args, "hotwords", None) and not getattr(args, "hotwords_scp", None):
        return None
    from decoding.hotwords.load import UttContexts, load_context, load_context_scp

    explicit = bool(getattr(args, "tokenizer", None))
    tokenizer = resolve_tokenizer_dir(tokenizer, getattr(args, "paths", None), prefer_model=not explicit)
    config = config_from_args(args, row_type)
    if args.hotwords_scp:
        return load_context_scp(args.hotwords_scp, tokenizer, global_path=args.hotwords, config=config)
    return UttContexts(load_context(args.hotwords, tokenizer, config=config), {}, 0)


def resolve_tokenizer_dir(tokenizer, paths=None, prefer_model: bool = False):
    """The directory to load the hotword tokenizer from.

    The phrases must be split the way the model was trained. ``cifst infer`` names the model in ``post.yaml``
    beside the posteriors (``model:``); with ``prefer_model`` (no ``--tokenizer`` given) that model's tokenizer is
    used whenever it has a ``tokenizer.yaml``. Otherwise the given directory is used, unless it lacks
    ``tokenizer.yaml`` (a graph directory has only ``tokens.txt``, from which a plain tokenizer would mis-split BPE
    phrases): then the model of ``post.yaml`` (or the folder of its ``tokens:``) is tried before falling back with a
    warning.

    Args:
        tokenizer: A tokenizer object (returned as is) or a directory (``--tokenizer``, or the default GRAPH_DIR).
        paths: The decode command's positional paths (``... POSTERIORS_SCP OUT_DIR``), to find ``post.yaml``.
        prefer_model: The directory is only a default: the model named by ``post.yaml`` wins when it has a tokenizer.
    """
    import logging
    from pathlib import Path

    if not isinstance(tokenizer, (str, Path)):
        return tokenizer
    given = Path(tokenizer)
    log = logging.getLogger("decoding.hotwords")
    model = _post_yaml_tokenizer(paths)
    if prefer_model and model is not None:
        if Path(model).resolve() != given.resolve():
            log.info("hotwords: spelling phrases with the model's tokenizer %s (post.yaml)", model)
        return model
    if not given.is_dir() or (given / "tokenizer.yaml").exists():
        return tokenizer
    if model is not None:
        log.info("hotwords: %s has no tokenizer.yaml; using the model's tokenizer %s", given, model)
        return model
    log.warning(
        "hotwords: %s has no tokenizer.yaml: phrases are spelled with a tokenizer rebuilt from tokens.txt, which "
        "may not split them the model's way; pass --tokenizer MODEL_DIR",
        given,
    )
    return tokenizer


def _post_yaml_tokenizer(paths) -> str | None:
    """The tokenizer directory named by ``post.yaml`` beside the posteriors (``model:``, else the folder of
    ``tokens:``) when it holds a ``tokenizer.yaml``, else ``None``."""
    from pathlib import Path

    if not paths or len(paths) < 2:
        return None
    meta = Path(paths[-2]).parent / "post.yaml"
    if not meta.exists():
        return None
    import yaml

    info = yaml.safe_load(meta.read_text(encoding="utf-8")) or {}
    for cand in (info.get("model"), info.get("tokens") and (meta.parent / info["tokens"]).parent):
        if cand and (Path(cand) / "tokenizer.yaml").exists():
            return str(cand)
    return None


def _check(args: argparse.Namespace) -> int:
    from asr.text.tokenizer import load_tokenizer
    from decoding.hotwords.context_graph import ContextGraph
    from decoding.hotwords.load import tokenize_hotwords
    from decoding.hotwords.parse import parse_hotwords

    config = config_from_args(args)
    tokenizer = load_tokenizer(args.tokenizer)
    parsed = parse_hotwords(args.file, config.style)
    tok = tokenize_hotwords(parsed, tokenizer, config, collect=True)
    out = sys.stdout
    for problem in tok.problems:
        print(f"{problem}", file=out)
    for note in tok.notes:
        print(f"note: {note}", file=out)
    merged = 0
    for hws in tok.sources:
        lines = sorted(line for h in hws for line in [h.line, *h.merged_lines])
        if len(lines) > 1:
            merged += len(lines) - 1
            phrases = sorted({h.phrase for h in hws})
            print(f"{args.file}: lines {', '.join(map(str, lines))}: merged duplicates {phrases}", file=out)
    if args.show_tokens:
        for ids, w, hws in zip(tok.phrases, tok.weights, tok.sources):
            pieces = " ".join(tokenizer.symbols[i] for i in ids)
            print(f"{hws[0].where()}\t{hws[0].phrase}\t{pieces}\tweight={w:g}", file=out)
    v = int(tokenizer.symbols.max_id) + 1
    graph = ContextGraph.build(
        tok.phrases,
        tok.weights,
        config.score,
        v,
        dense_max_entries=config.dense_max_entries,
        dfa_max_entries=config.dfa_max_entries,
    )
    print(
        f"{args.file}: {len(tok.phrases)} hotwords usable, {len(tok.problems)} problem(s), {merged} duplicate(s) "
        f"merged; context graph {graph.num_states} states, {graph.num_edges} edges, max depth {graph.max_depth}, "
        f"{graph.mode} table, {graph.nbytes() / 1024:.1f} KiB",
        file=out,
    )
    return 1 if tok.problems else 0


def register(sub) -> None:
    from asr.cli import add_command, add_group

    group = add_group(sub, "hotwords", "hotword lists: check them against a model's tokenizer")
    p = add_command(
        group, "check", "report hotword lines a model cannot use", _CHECK_HELP, _check, "hotwords check"
    )
    p.add_argument("file", metavar="FILE", help="hotword file")
    p.add_argument(
        "--tokenizer", required=True, metavar="DIR", help="model or tokenizer directory (tokens.txt ...)"
    )
    p.add_argument("--show-tokens", action="store_true", help="print each phrase's tokens and weight")
    add_hotword_options(p, files=False)
