"""Hotword files + the model's tokenizer -> :class:`ContextGraph` (one list) or :class:`UttContexts` (per-utterance
lists via ``--hotwords-scp``), with the limits checked and every problem named by file and line.

Each phrase is encoded with the model's tokenizer (CJK characters, sentencepiece pieces). A phrase is rejected
when a character has no token (the tokenizer's strict mode, or an ``<unk>`` in its ids), when it is longer than
``max_phrase_tokens``, or when its first token does not start a word (``Tokenizer.is_word_start``): the trie only
has word-initial tokens at its roots, so ``cat`` (``▁cat``) cannot fire inside ``concatenate``
(``▁con cat en ate``). Phrases with the same token ids are merged (largest weight). A list longer than
``max_hotwords`` is rejected.

Reference: the hotword handling of sherpa-onnx (``--hotwords-file``, ``--hotwords-score``) and FunASR's runtime
(``phrase weight`` files), re-designed around :mod:`decoding.hotwords.context_graph`.
"""

from __future__ import annotations

import inspect
import logging
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from asr.errors import CifstError, InputError
from decoding.hotwords.config import HotwordConfig
from decoding.hotwords.context_graph import ContextGraph
from decoding.hotwords.parse import Hotword, HotwordList, parse_hotwords, read_hotwords_scp

__all__ = [
    "HotwordProblem",
    "TokenizedHotwords",
    "UttContexts",
    "tokenize_hotwords",
    "build_context",
    "word_start_table",
    "load_context",
    "load_context_scp",
]

log = logging.getLogger(__name__)

SHOW_SKIPPED = 5  # --hotwords-skip-bad: unusable lines named one by one, the rest counted
LARGE_WEIGHT = 10.0  # |weight| above this is noted: likely a FunASR-scale weight


@dataclass
class HotwordProblem:
    """Why a hotword cannot be used."""

    hotword: Hotword
    message: str

    def __str__(self) -> str:
        return f"{self.hotword.where()}: '{self.hotword.phrase}': {self.message}"


