"""The TLG build pipeline: tokens.txt + lexicon.txt (or a tokenizer) + lm.arpa -> GRAPH_DIR (TLG.fst, TLG.pt, ...).

Input: :class:`GraphBuildConfig` naming ``tokens.txt``, ``lexicon.txt`` or a tokenizer directory (lexicon-free:
the LM's words are spelled by the tokenizer), an ARPA LM and the topology. Output, in ``GRAPH_DIR``: ``tokens.txt``
(copied), ``words.txt``, ``lexicon.txt`` (the pronunciations used, with disambiguation symbols, for inspection),
``L_disambig.fst``, ``G.fst``, ``LG.fst``, ``TLG.fst`` (OpenFst binary, readable by kaldifst / kaldi-decoder) and
``TLG.pt`` (:class:`decoding.graph.csr.CsrGraph`), plus ``build.json`` (the configuration and the input files'
sizes and times). Every step logs the size of what it made and is skipped when its output exists from a build with
the same configuration and inputs (icefall ``local/compile_hlg.py``); a changed input rebuilds everything.

Follows icefall ``compile_hlg.py`` and WeNet ``tools/fst/make_tlg.sh`` (see :mod:`decoding.graph.compose`), except
that det(L o G) is by default written down directly as lexicon tries (:mod:`decoding.graph.trie_lg`, equivalent to
OpenFst's determinization of L o G and tested against it), and ``extra_words`` (:mod:`decoding.graph.extra_words`)
adds words the LM lacks as back-off unigrams.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from asr.data.atomic import atomic_path, atomic_write
from asr.errors import CifstError, InputError
from asr.text.symbol_table import SymbolTable

__all__ = ["GraphBuildConfig", "GraphBuildResult", "build_graph"]

log = logging.getLogger(__name__)


@dataclass
class GraphBuildConfig:
    """Everything ``cifst graph build`` needs.

    Attributes:
        tokens: ``tokens.txt`` (id 0 = ``<blk>``); with ``tokenizer`` and no ``tokens``, the tokenizer's.
        arpa: ARPA LM (log10, plain or gzip).
        lexicon: ``lexicon.txt`` (``word [prob] tok1 tok2 ...``); ``None`` = lexicon-free via ``tokenizer``.
        tokenizer: Tokenizer directory (``asr.text.tokenizer.load_tokenizer``) for lexicon-free graphs.
        topo: ``ctc`` | ``ctc-compact`` | ``cif``.
        cif_skip: ``cif`` only: allow skipping a token slot.
        cif_skip_penalty: ``cif`` only: cost of a skipped slot (natural log).
        oov: LM words not in the lexicon: ``error`` | ``skip`` | ``map:<unk>``.
        lexicon_probs: Whether the lexicon has a probability column (``None`` = detect).
        sil_token: Token of optional silence between words (``None`` = none).
        sil_prob: Probability of that silence.
        disambig: Add ``#k`` disambiguation symbols (turn off only to see what goes wrong without them).
        max_det_states: Cap on the states of det(L o G); 0 = none with ``det_method="trie"`` (its size is known
            and logged before it is built), ``det_ratio`` x states of L o G + 100000 with ``openfst``.
        det_ratio: See ``max_det_states``.
        det_method: ``trie`` (det(L o G) written down directly as a trie of the words under every history,
            :mod:`decoding.graph.trie_lg`: no L o G, no subset hashing), ``openfst`` (compose + OpenFst
            ``determinize``, the reference) or ``auto`` (``trie`` unless optional silence is on).
        extra_words: A word list or hotword file (``phrase``, ``phrase weight`` or ``phrase :weight`` per line): the
            words of its phrases that the LM does not know are added to L (spelled by the lexicon, else by the
            tokenizer) and to G as unigrams of the back-off state, so the search can output them.
        extra_word_logprob: log10 probability of those unigrams; ``None`` = the ARPA's ``<unk>`` unigram, or -7.
        tlg_method: ``arrays`` (T o LG built directly from LG's arcs, :mod:`decoding.graph.expand`; linear in LG,
            independent of the vocabulary size) or ``openfst`` (compose with the T of :mod:`~decoding.graph.topology`;
            the reference, slow for large vocabularies).
        write_pt: Also write ``TLG.pt``.
        keep_intermediate: Keep ``L_disambig.fst``, ``G.fst``, ``LG.fst`` (needed to skip steps on a rerun).
    """

    tokens: str | None = None
    arpa: str = ""
    lexicon: str | None = None
    tokenizer: str | None = None
    topo: str = "ctc"
    cif_skip: bool = True
    cif_skip_penalty: float = 10.0
    oov: str = "error"
    lexicon_probs: bool | None = None
    sil_token: str | None = None
    sil_prob: float = 0.0
    disambig: bool = True
    max_det_states: int = 0
    det_ratio: float = 20.0
    det_method: str = "auto"
    extra_words: str | None = None
    extra_word_logprob: float | None = None
    tlg_method: str = "arrays"
    write_pt: bool = True
    keep_intermediate: bool = True


@dataclass
class GraphBuildResult:
    """Sizes of the graphs built (or found), and the output directory."""

    graph_dir: Path
    sizes: dict[str, tuple[int, int]]
    skipped: list[str]
    num_words: int
    num_tokens: int
    oov_words: list[str]
    skipped_words: dict[str, str]
    extra_words: list[str] = field(default_factory=list)


# options that do not change what is built
_NOT_STAMPED = ("write_pt", "keep_intermediate", "max_det_states", "det_ratio")


def _stamp(cfg: GraphBuildConfig) -> dict:
    files = {}
    for name in ("tokens", "arpa", "lexicon", "tokenizer", "extra_words"):
        p = getattr(cfg, name)
        if p:
            st = os.stat(p)
            files[name] = [str(Path(p).resolve()), st.st_size, st.st_mtime_ns]
    conf = {k: v for k, v in asdict(cfg).items() if k not in _NOT_STAMPED}
    return {"config": conf, "inputs": files, "format": 1}


def _check_labels(a, num_tokens: int) -> None:
    """TLG must have no input epsilons and input labels <= number of tokens (token id + 1)."""
    if a.num_arcs and (int(a.ilabel.min()) < 1 or int(a.ilabel.max()) > num_tokens):
        raise CifstError(
            f"TLG input labels span [{int(a.ilabel.min())}, {int(a.ilabel.max())}], expected [1, {num_tokens}] "
            "(an epsilon or a disambiguation symbol survived: this is a bug, please report it)"
        )


def _describer(gstats, words: SymbolTable, arpa: str):
    """``describe(states) -> names`` for messages: each G state's n-gram history with its ARPA line."""
    from decoding.graph.grammar import find_ngram_lines

    def describe(states: list[int]) -> list[str]:
        hists = [gstats.history(s, words) for s in states]
        lines = find_ngram_lines(arpa, [h for h in hists if h])
        return [
            f"n-gram context '{' '.join(h)}' (ARPA line {lines.get(h, '?')})"
            if h
            else "the empty history (the unigram back-off state)"
            for h in hists
        ]

    return describe


