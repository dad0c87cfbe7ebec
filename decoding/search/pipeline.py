"""``cifst decode`` as a library call: a graph directory + posteriors scp -> ``text``, ``ctm``, ``nbest`` in OUT_DIR.

Input: GRAPH_DIR (``TLG.pt``/``TLG.fst``, ``tokens.txt``, ``words.txt``; or none for ``--no-graph``), the
posteriors scp with its ``post.yaml`` (and ``times.scp`` for CIF rows), options. Output: the files of
:mod:`decoding.search.io`, resumable batch by batch. Utterances are read in chunks of ``chunk_batches`` batches,
sorted by length inside the chunk (less padding) and decoded ``batch_size`` at a time, so memory stays bounded by
one chunk whatever the size of the set.
"""

from __future__ import annotations

import logging
import os
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from asr.errors import CifstError, InputError
from asr.text.symbol_table import SymbolTable
from decoding.search.beam import BeamSearchConfig, TlgBeamSearch
from decoding.search.io import ShardStore, Utterance, iter_utterances, load_graph_dir, read_post_info
from decoding.search.nograph import greedy_search, prefix_beam_search_batch
from decoding.search.results import (
    TokenPath,
    UttResult,
    align_words,
    emissions,
    format_ctm,
    format_nbest,
)

__all__ = ["DecodeOptions", "run_decode", "force_align", "BatchDecoder"]

log = logging.getLogger(__name__)


@dataclass
class DecodeOptions:
    """Everything ``cifst decode`` needs besides the paths.

    Attributes:
        search: The TLG search options (``row_type`` is taken from ``post.yaml``).
        method: ``"tlg"`` (graph search), ``"greedy"`` or ``"prefix"`` (graph-less prefix beam search).
        batch_size: Utterances decoded together.
        device: ``"cpu"``, ``"cuda"``, ``"cuda:1"``...
        prefix_beam: Beam of the prefix beam search.
        row_type: Overrides ``post.yaml`` (``"cif"`` or ``"frame"``).
        frame_shift: Overrides ``post.yaml`` (seconds per row for frames).
        chunk_batches: Batches read and length-sorted together.
        progress: Show a tqdm bar.
        cif_skip_penalty: Graph-less methods on CIF rows: the cost of leaving a token slot empty, i.e. the blank
            column is read as ``log p = -cif_skip_penalty`` (the model's column is ~-inf; the graph search reads it
            as log 1 and takes the cost from the CIF topology's skip arc instead, see ``BeamSearchConfig.cif_blank``).
            Ignored when ``search.cif_blank`` is None (the model's blank column is kept for every method).
    """

    search: BeamSearchConfig = field(default_factory=BeamSearchConfig)
    method: str = "tlg"
    batch_size: int = 64
    device: str = "cpu"
    prefix_beam: int = 10
    row_type: str | None = None
    frame_shift: float | None = None
    chunk_batches: int = 8
    progress: bool = True
    cif_skip_penalty: float = 10.0


