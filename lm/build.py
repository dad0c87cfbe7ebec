"""Text -> ARPA: the whole builder pipeline behind ``cifst lm build`` (a drop-in for kenlm's ``lmplz``).

Input: text files or stdin and an :class:`LmBuildConfig`. Output: an :class:`lm.model.NgramModel` and, through
:func:`build_arpa`, an ARPA file identical in layout and (to float32 print precision) in values to lmplz's.

Stages, after kenlm ``lm/builder/pipeline.cc``: :mod:`lm.counts` (count order-N n-grams) -> :mod:`lm.adjust`
(per-order tables, adjusted counts, pruning) -> :mod:`lm.discount` (D1, D2, D3+) -> :mod:`lm.interpolate`
(probabilities, back-offs) -> :mod:`lm.model` (ARPA). Other smoothing methods (:mod:`lm.smoothing`) replace the
last two stages.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass, field

import numpy as np

from asr.errors import CifstError
from lm.adjust import build_tables
from lm.counts import CountConfig, count_ngrams, split_units
from lm.discount import kneser_ney_discounts
from lm.interpolate import modified_kneser_ney
from lm.model import NgramModel, write_model_arpa

__all__ = ["LmBuildConfig", "build_lm", "build_arpa", "parse_prune_thresholds", "SMOOTHING_METHODS"]

SMOOTHING_METHODS = ("mkn", "kn", "absolute", "witten-bell", "add-k", "katz")


@dataclass
class LmBuildConfig:
    """Settings of ``cifst lm build`` (lmplz's option names in brackets).

    Attributes:
        order: N (``-o``).
        unit: ``word`` or ``char`` (CJK characters as tokens).
        memory: Memory bound in bytes (``-S``).
        temp_prefix: Directory for spilled runs (``-T``).
        prune: Count thresholds per order (``--prune``), already expanded to N values; empty = no pruning.
        limit_vocab_file: File of allowed words (``--limit_vocab_file``); n-grams with other words are pruned.
        discount_fallback: (D1, D2, D3+) used where the closed form fails (``--discount_fallback``), or ``None``.
        interpolate_unigrams: lmplz ``--interpolate_unigrams`` (default on).
        vocab_pad: lmplz ``--vocab_pad``: spread the uniform unigram mass over at least this many words (the
            missing ones all map to ``<unk>``); needs ``interpolate_unigrams``.
        collapse_values: lmplz ``--collapse_values``: one value q per n-gram (probability with the back-offs
            folded in, same sentence probabilities) and back-offs 0; modified Kneser-Ney only.
        renumber: lmplz ``--renumber``: word ids monotone with each word's hash, so every ARPA section is listed in
            that order (kenlm's trie order); modified Kneser-Ney of order >= 2 only.
        intermediate: lmplz ``--intermediate PREFIX``: write kenlm intermediate files (:mod:`lm.intermediate`);
            implies ``renumber``; the ARPA is then written only when an output path is given.
        skip_symbols: lmplz ``--skip_symbols``.
        smoothing: One of :data:`SMOOTHING_METHODS`; ``mkn`` is lmplz's modified Kneser-Ney.
        discount: Fixed discount for ``kn``/``absolute`` (``None``: n1 / (n1 + 2 n2) per order).
        add_k: k for ``add-k``.
        katz_k: Counts above this are not discounted by Katz (Good-Turing up to k).
        progress: Show progress bars.
        verbose: Print lmplz-style statistics to stderr.
        verbose_header: Write lmplz's ``# Input file / Token count / Smoothing`` lines before ``\\data\\``.
    """

    order: int
    unit: str = "word"
    memory: int = 1 << 30
    temp_prefix: str | None = None
    prune: list[int] = field(default_factory=list)
    limit_vocab_file: str | None = None
    discount_fallback: tuple[float, float, float] | None = None
    interpolate_unigrams: bool = True
    vocab_pad: int = 0
    collapse_values: bool = False
    renumber: bool = False
    intermediate: str | None = None
    skip_symbols: bool = False
    smoothing: str = "mkn"
    discount: float | None = None
    add_k: float = 1.0
    katz_k: int = 5
    progress: bool = True
    verbose: bool = True
    verbose_header: bool = False


def parse_prune_thresholds(values: list[str] | None, order: int) -> list[int]:
    """Expand lmplz's ``--prune`` values to one threshold per order (last value repeated).

    Raises:
        CifstError: Non-integer, more values than orders, or decreasing values.
    """
    if not values:
        return []
    out = []
    for v in values:
        try:
            x = int(v)
            if x < 0:
                raise ValueError
        except ValueError:
            raise CifstError(f"--prune: bad threshold {v!r}, expected a non-negative integer") from None
        out.append(x)
    if len(out) > order:
        raise CifstError(
            f"--prune: you gave thresholds for orders 1 through {len(out)} but the model has order {order}"
        )
    for a, b in zip(out, out[1:]):
        if b < a:
            raise CifstError(
                f"--prune: thresholds must not decrease ({' '.join(map(str, out))}); otherwise an n-gram could "
                "be kept while its own context is removed"
            )
    return out + [out[-1]] * (order - len(out))


def _log_counts(counts, config: LmBuildConfig, log, t0: float) -> None:
    log(
        f"Unigram tokens {counts.token_count} types {len(counts.vocab)}; "
        f"{len(counts.counts)} distinct {config.order}-grams ({time.time() - t0:.1f} s)"
    )


def _allowed_or_none(counts, config: LmBuildConfig):
    """The ``--limit_vocab_file`` mask over ``counts.vocab``, or ``None`` without that option."""
    if not config.limit_vocab_file:
        return None
    return _allowed_words(config.limit_vocab_file, counts.vocab, config.unit)


def _allowed_words(path: str, vocab: list[str], unit: str) -> np.ndarray:
    from lm.arpa import open_text

    allowed = np.zeros(len(vocab), bool)
    index = {w: i for i, w in enumerate(vocab)}
    with open_text(path) as f:
        for line in f:
            for w in split_units(line.rstrip("\n"), unit):
                i = index.get(w)
                if i is not None:
                    allowed[i] = True
    allowed[:3] = True
    return allowed


def _check_config(config: LmBuildConfig) -> None:
    if config.order < 1:
        raise CifstError(f"-o/--order must be at least 1, got {config.order}")
    if config.smoothing not in SMOOTHING_METHODS:
        raise CifstError(
            f"unknown smoothing {config.smoothing!r}; choose one of {', '.join(SMOOTHING_METHODS)}"
        )
    if config.vocab_pad < 0:
        raise CifstError(f"--vocab_pad must be >= 0, got {config.vocab_pad}")
    if config.vocab_pad and not config.interpolate_unigrams:
        raise CifstError(
            "--vocab_pad requires --interpolate_unigrams be on (the padding enlarges the uniform distribution "
            "that unigrams are interpolated with); drop --interpolate_unigrams 0 or --vocab_pad"
        )
    lmplz_only = config.vocab_pad or config.collapse_values or config.renumber or config.intermediate
    if lmplz_only and config.smoothing != "mkn":
        raise CifstError(
            f"--vocab_pad, --collapse_values, --renumber and --intermediate are lmplz options of modified "
            f"Kneser-Ney; --smoothing {config.smoothing} does not take them"
        )
    if (config.renumber or config.intermediate) and config.order < 2:
        raise CifstError("--renumber and --intermediate need an order of 2 or more here")
    if config.collapse_values and config.order < 2:
        raise CifstError("--collapse_values needs an order of 2 or more (a unigram model has no back-offs)")


def _count_config(config: LmBuildConfig) -> CountConfig:
    return CountConfig(
        order=config.order,
        unit=config.unit,
        memory=config.memory,
        temp_prefix=config.temp_prefix,
        skip_symbols=config.skip_symbols,
        progress=config.progress,
    )


def build_lm(sources: list[str], config: LmBuildConfig) -> NgramModel:
    """Build a model from text.

    Args:
        sources: Text files (``.gz`` accepted) or ``["-"]`` for stdin.
        config: Settings.

    Returns:
        The model.

    Raises:
        CifstError: Bad settings; :class:`lm.discount.DiscountError` when discounts cannot be estimated.
        InputError: Special words in the text without ``skip_symbols``.
    """
    _check_config(config)
    log = (lambda m: print(m, file=sys.stderr)) if config.verbose else (lambda m: None)
    t0 = time.time()
    counts = count_ngrams(sources, _count_config(config))
    info = {"input": _source_names(sources), "tokens": counts.token_count}
    try:
        _log_counts(counts, config, log, t0)
        allowed = _allowed_or_none(counts, config)
        if config.smoothing != "mkn":
            from lm.smoothing import build_smoothed

            model = build_smoothed(counts, config, allowed)
            model.info.update(info, smoothing=config.smoothing)
            return model
        tables = build_tables(counts, config.prune or None, allowed)
    finally:
        counts.close()
    discounts = kneser_ney_discounts(tables.count_of_counts, config.discount_fallback, warn=log)
    if config.verbose:
        lines = ["Statistics:"]
        for n, (t, d) in enumerate(zip(tables.tables, discounts), 1):
            kept = int((~t.pruned).sum())
            size = f"{kept}" if kept == len(t) else f"{kept}/{len(t)}"
            lines.append(f"{n} {size} D1={d.d1:.7g} D2={d.d2:.7g} D3+={d.d3:.7g}")
        log("\n".join(lines))
    model = modified_kneser_ney(tables, discounts, config.interpolate_unigrams, config.vocab_pad)
    model.info.update(info, smoothing="Modified Kneser-Ney")
    log(f"built the model in {time.time() - t0:.1f} s")
    return model


def build_arpa(sources: list[str], out: str | os.PathLike | None, config: LmBuildConfig) -> dict[int, int]:
    """Build a model and write it as ARPA (stdout when ``out`` is ``None`` or ``"-"``).

    Modified Kneser-Ney of order >= 2 streams through disk order by order (:mod:`lm.streaming`: bounded memory,
    the same bytes as writing :func:`build_lm`'s model); other smoothing and order 1 build the model in memory.

    With ``config.intermediate`` and ``out`` ``None`` only the intermediate files are written (as lmplz).

    Returns:
        ``{order: n-grams written}`` (the ARPA header).
    """
    if config.smoothing != "mkn" or config.order < 2:
        model = build_lm(sources, config)
        _write_model(model, out, config)
        return model.counts()
    _check_config(config)
    from lm.checkpoint import count_with_checkpoint, finish_work_dir
    from lm.streaming import write_mkn_arpa_streaming

    log = (lambda m: print(m, file=sys.stderr)) if config.verbose else None
    t0 = time.time()
    counts, work = count_with_checkpoint(sources, _count_config(config), log)
    success = False
    try:
        if log:
            _log_counts(counts, config, log, t0)
        allowed = _allowed_or_none(counts, config)
        header = write_mkn_arpa_streaming(
            counts,
            out,
            lambda coc: kneser_ney_discounts(coc, config.discount_fallback, warn=log),
            prune_thresholds=config.prune or None,
            allowed_words=allowed,
            interpolate_unigrams=config.interpolate_unigrams,
            vocab_pad=config.vocab_pad,
            collapse_values=config.collapse_values,
            renumber=config.renumber,
            intermediate=config.intermediate,
            write_arpa=not (config.intermediate and out is None),
            comments=_comments(config, sources, counts.token_count),
            temp_prefix=str(work) if work is not None else config.temp_prefix,
            block_rows=max(1 << 14, min(1 << 21, config.memory // 1024)),
            progress=config.progress,
            log=log,
        )
        success = True
    finally:
        counts.close()
        finish_work_dir(work, success)
    if log:
        log(f"wrote the ARPA in {time.time() - t0:.1f} s")
    return header


def _source_names(sources: list[str]) -> str:
    return ",".join("/dev/stdin" if str(s) == "-" else str(s) for s in sources)


def _comments(config: LmBuildConfig, sources: list[str], tokens: int, smoothing: str = "Modified Kneser-Ney"):
    if not config.verbose_header:
        return None
    return [f"Input file: {_source_names(sources)}", f"Token count: {tokens}", f"Smoothing: {smoothing}"]


def _write_model(model: NgramModel, out, config: LmBuildConfig) -> None:
    bar = None
    if config.progress:
        from tqdm import tqdm

        bar = tqdm(
            total=sum(model.counts().values()),
            unit="ngram",
            desc="writing ARPA",
            file=sys.stderr,
            leave=False,
        )
    comments = None
    if config.verbose_header:
        comments = [
            f"Input file: {model.info.get('input', '')}",
            f"Token count: {model.info.get('tokens', 0)}",
            f"Smoothing: {model.info.get('smoothing', '')}",
        ]
    write_model_arpa(model, out, progress=bar, comments=comments)
    if bar is not None:
        bar.close()