@dataclass
class TokenizedHotwords:
    """Phrases ready for :meth:`ContextGraph.build`.

    Attributes:
        phrases: token-id lists, one per distinct token sequence.
        weights: whole-phrase weight of each (defaults applied, duplicates merged to the largest).
        sources: the hotwords each phrase came from.
        problems: hotwords that could not be used (empty unless ``skip_bad`` or collecting for ``hotwords check``).
        notes: usable but suspicious lines (weights far beyond the natural-log scale).
    """

    phrases: list[list[int]] = field(default_factory=list)
    weights: list[float] = field(default_factory=list)
    sources: list[list[Hotword]] = field(default_factory=list)
    problems: list[HotwordProblem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _vocab_size(tokenizer: Any) -> int:
    return int(tokenizer.symbols.max_id) + 1


def _encode(tokenizer: Any, text: str) -> list[int]:
    """Encode with the tokenizer's strict mode when it has one; raise ValueError naming what cannot be mapped."""
    try:
        strict = "strict" in inspect.signature(tokenizer.encode).parameters
    except (TypeError, ValueError):  # builtins without a signature
        strict = False
    ids = list(tokenizer.encode(text, strict=True) if strict else tokenizer.encode(text))
    unk = tokenizer.symbols.get("<unk>")
    if unk is not None and unk in ids:
        bad = list(tokenizer.unknown_pieces(text)) if hasattr(tokenizer, "unknown_pieces") else []
        what = ", ".join(f"'{p}'" for p in bad) if bad else "part of it"
        raise ValueError(f"{what} is not in the model's tokens (maps to <unk>)")
    return ids


def _check_phrase(tokenizer: Any, hw: Hotword, config: HotwordConfig, cache: dict[str, Any]) -> list[int]:
    """Token ids of one phrase; raise ValueError with the reason it cannot be used."""
    got = cache.get(hw.phrase)
    if got is None:
        try:
            got = _encode(tokenizer, hw.phrase)
        except ValueError as e:
            got = e
        cache[hw.phrase] = got
    if isinstance(got, ValueError):
        raise ValueError(f"{got}; spell the phrase with characters the model knows") from None
    ids = got
    v = _vocab_size(tokenizer)
    if not ids:
        raise ValueError("it tokenizes to nothing (only spaces or symbols the tokenizer drops)")
    if len(ids) > config.max_phrase_tokens:
        raise ValueError(
            f"it is {len(ids)} tokens long, more than the limit of {config.max_phrase_tokens} "
            "(--hotword-max-tokens); split it into shorter phrases"
        )
    bad = [i for i in ids if not 0 < i < v]
    if bad:
        raise ValueError(f"token id {bad[0]} is blank or outside tokens.txt (0..{v - 1})")
    if not tokenizer.is_word_start(ids[0]):
        raise ValueError(
            f"its first token '{tokenizer.symbols[ids[0]]}' does not start a word, so it could never "
            "match at a word start; check the tokenizer's word-boundary marker"
        )
    return ids


def tokenize_hotwords(
    hotwords: Iterable[Hotword],
    tokenizer: Any,
    config: HotwordConfig,
    collect: bool = False,
    cache: dict[str, Any] | None = None,
) -> TokenizedHotwords:
    """Tokenize hotwords, apply the default weight and the limits, merge phrases with equal token ids.

    Args:
        hotwords: Parsed hotwords (e.g. a :class:`HotwordList`).
        tokenizer: The model's tokenizer (``.encode``, ``.symbols``, ``.is_word_start``; see
            ``asr.text.tokenizer``).
        config: Limits and defaults.
        collect: Collect problems in the result instead of raising (``cifst hotwords check``); ``config.skip_bad``
            does the same with a warning per problem.
        cache: Optional phrase -> ids cache shared across files.

    Raises:
        InputError: a phrase that cannot be used (names the file and line), or too many hotwords.
    """
    out = TokenizedHotwords()
    index: dict[tuple[int, ...], int] = {}
    cache = {} if cache is None else cache
    path = None
    from tqdm import tqdm

    hotwords = list(hotwords)
    for hw in tqdm(hotwords, desc="hotwords", unit="phrase", disable=len(hotwords) < 5000, leave=False):
        path = path or hw.path
        try:
            ids = _check_phrase(tokenizer, hw, config, cache)
        except ValueError as e:
            problem = HotwordProblem(hw, str(e))
            if collect or config.skip_bad:
                if config.skip_bad and not collect and len(out.problems) < SHOW_SKIPPED:
                    log.warning("skipping hotword %s", problem)
                out.problems.append(problem)
                continue
            raise InputError(
                hw.path,
                hw.line,
                f"hotword '{hw.phrase}': {e}; fix or remove the line, or pass --hotwords-skip-bad "
                "(cifst hotwords check lists every such line)",
            ) from None
        weight = config.weight if hw.weight is None else hw.weight
        if abs(weight) > LARGE_WEIGHT:
            out.notes.append(
                f"{hw.where()}: '{hw.phrase}': weight {weight:g} is large: weights are natural-log scores added "
                "once per phrase (FunASR files often use 1-100 scales; 1-5 is typical here)"
            )
        key = tuple(ids)
        j = index.get(key)
        if j is None:
            index[key] = len(out.phrases)
            out.phrases.append(ids)
            out.weights.append(weight)
            out.sources.append([hw])
        else:
            out.weights[j] = max(out.weights[j], weight)
            out.sources[j].append(hw)
    if len(out.phrases) > config.max_hotwords:
        msg = (
            f"{len(out.phrases)} hotwords, more than the limit of {config.max_hotwords} (--hotword-max-count); "
            "keep the ones that matter or raise the limit"
        )
        if not collect:
            raise InputError(path, None, msg)
        out.problems.append(HotwordProblem(Hotword("<list>", None, 0, path), msg))
    if config.skip_bad and not collect and len(out.problems) > SHOW_SKIPPED:
        log.warning(
            "skipped %d more unusable hotwords of %s (cifst hotwords check FILE --tokenizer DIR lists them)",
            len(out.problems) - SHOW_SKIPPED,
            path,
        )
    if out.notes and not collect:
        log.warning("%s (and %d more such lines)", out.notes[0], len(out.notes) - 1)
    return out


def build_context(
    hotwords: Iterable[Hotword],
    tokenizer: Any,
    config: HotwordConfig | None = None,
    cache: dict[str, Any] | None = None,
) -> ContextGraph:
    """Build the context graph of parsed hotwords (see :func:`tokenize_hotwords` for the checks)."""
    config = config or HotwordConfig()
    tok = tokenize_hotwords(hotwords, tokenizer, config, cache=cache)
    return ContextGraph.build(
        tok.phrases,
        tok.weights,
        config.score,
        _vocab_size(tokenizer),
        dense_max_entries=config.dense_max_entries,
        dfa_max_entries=config.dfa_max_entries,
        word_start=word_start_table(tokenizer) if config.word_end else None,
        gate_logp=config.gate,
    )


def word_start_table(tokenizer: Any) -> list[bool] | None:
    """bool [V]: which token ids begin a word (``Tokenizer.is_word_start``); special symbols (``<blk>``, ``<unk>``,
    ``<sos/eos>``) count as word boundaries. ``None`` when every ordinary token starts a word (CJK characters): then
    a word never spans tokens and the word-end check has nothing to do.
    """
    cached = getattr(tokenizer, "_hotword_word_start", None)
    if cached is not None:
        return cached or None
    v = _vocab_size(tokenizer)
    table = []
    for i in range(v):
        sym = tokenizer.symbols[i] if i in tokenizer.symbols else "<>"
        special = sym.startswith("<") and sym.endswith(">")
        table.append(special or bool(tokenizer.is_word_start(i)))
    result = table if not all(table) else []
    try:
        tokenizer._hotword_word_start = result
    except AttributeError:  # pragma: no cover - a tokenizer with __slots__
        pass
    return result or None


def _load_tokenizer(tokenizer: Any) -> Any:
    if isinstance(tokenizer, (str, os.PathLike)):
        from asr.text.tokenizer import load_tokenizer

        return load_tokenizer(tokenizer)
    return tokenizer


def _config(
    config: HotwordConfig | None, default_weight: float | None, hotword_score: float | None, **overrides: Any
) -> HotwordConfig:
    config = HotwordConfig(**(config.__dict__ if config else {}))
    if default_weight is not None:
        config.weight = float(default_weight)
    if hotword_score is not None:
        config.score = float(hotword_score)
    for k, v in overrides.items():
        if not hasattr(config, k):
            raise TypeError(f"unknown hotword option '{k}'")
        setattr(config, k, v)
    return config


def load_context(
    path: str | os.PathLike,
    tokenizer: Any,
    default_weight: float | None = None,
    hotword_score: float | None = None,
    config: HotwordConfig | None = None,
    **overrides: Any,
) -> ContextGraph:
    """Read a hotword file and build its context graph (start state 0).

    Args:
        path: Hotword file (``phrase weight`` / ``phrase :weight`` lines).
        tokenizer: The model's tokenizer, or its directory (loaded with ``asr.text.tokenizer.load_tokenizer``).
        default_weight: Whole-phrase weight for lines without one (default ``config.weight``).
        hotword_score: Per-token bonus (default ``config.score``).
        config: Other settings; keyword ``overrides`` set single fields of it.

    Raises:
        InputError: bad lines, phrases the model cannot spell, limits exceeded (naming file and line).
    """
    config = _config(config, default_weight, hotword_score, **overrides)
    return build_context(parse_hotwords(path, config.style), _load_tokenizer(tokenizer), config)


@dataclass
class UttContexts:
    """Per-utterance hotword lists joined into one graph.

    Attributes:
        graph: All lists concatenated (:meth:`ContextGraph.concat`).
        starts: Start state of each utterance key; keys without a list of their own use ``default_start``.
        default_start: Start state for other utterances (the global list's, or an empty list's).
    """

    graph: ContextGraph
    starts: dict[str, int]
    default_start: int

    def start_states(self, keys: Sequence[str], device: torch.device | str | None = None) -> torch.Tensor:
        """int64 [B] start state of each utterance of a batch (the search's ``context_start``)."""
        return torch.tensor(
            [self.starts.get(k, self.default_start) for k in keys],
            dtype=torch.int64,
            device=device or self.graph.device,
        )


def load_context_scp(
    scp: str | os.PathLike,
    tokenizer: Any,
    global_path: str | os.PathLike | None = None,
    default_weight: float | None = None,
    hotword_score: float | None = None,
    config: HotwordConfig | None = None,
    **overrides: Any,
) -> UttContexts:
    """Per-utterance hotwords: ``utt_key hotword_file`` lines, each utterance biased to the union of its file and
    the global list (``--hotwords``), utterances not in the scp to the global list alone.

    Files shared by several utterances are parsed and built once.

    Raises:
        InputError: a bad scp line or hotword line (naming file and line).
        FileNotFoundError: a listed hotword file that does not exist.
    """
    from tqdm import tqdm

    config = _config(config, default_weight, hotword_score, **overrides)
    tokenizer = _load_tokenizer(tokenizer)
    mapping = read_hotwords_scp(scp)
    base = parse_hotwords(global_path, config.style) if global_path else HotwordList([], None)
    cache: dict[str, Any] = {}
    graphs = [build_context(base, tokenizer, config, cache)]
    index_of: dict[Path, int] = {}
    for p in tqdm(
        sorted(set(mapping.values())), desc="hotword lists", unit="list", disable=len(mapping) < 200
    ):
        if not Path(p).is_file():
            raise InputError(scp, None, f"hotword file '{p}' does not exist")
        index_of[p] = len(graphs)
        graphs.append(build_context(base.merged(parse_hotwords(p, config.style)), tokenizer, config, cache))
    try:
        graph, starts = ContextGraph.concat(graphs, config.dense_max_entries, config.dfa_max_entries)
    except ValueError as e:  # pragma: no cover - all lists use one tokenizer
        raise CifstError(str(e)) from None
    start_list = starts.tolist()
    return UttContexts(graph, {k: start_list[index_of[p]] for k, p in mapping.items()}, start_list[0])