def force_align(logprobs: np.ndarray, tokens: list[int], row_type: str) -> np.ndarray:
    """Best row labelling of a token sequence (CTC Viterbi for frames; blank-or-next-token per CIF row).

    Args:
        logprobs: float32 [T, V].
        tokens: Token ids (no blank).
        row_type: ``"frame"`` or ``"cif"``.

    Returns:
        int64 [T] label per row; all blank when the sequence cannot be aligned.
    """
    T = logprobs.shape[0]
    if not tokens or T == 0:
        return np.zeros(T, np.int64)
    if row_type == "frame":
        ext = [0]
        for t in tokens:
            ext += [t, 0]
    else:
        ext = list(tokens)
    S = len(ext)
    neg = -np.inf
    score = np.full((T, S), neg)
    back = np.zeros((T, S), np.int64)
    lp = logprobs[:, ext]
    if row_type == "frame":
        score[0, 0] = lp[0, 0]
        score[0, 1] = lp[0, 1]
        for t in range(1, T):
            prev = score[t - 1]
            c0 = prev
            c1 = np.concatenate([[neg], prev[:-1]])
            c2 = np.concatenate([[neg, neg], prev[:-2]])
            ext_a = np.asarray(ext)
            skip_ok = np.zeros(S, bool)
            skip_ok[2:] = (ext_a[2:] != 0) & (ext_a[2:] != ext_a[:-2])
            c2 = np.where(skip_ok, c2, neg)
            stack = np.stack([c0, c1, c2])
            arg = stack.argmax(0)
            score[t] = stack.max(0) + lp[t]
            back[t] = arg
        end = S - 1 if score[T - 1, S - 1] >= score[T - 1, S - 2] else S - 2
        if not np.isfinite(score[T - 1, end]):
            return np.zeros(T, np.int64)
        out = np.zeros(T, np.int64)
        s = end
        for t in range(T - 1, -1, -1):
            out[t] = ext[s]
            s -= back[t, s]
        return out
    # CIF: state k = number of tokens emitted so far; row t either emits token k (k -> k+1) or is blank
    K = len(tokens)
    best = np.full((T + 1, K + 1), neg)
    take = np.zeros((T + 1, K + 1), bool)
    best[0, 0] = 0.0
    for t in range(T):
        stay = best[t] + logprobs[t, 0]
        emit = np.concatenate([[neg], best[t, :-1] + lp[t]])
        take[t + 1] = emit > stay
        best[t + 1] = np.maximum(stay, emit)
    if not np.isfinite(best[T, K]):
        return np.zeros(T, np.int64)
    out = np.zeros(T, np.int64)
    k = K
    for t in range(T, 0, -1):
        if take[t, k]:
            out[t - 1] = tokens[k - 1]
            k -= 1
    return out