def _write_fst(f, path: Path) -> None:
    with atomic_path(path) as tmp:
        f.write(str(tmp))


def build_graph(config: GraphBuildConfig, graph_dir: str | os.PathLike, tokenizer=None) -> GraphBuildResult:
    """Run the pipeline (see the module docstring).

    Args:
        config: What to build.
        graph_dir: Output directory (created).
        tokenizer: A tokenizer object (``.symbols``, ``.encode``) to use instead of loading ``config.tokenizer``
            (lexicon-free graphs from library code).

    Returns:
        :class:`GraphBuildResult`.

    Raises:
        InputError: bad tokens/lexicon/ARPA lines (file and line named), OOV words under ``oov=error``.
        CifstError: inconsistent options, an empty L o G, or a determinization blow-up (with the cause).
    """
    import pywrapfst as fst

    from decoding.graph.compose import (
        compose_lg,
        compose_tlg,
        determinize_capped,
        diagnose_lexicon,
        fst_size,
        minimize_encoded,
        remove_disambig,
    )
    from decoding.graph.expand import apply_topology
    from decoding.graph.extra_words import (
        DEFAULT_EXTRA_WORD_LOGPROB,
        add_extra_pronunciations,
        add_unigrams,
        read_extra_words,
    )
    from decoding.graph.fst_arrays import arrays_to_fst, fst_to_arrays
    from decoding.graph.grammar import arpa_vocabulary, make_grammar_fst, parse_oov_policy, unk_logprob
    from decoding.graph.lexicon import (
        add_disambig,
        lexicon_from_tokenizer,
        make_lexicon_fst,
        make_word_table,
        read_lexicon,
    )
    from decoding.graph.topology import TOPOLOGIES, TopologyConfig, make_topology_fst
    from decoding.graph.trie_lg import blame_message, lg_entries, trie_lg

    cfg = config
    out = Path(graph_dir)
    if not cfg.arpa:
        raise CifstError("no ARPA LM given (--arpa)")
    has_tok = cfg.tokenizer is not None or tokenizer is not None
    if cfg.lexicon is None and not has_tok:
        raise CifstError("give --lexicon (lexicon.txt) or --tokenizer (lexicon-free graph)")
    if cfg.lexicon is not None and has_tok and not cfg.extra_words:
        raise CifstError(
            "give one of --lexicon (lexicon.txt) and --tokenizer (lexicon-free graph); both only with "
            "--extra-words (the tokenizer then spells the extra words the lexicon lacks)"
        )
    if cfg.tlg_method not in ("arrays", "openfst"):
        raise CifstError(f"tlg_method must be 'arrays' or 'openfst', got {cfg.tlg_method!r}")
    if cfg.topo not in TOPOLOGIES:
        raise CifstError(f"unknown --topo {cfg.topo!r}; choose one of {', '.join(TOPOLOGIES)}")
    try:
        parse_oov_policy(cfg.oov)
    except ValueError as e:
        raise CifstError(str(e)) from None
    if cfg.det_method not in ("auto", "trie", "openfst"):
        raise CifstError(f"det_method must be 'auto', 'trie' or 'openfst', got {cfg.det_method!r}")
    for name in ("tokens", "arpa", "lexicon", "tokenizer", "extra_words"):
        p = getattr(cfg, name)
        if p and not Path(p).exists():
            raise FileNotFoundError(2, "No such file or directory", p)
    out.mkdir(parents=True, exist_ok=True)
    stamp = _stamp(cfg)
    if tokenizer is not None:  # an object, not a file: stamp its vocabulary
        stamp["tokenizer_symbols"] = hashlib.sha1("\n".join(tokenizer.symbols.symbols).encode()).hexdigest()
    stamp_path = out / "build.json"
    same = False
    if stamp_path.exists():
        try:
            same = json.loads(stamp_path.read_text()) == json.loads(json.dumps(stamp))
        except ValueError:
            same = False
    if not same:
        for name in ("L_disambig.fst", "G.fst", "LG.fst", "TLG.fst", "TLG.pt", "words.txt", "lexicon.txt"):
            (out / name).unlink(missing_ok=True)
        with atomic_write(stamp_path) as f:
            json.dump(stamp, f, indent=1)
    sizes: dict[str, tuple[int, int]] = {}
    skipped: list[str] = []

    def done(name: str) -> bool:
        if (out / name).exists():
            log.info("%s exists from a build with the same inputs: skipping", name)
            skipped.append(name)
            return True
        return False

    def report(name: str, f, t0: float) -> None:
        size = fst_size(f)
        sizes[name] = (size.states, size.arcs)
        log.info("%s: %s (%.1f s)", name, size, time.time() - t0)

    # tokens
    if tokenizer is None and cfg.tokenizer:
        from asr.text.tokenizer import load_tokenizer

        tokenizer = load_tokenizer(cfg.tokenizer)
    if cfg.tokens:
        tokens = SymbolTable.read(cfg.tokens, require_dense=True)
    elif tokenizer is not None:
        tokens = tokenizer.symbols
    else:
        raise CifstError("no token table: give --tokens tokens.txt")
    if tokenizer is not None and tokenizer.symbols != tokens:
        raise CifstError(f"--tokens {cfg.tokens} differs from the tokenizer's tokens.txt ({cfg.tokenizer})")
    tokens_src = Path(cfg.tokens) if cfg.tokens else None
    if tokens_src is None or (out / "tokens.txt").resolve() != tokens_src.resolve():
        tokens.write(out / "tokens.txt")
    num_tokens = len(tokens)
    first_disambig = num_tokens  # token-side #0

    # lexicon and words
    t0 = time.time()
    if cfg.lexicon:
        lexicon = read_lexicon(cfg.lexicon, tokens, cfg.lexicon_probs)
    else:
        lexicon = lexicon_from_tokenizer(tokenizer, arpa_vocabulary(cfg.arpa))
        if lexicon.skipped:
            w, why = next(iter(lexicon.skipped.items()))
            log.warning(
                "%d LM words cannot be spelled by the tokenizer (first: '%s': %s); they are OOVs for "
                "--oov %s",
                len(lexicon.skipped),
                w,
                why,
                cfg.oov,
            )
    if not lexicon.prons:
        raise InputError(
            cfg.lexicon or cfg.arpa, None, "no pronunciations: the lexicon / LM vocabulary is empty"
        )
    extra_words: list[str] = []
    if cfg.extra_words:
        extra_words = add_extra_pronunciations(
            lexicon,
            read_extra_words(cfg.extra_words),
            set(arpa_vocabulary(cfg.arpa)),
            tokenizer,
            cfg.extra_words,
        )
        log.info("extra words: %d not in the LM (%s)", len(extra_words), ", ".join(extra_words[:5]))
    disambig, num_disambig = add_disambig(lexicon) if cfg.disambig else (None, 1)
    words = make_word_table(lexicon.words())
    log.info(
        "lexicon: %d pronunciations of %d words, %d token disambiguation symbols (%.1f s)",
        len(lexicon.prons),
        len(lexicon.words()),
        num_disambig,
        time.time() - t0,
    )
    sil = None
    if cfg.sil_token is not None:
        sil = tokens.get(cfg.sil_token)
        if sil is None or sil == 0:
            raise CifstError(f"--sil-token '{cfg.sil_token}' is not a (non-blank) token of {cfg.tokens}")
    words.write(out / "words.txt")
    with atomic_write(out / "lexicon.txt") as f:
        for n, p in enumerate(lexicon.prons):
            extra = f" #{disambig[n]}" if disambig is not None and disambig[n] else ""
            f.write(f"{p.word} {p.prob:g} {' '.join(tokens.symbol(t) for t in p.tokens)}{extra}\n")

    L = G = LG = None
    method = cfg.det_method
    if method == "auto":
        method = "openfst" if sil is not None and cfg.sil_prob > 0 else "trie"
    if method == "trie" and sil is not None and cfg.sil_prob > 0:
        raise CifstError("det_method 'trie' does not support optional silence; use 'openfst' or 'auto'")
    tlg_done = (out / "TLG.fst").exists()
    oov_words: list[str] = []
    if not tlg_done and not done("LG.fst"):
        t0 = time.time()
        L = make_lexicon_fst(lexicon, words, first_disambig, disambig, sil, cfg.sil_prob)
        report("L_disambig.fst", L, t0)
        t0 = time.time()
        G, gstats = make_grammar_fst(cfg.arpa, words, cfg.oov)
        if gstats.oov_words:
            log.warning(
                "%d LM words are not in the lexicon (%s%s): --oov %s, %d n-grams %s",
                len(gstats.oov_words),
                ", ".join(gstats.oov_words[:5]),
                ", ..." if len(gstats.oov_words) > 5 else "",
                cfg.oov,
                gstats.dropped,
                "dropped" if cfg.oov == "skip" else "merged",
            )
        if extra_words:
            lp = cfg.extra_word_logprob
            if lp is None:
                lp = unk_logprob(cfg.arpa)
                lp = DEFAULT_EXTRA_WORD_LOGPROB if lp is None or not math.isfinite(lp) else lp
            add_unigrams(G, [words.id(w) for w in extra_words], lp)
            log.info("G: %d extra unigrams with log10 p = %g on the back-off state", len(extra_words), lp)
        report("G.fst", G, t0)
        if cfg.keep_intermediate:
            _write_fst(L, out / "L_disambig.fst")
            _write_fst(G, out / "G.fst")
        oov_words = gstats.oov_words
        describe = _describer(gstats, words, cfg.arpa)
        if method == "trie":
            del L
            t0 = time.time()
            trie = trie_lg(
                lexicon,
                disambig,
                first_disambig,
                words,
                fst_to_arrays(G),
                cfg.max_det_states,
                describe,
                gstats.state_order,
            )
            del G
            a = trie.arrays
            LG = arrays_to_fst(a.num_states, a.start, a.src, a.dst, a.ilabel, a.olabel, a.weight, a.final)
            del trie, a
            LG.connect()
            report("det(L o G) (lexicon tries)", LG, t0)
        else:
            cause = diagnose_lexicon(lexicon, disambig)
            ga = fst_to_arrays(G)

            def blame() -> str:
                e = lg_entries(lexicon, disambig, first_disambig, words, ga)
                return blame_message(e, describe, gstats.state_order)

            t0 = time.time()
            LG = compose_lg(L, G)
            report("L o G", LG, t0)
            del G
            cap = cfg.max_det_states or int(cfg.det_ratio * LG.num_states()) + 100_000
            t0 = time.time()
            LG = determinize_capped(LG, cap, "L o G", cause, blame)
            del ga
            report("det(L o G)", LG, t0)
        t0 = time.time()
        LG = minimize_encoded(LG)
        report("min(det(L o G))", LG, t0)
        t0 = time.time()
        LG = remove_disambig(LG, first_disambig, num_disambig)
        report("LG (disambiguation symbols and epsilons removed)", LG, t0)
        if cfg.keep_intermediate:
            _write_fst(LG, out / "LG.fst")
    TLG = tlg_arrays = None
    if not done("TLG.fst"):
        if LG is None:
            LG = fst.Fst.read(str(out / "LG.fst"))
        t0 = time.time()
        topo = TopologyConfig(kind=cfg.topo, cif_skip=cfg.cif_skip, cif_skip_penalty=cfg.cif_skip_penalty)
        if cfg.tlg_method == "openfst":
            T = make_topology_fst(num_tokens, topo)
            report(f"T ({cfg.topo})", T, t0)
            t0 = time.time()
            TLG = compose_tlg(T, LG)
            report("TLG.fst", TLG, t0)
        else:
            tlg_arrays = apply_topology(fst_to_arrays(LG), topo)
            del LG
            a = tlg_arrays
            TLG = arrays_to_fst(a.num_states, a.start, a.src, a.dst, a.ilabel, a.olabel, a.weight, a.final)
            sizes["TLG.fst"] = (a.num_states, a.num_arcs)
            log.info(
                "TLG.fst (%s): %d states, %d arcs (%.1f s)",
                cfg.topo,
                a.num_states,
                a.num_arcs,
                time.time() - t0,
            )
        if num_tokens and TLG.num_states():
            _check_labels(tlg_arrays if tlg_arrays is not None else fst_to_arrays(TLG), num_tokens)
        _write_fst(TLG, out / "TLG.fst")
        if tlg_arrays is not None:
            TLG = None  # the arrays make TLG.pt; free the OpenFst copy first (peak memory)
    if cfg.write_pt and not done("TLG.pt"):
        from decoding.graph.csr import CsrGraph

        t0 = time.time()
        if tlg_arrays is not None:
            a = tlg_arrays
            g = CsrGraph.from_arrays(
                a.num_states, a.start, a.src, a.dst, a.ilabel, a.olabel, a.weight, a.final
            )
        else:
            g = CsrGraph.from_fst(TLG if TLG is not None else fst.Fst.read(str(out / "TLG.fst")))
        g.save(out / "TLG.pt")
        log.info("TLG.pt: %d states, %d arcs (%.1f s)", g.num_states, g.num_arcs, time.time() - t0)
    if not cfg.keep_intermediate:
        for name in ("L_disambig.fst", "G.fst", "LG.fst"):
            (out / name).unlink(missing_ok=True)
    return GraphBuildResult(
        out, sizes, skipped, len(lexicon.words()), num_tokens, oov_words, lexicon.skipped, extra_words
    )
