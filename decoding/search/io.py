"""Decoder input and output on disk: posteriors in, ``text``/``ctm``/``nbest`` out, resumable.

Input: ``posteriors.scp`` (kaldiio ark/scp of float32 [rows, V] natural-log posteriors), the ``post.yaml`` beside
it (``tokens``, ``row_type``, ``frame_shift``) and, for CIF rows, ``times.scp`` (float32 [rows, 2] seconds). Each
utterance is checked on its own (readable, 2-D, width = number of tokens, no NaN or +inf, no row without a
possible token); a bad one gets a per-utterance warning and an empty hypothesis, and the rest are decoded.

Output: ``OUT_DIR/shards/NNNNN.{text,ctm,nbest}`` written atomically per batch, then a ``NNNNN.keys`` file that
marks the shard complete; a rerun reads the ``.keys`` files and skips those utterances (Kaldi's ``--skip-done``
idea at batch granularity). At the end the shards are merged, C-sorted by utterance id, into ``OUT_DIR/text``,
``ctm`` and ``nbest``; utterances that could not be decoded are listed with the reason in ``OUT_DIR/failed``.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from asr.data.atomic import atomic_write
from asr.data.kaldi_dir import c_sorted, iter_kv_lines
from asr.errors import CifstError, InputError

__all__ = ["PostInfo", "read_post_info", "Utterance", "iter_utterances", "ShardStore", "load_graph_dir"]

log = logging.getLogger(__name__)


@dataclass
class PostInfo:
    """What ``post.yaml`` says about a posterior set."""

    tokens: Path | None
    row_type: str
    frame_shift: float
    times_scp: Path | None


def read_post_info(
    post_scp: str | os.PathLike, row_type: str | None = None, frame_shift: float | None = None
) -> PostInfo:
    """Read ``post.yaml`` next to the posteriors scp; explicit ``row_type``/``frame_shift`` override it.

    Raises:
        InputError: ``post.yaml`` is malformed, or missing while ``row_type`` was not given.
    """
    import yaml

    post_scp = Path(post_scp)
    meta_path = post_scp.parent / "post.yaml"
    meta: dict = {}
    if meta_path.exists():
        try:
            meta = yaml.safe_load(meta_path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as e:
            raise InputError(meta_path, None, f"not valid YAML ({e})") from None
        if not isinstance(meta, dict):
            raise InputError(meta_path, None, "expected a mapping with keys tokens, row_type, frame_shift")
    elif row_type is None:
        raise InputError(
            meta_path,
            None,
            "missing: it says whether rows are CIF token slots or CTC frames; "
            "write it (cifst infer does) or pass --row-type cif|frame",
        )
    rt = row_type or meta.get("row_type")
    if rt not in ("cif", "frame"):
        raise InputError(
            meta_path, None, f"row_type must be 'cif' or 'frame', got {rt!r} (or pass --row-type)"
        )
    fs = (
        frame_shift
        if frame_shift is not None
        else float(meta.get("frame_shift", 0.04 if rt == "frame" else 0.0))
    )
    tok = meta.get("tokens")
    tok_path = None
    if tok:
        tok_path = Path(tok)
        if not tok_path.is_absolute():
            tok_path = meta_path.parent / tok_path
    times = post_scp.parent / "times.scp"
    return PostInfo(tok_path, rt, fs, times if times.exists() else None)


@dataclass
class Utterance:
    """One utterance read from the scp: ``logprobs`` float32 [T, V] or None with ``problem`` set."""

    key: str
    logprobs: np.ndarray | None
    times: np.ndarray | None = None
    problem: str | None = None


def check_matrix(m, num_tokens: int) -> str | None:
    """Why a posterior matrix cannot be decoded, or None when it can (0 rows is allowed: an empty hypothesis)."""
    if not isinstance(m, np.ndarray) or m.ndim != 2:
        return f"expected a 2-D matrix, got {type(m).__name__} of shape {getattr(m, 'shape', '?')}"
    if m.shape[1] != num_tokens:
        return (
            f"has {m.shape[1]} columns but tokens.txt has {num_tokens} tokens: the posteriors come from "
            "another model than the graph/tokens"
        )
    if m.shape[0] == 0:
        return None
    if np.isnan(m).any():
        rows = np.nonzero(np.isnan(m).any(axis=1))[0]
        return f"NaN in {len(rows)} row(s), first row {int(rows[0])}"
    if np.isposinf(m).any():
        rows = np.nonzero(np.isposinf(m).any(axis=1))[0]
        return f"+inf log-probability in {len(rows)} row(s), first row {int(rows[0])}"
    dead = ~np.isfinite(m).any(axis=1)
    if dead.any():
        return f"row {int(np.nonzero(dead)[0][0])} is -inf for every token (no token possible)"
    return None


def iter_utterances(
    post_scp: str | os.PathLike, num_tokens: int, skip: set[str], times_scp: str | os.PathLike | None = None
) -> Iterator[Utterance]:
    """Yield the utterances of ``post_scp`` in file order, skipping ``skip``; bad ones carry ``problem``.

    Raises:
        InputError: the scp itself is unreadable (bad line), or a key repeats.
    """
    import kaldiio

    post_scp = Path(post_scp)
    times = {}
    if times_scp is not None:
        times = {k: v for _, k, v in iter_kv_lines(times_scp)}
    seen: set[str] = set()
    for lineno, key, spec in iter_kv_lines(post_scp, allow_empty_value=False):
        if key in seen:
            raise InputError(post_scp, lineno, f"utterance '{key}' appears twice")
        seen.add(key)
        if key in skip:
            continue
        try:
            m = kaldiio.load_mat(spec)
        except Exception as e:  # a broken ark entry: this utterance only
            yield Utterance(
                key, None, None, f"{post_scp}:{lineno}: cannot read '{spec}' ({type(e).__name__}: {e})"
            )
            continue
        m = np.asarray(m)
        problem = check_matrix(m, num_tokens)
        if problem:
            yield Utterance(key, None, None, f"{post_scp}:{lineno}: {problem}")
            continue
        tm = None
        if key in times:
            try:
                tm = np.asarray(kaldiio.load_mat(times[key]), dtype=np.float32)
            except Exception as e:
                log.warning("%s: cannot read times of '%s' (%s); using row indices", times_scp, key, e)
            if tm is not None and (tm.ndim != 2 or tm.shape[0] != m.shape[0] or tm.shape[1] != 2):
                log.warning(
                    "%s: times of '%s' have shape %s, expected (%d, 2); using row indices",
                    times_scp,
                    key,
                    tm.shape,
                    m.shape[0],
                )
                tm = None
        yield Utterance(key, m.astype(np.float32, copy=False), tm)


class ShardStore:
    """Per-batch output shards under ``OUT_DIR/shards`` with resume and a final merge.

    Args:
        out_dir: The decode output directory.
        options: The decoding options; a rerun with different options refuses to mix results.
        nbest: Whether an ``nbest`` file is written.

    Raises:
        CifstError: ``out_dir`` holds shards of a run with other options.
    """

    def __init__(self, out_dir: str | os.PathLike, options: dict, nbest: bool):
        self.out_dir = Path(out_dir)
        self.dir = self.out_dir / "shards"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.nbest = nbest
        opt_path = self.dir / "options.json"
        text = json.dumps(options, sort_keys=True, indent=1)
        if opt_path.exists():
            old = opt_path.read_text(encoding="utf-8")
            if old != text:
                raise CifstError(
                    f"{self.out_dir}: holds a partial decode made with other options ({opt_path}); "
                    "use a new output directory or delete its shards/ to start over"
                )
        else:
            with atomic_write(opt_path) as f:
                f.write(text)
        self.done: set[str] = set()
        self.next_index = 0
        for p in sorted(self.dir.glob("*.keys")):
            self.done.update(p.read_text(encoding="utf-8").split())
            self.next_index = max(self.next_index, int(p.stem) + 1)

    def write(
        self, text: list[tuple[str, str]], ctm: list[str], nbest: list[str], failed: list[tuple[str, str]]
    ) -> None:
        """Write one batch: ``text`` (key, words), ctm lines, n-best lines, (key, reason) of failed ones."""
        stem = self.dir / f"{self.next_index:06d}"
        with atomic_write(stem.with_suffix(".text")) as f:
            f.writelines(f"{k} {w}".rstrip() + "\n" for k, w in text)
        with atomic_write(stem.with_suffix(".ctm")) as f:
            f.writelines(ctm)
        if self.nbest:
            with atomic_write(stem.with_suffix(".nbest")) as f:
                f.writelines(nbest)
        with atomic_write(stem.with_suffix(".failed")) as f:
            f.writelines(f"{k} {r}\n" for k, r in failed)
        with atomic_write(stem.with_suffix(".keys")) as f:  # last: marks the shard complete
            f.writelines(f"{k}\n" for k, _ in text)
        self.done.update(k for k, _ in text)
        self.next_index += 1

    def merge(self) -> dict[str, int]:
        """Merge every complete shard into ``text``, ``ctm``, ``[nbest]``, ``failed``; returns line counts."""
        complete = sorted(int(p.stem) for p in self.dir.glob("*.keys"))
        counts = {}
        for suffix, name in (("text", "text"), ("ctm", "ctm"), ("nbest", "nbest"), ("failed", "failed")):
            if suffix == "nbest" and not self.nbest:
                continue
            lines: list[str] = []
            for i in complete:
                p = self.dir / f"{i:06d}.{suffix}"
                if p.exists():
                    lines += p.read_text(encoding="utf-8").splitlines(keepends=True)
            order = {k: n for n, k in enumerate(c_sorted({ln.split(maxsplit=1)[0] for ln in lines}))}
            lines.sort(key=lambda ln: order[ln.split(maxsplit=1)[0]])  # stable: keeps ctm/nbest order per utt
            if name == "failed" and not lines:
                if (self.out_dir / "failed").exists():
                    (self.out_dir / "failed").unlink()
                continue
            with atomic_write(self.out_dir / name) as f:
                f.writelines(lines)
            counts[name] = len(lines)
        return counts


def load_graph_dir(graph_dir: str | os.PathLike):
    """``(CsrGraph, tokens SymbolTable, words SymbolTable)`` of a graph directory.

    Uses ``decoding.graph.load_graph`` (the graph package's loader, which also converts ``TLG.fst`` to ``TLG.pt``)
    when it exists; otherwise reads ``TLG.pt`` or converts ``TLG.fst`` itself.

    Raises:
        InputError: a required file is missing (named, with how to make it).
    """
    graph_dir = Path(graph_dir)
    for name in ("tokens.txt", "words.txt"):
        if not (graph_dir / name).exists():
            raise InputError(
                graph_dir / name,
                None,
                "missing: a graph directory holds TLG.fst (or TLG.pt), "
                "tokens.txt and words.txt; build it with `cifst graph build`",
            )
    if not (graph_dir / "TLG.pt").exists() and not (graph_dir / "TLG.fst").exists():
        raise InputError(
            graph_dir / "TLG.fst",
            None,
            "missing (and no TLG.pt): build the graph with "
            "`cifst graph build ... GRAPH_DIR`, or decode without a graph with --no-graph",
        )
    try:
        from decoding.graph import load_graph  # the graph package's loader, when present
    except ImportError:
        load_graph = None
    if load_graph is not None:
        return load_graph(graph_dir)
    from asr.text.symbol_table import SymbolTable
    from decoding.graph.csr import CsrGraph

    tokens = SymbolTable.read(graph_dir / "tokens.txt", require_dense=True)
    words = SymbolTable.read(graph_dir / "words.txt")
    pt = graph_dir / "TLG.pt"
    if pt.exists():
        return CsrGraph.load(pt), tokens, words
    import pywrapfst

    try:
        f = pywrapfst.Fst.read(str(graph_dir / "TLG.fst"))
    except Exception as e:
        raise InputError(graph_dir / "TLG.fst", None, f"not a readable OpenFst file ({e})") from None
    graph = CsrGraph.from_fst(f)
    graph.save(pt)
    return graph, tokens, words