class BatchDecoder:
    """Decodes padded batches into :class:`UttResult` with one of the three methods.

    Args:
        options: Decoding options.
        tokens: tokens.txt.
        words: words.txt (None for graph-less methods).
        graph: The TLG (None for graph-less methods).
        frame_shift: Seconds per row for CTC frames.
    """

    def __init__(
        self,
        options: DecodeOptions,
        tokens: SymbolTable,
        words: SymbolTable | None = None,
        graph=None,
        frame_shift: float = 0.04,
    ):
        self.opt = options
        self.tokens = tokens
        self.token_syms = tokens.symbols
        self.words = words
        self.frame_shift = frame_shift
        self.row_type = options.search.row_type
        self.search = None
        if options.method == "tlg":
            self.search = TlgBeamSearch(graph, options.search, options.device)
            self.ilabel = graph.ilabel.cpu().numpy()
            self.olabel = graph.olabel.cpu().numpy()
            self.weight = self.search.weight.cpu().numpy()
            self.final = self.search.final.cpu().numpy()
            self.dst = graph.dst.cpu().numpy()

    def cif_rows(self, logprobs: np.ndarray) -> np.ndarray:
        """float32 [T, V] CIF rows with the blank column the search reads: log 1 for the graph search (the skip
        arc carries the cost), ``-cif_skip_penalty`` for the graph-less ones (there is no skip arc)."""
        out = np.array(logprobs, dtype=np.float32, copy=True)
        if self.opt.method == "tlg":
            out[:, 0] = self.opt.search.cif_blank
        else:
            out[:, 0] = -self.opt.cif_skip_penalty
        return out

    def _spell(self, toks: list[int]) -> list[str]:
        text = "".join(self.token_syms[t] for t in toks).replace("<space>", " ").replace("\u2581", " ")
        return text.split()

    def decode(
        self, utts: list[Utterance], context=None, context_start: torch.Tensor | None = None
    ) -> list[UttResult | str]:
        """Decode utterances (all with ``logprobs``); returns a result, or a string saying why it failed."""
        if self.row_type == "cif" and self.opt.search.cif_blank is not None:
            utts = [replace(u, logprobs=self.cif_rows(u.logprobs)) for u in utts]
        lens = [u.logprobs.shape[0] for u in utts]
        B, T, V = len(utts), max(lens, default=0), len(self.token_syms)
        batch = np.zeros((B, T, V), np.float32)
        for i, u in enumerate(utts):
            batch[i, : lens[i]] = u.logprobs
        x = torch.from_numpy(batch).to(self.opt.device)
        lengths = torch.tensor(lens, dtype=torch.int64)
        m = self.opt.method
        if m == "tlg":
            return self._tlg(utts, x, lengths, context, context_start)
        if m == "greedy":
            paths = greedy_search(
                x, lengths, self.row_type, self.opt.search.blank_penalty, context, context_start
            )
            return [self._from_labels(u, p, []) for u, p in zip(utts, paths)]
        if m == "prefix":
            out = []
            all_hyps = prefix_beam_search_batch(
                x,
                lengths,
                self.opt.prefix_beam,
                self.row_type,
                self.opt.search.nbest,
                blank_penalty=self.opt.search.blank_penalty,
                context=context,
                context_start=context_start,
            )
            for u, hyps in zip(utts, all_hyps):
                best = list(hyps[0].tokens) if hyps else []
                labels = force_align(u.logprobs, best, self.row_type)
                nb = [(self._spell(list(h.tokens)), -h.score) for h in hyps]
                out.append(self._from_labels(u, labels, nb, cost=-hyps[0].score if hyps else 0.0))
            return out
        raise ValueError(f"unknown decoding method {m!r}")

    def _from_labels(self, u: Utterance, labels: np.ndarray, nbest, cost: float = 0.0) -> UttResult:
        toks, first, last = emissions(labels, self.row_type)
        words = self._spell(toks)
        path = TokenPath(toks, first, last)
        spans = align_words(
            path, words, self.token_syms, u.logprobs, self.row_type, self.frame_shift, u.times
        )
        am = float(-self.opt.search.acoustic_scale * u.logprobs[np.arange(len(labels)), labels].sum())
        return UttResult(
            u.key,
            words,
            spans,
            cost=cost or am,
            am_cost=am,
            tokens=toks,
            nbest=nbest or [(words, cost or am)],
        )

    def _tlg(self, utts, x, lengths, context, context_start) -> list[UttResult | str]:
        res = self.search.search(x, lengths, context, context_start)
        out: list[UttResult | str] = []
        cfg = self.opt.search
        for u, r in zip(utts, res):
            if r.best is None:
                out.append(
                    "no path survived to the end (a dead end in the graph for these posteriors); "
                    "try a larger --beam/--max-active, or check the graph's topology matches row_type"
                )
                continue
            arcs = r.best.arcs
            labels = self.ilabel[arcs] - 1
            ol = self.olabel[arcs]
            rows = np.nonzero(ol > 0)[0]
            word_ids = ol[rows].tolist()
            words = [self.words[int(w)] for w in word_ids]
            toks, first, last = emissions(labels, self.row_type)
            path = TokenPath(toks, first, last, word_ids, rows.tolist())
            spans = align_words(
                path, words, self.token_syms, u.logprobs, self.row_type, self.frame_shift, u.times
            )
            n = len(arcs)
            am = float(
                (-cfg.acoustic_scale * u.logprobs[np.arange(n), labels]).sum()
                + cfg.blank_penalty * np.count_nonzero(labels == 0)
            )
            end_state = self.dst[arcs[-1]] if n else self.search.start
            fin = float(self.final[end_state]) if r.best.final else 0.0
            graph_cost = float(self.weight[arcs].sum()) + fin
            nbest = []
            for p in r.nbest:
                ol_p = self.olabel[p.arcs]
                nbest.append(([self.words[int(w)] for w in ol_p[ol_p > 0]], p.cost))
            out.append(
                UttResult(
                    u.key,
                    words,
                    spans,
                    cost=r.best.cost,
                    am_cost=am,
                    graph_cost=graph_cost,
                    reached_final=r.best.final,
                    tokens=toks,
                    nbest=nbest,
                )
            )
        return out


def _options_record(opt: DecodeOptions, graph_dir, post_scp, extra: dict) -> dict:
    d = asdict(opt)
    for k in ("batch_size", "device", "chunk_batches", "progress"):
        d.pop(k)  # do not change results
    d["graph_dir"] = str(Path(graph_dir).resolve()) if graph_dir else None
    d["posteriors"] = str(Path(post_scp).resolve())
    d.update(extra)
    return d


def run_decode(
    graph_dir: str | os.PathLike | None,
    post_scp: str | os.PathLike,
    out_dir: str | os.PathLike,
    options: DecodeOptions,
    hotwords=None,
    hotword_record: dict | None = None,
    tokens_path: str | os.PathLike | None = None,
) -> dict[str, int]:
    """Decode a posterior set into OUT_DIR (resuming a previous run of the same command).

    Args:
        graph_dir: The graph directory, or None for graph-less methods.
        post_scp: ``posteriors.scp`` (with ``post.yaml`` beside it).
        out_dir: Output directory.
        options: Decoding options.
        hotwords: Optional ``UttContexts`` (``.graph``, ``.start_states(keys)``) from the hotwords package.
        hotword_record: The hotword options, stored with the run so a resume with other hotwords is refused.
        tokens_path: tokens.txt for graph-less decoding when ``post.yaml`` does not name one.

    Returns:
        Counts: ``decoded``, ``failed``, ``skipped`` (already done), ``warnings``.

    Raises:
        InputError / CifstError: missing or inconsistent inputs (graph files, tokens tables, post.yaml).
    """
    from tqdm import tqdm

    info = read_post_info(post_scp, options.row_type, options.frame_shift)
    options.search.row_type = info.row_type
    graph = words = None
    if options.method == "tlg":
        if graph_dir is None:
            raise CifstError("a graph directory is needed unless --no-graph is given")
        graph, tokens, words = load_graph_dir(graph_dir)
        if info.tokens is not None and info.tokens.exists():
            post_tokens = SymbolTable.read(info.tokens)
            if post_tokens != tokens:
                raise InputError(
                    info.tokens,
                    None,
                    f"differs from {Path(graph_dir) / 'tokens.txt'}: the graph "
                    "was built for another model's tokens; rebuild it with this model's tokens.txt",
                )
    else:
        tp = tokens_path or info.tokens
        if tp is None:
            raise InputError(
                Path(post_scp).parent / "post.yaml", None, "names no tokens file; pass --tokens tokens.txt"
            )
        tokens = SymbolTable.read(tp, require_dense=True)
    if info.row_type == "cif" and info.times_scp is None:
        log.warning(
            "%s: no times.scp beside the CIF posteriors; ctm times use rows x frame_shift (%.3f s)",
            post_scp,
            info.frame_shift,
        )
    decoder = BatchDecoder(options, tokens, words, graph, info.frame_shift)
    record = _options_record(options, graph_dir, post_scp, {"hotwords": hotword_record or {}})
    store = ShardStore(out_dir, record, nbest=options.search.nbest > 1)
    total = sum(1 for line in open(post_scp, encoding="utf-8", errors="replace") if line.strip())
    skipped = len(store.done)
    ctx_graph = hotwords.graph.to(options.device) if hotwords is not None else None
    counts = {"decoded": 0, "failed": 0, "skipped": skipped}
    bar = tqdm(total=total, initial=skipped, unit="utt", desc="decode", disable=not options.progress)
    chunk: list[Utterance] = []
    stream = iter_utterances(post_scp, len(tokens), set(store.done), info.times_scp)

    def flush(chunk: list[Utterance]) -> None:
        chunk.sort(key=lambda u: -(u.logprobs.shape[0] if u.logprobs is not None else 0))
        for i in range(0, len(chunk), options.batch_size):
            part = chunk[i : i + options.batch_size]
            good = [u for u in part if u.problem is None]
            failed = {u.key: u.problem for u in part if u.problem is not None}
            results = {}
            if good:
                start = hotwords.start_states([u.key for u in good], options.device) if hotwords else None
                for u, r in zip(good, decoder.decode(good, ctx_graph, start)):
                    if isinstance(r, str):
                        failed[u.key] = r
                    else:
                        results[u.key] = r
                        if len(u.logprobs) == 0:
                            log.warning("%s: 0 rows; wrote an empty hypothesis", u.key)
            for k, why in failed.items():
                log.warning("%s: %s; wrote an empty hypothesis", k, why)
            text, ctm, nb = [], [], []
            for u in part:
                r = results.get(u.key)
                text.append((u.key, " ".join(r.words) if r else ""))
                if r:
                    ctm.append(format_ctm(u.key, r.spans))
                    nb.append(format_nbest(u.key, r.nbest))
            store.write(text, ctm, nb, sorted(failed.items()))
            counts["decoded"] += len(results)
            counts["failed"] += len(failed)
            bar.update(len(part))

    for u in stream:
        chunk.append(u)
        if len(chunk) >= options.batch_size * options.chunk_batches:
            flush(chunk)
            chunk = []
    if chunk:
        flush(chunk)
    bar.close()
    store.merge()
    return counts
