"""Load a graph directory for decoding: GRAPH_DIR -> (CsrGraph, tokens SymbolTable, words SymbolTable).

Input: a directory holding ``tokens.txt``, ``words.txt`` and ``TLG.pt`` and/or ``TLG.fst`` (ours, or made by Kaldi,
WeNet, sherpa or icefall tools with the shared convention: input label = token id + 1, 0 = epsilon, 1 = blank,
output label = word id, tropical costs). Output: the :class:`~decoding.graph.csr.CsrGraph` and the two symbol
tables. When ``TLG.pt`` is missing or older than ``TLG.fst`` it is made from ``TLG.fst`` and cached (atomically).
A foreign TLG may hold input epsilons (e.g. back-off arcs and disambiguation positions kept by WeNet's
``make_tlg.sh``); our search never follows them, so they are removed on conversion as in our own build
(:func:`decoding.graph.compose.remove_input_epsilons`: OpenFst ``rmepsilon``, then words on epsilon arcs moved onto
the token arcs entering them); a graph where that is impossible is reported.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from asr.errors import InputError
from asr.text.symbol_table import SymbolTable
from decoding.graph.csr import CsrGraph

__all__ = ["load_graph", "convert_fst"]

log = logging.getLogger(__name__)


def convert_fst(fst_path: str | os.PathLike, num_tokens: int | None = None) -> CsrGraph:
    """Read an OpenFst TLG and make it a search-ready :class:`CsrGraph` (input epsilons removed).

    Args:
        fst_path: ``TLG.fst`` (any OpenFst binary FST with the ``standard`` arc type).
        num_tokens: Size of ``tokens.txt``; when given, every input label must be <= it (label = token id + 1).

    Returns:
        The graph, arcs sorted by source state.

    Raises:
        InputError: not a readable FST, no start state, a label out of range, or input-epsilon arcs that emit words.
    """
    import pywrapfst as fst

    from decoding.graph.fst_arrays import fst_to_arrays

    fst_path = Path(fst_path)
    try:
        f = fst.Fst.read(str(fst_path))
    except fst.FstIOError:
        raise InputError(fst_path, None, "not an OpenFst binary FST (fstinfo should read it)") from None
    if f.arc_type() not in ("standard", "log"):
        raise InputError(
            fst_path, None, f"arc type '{f.arc_type()}' is not supported; need 'standard' (tropical)"
        )
    if f.start() < 0:
        raise InputError(fst_path, None, "the FST has no start state (it is empty)")
    a = fst_to_arrays(f)
    if np.any(a.ilabel == 0):
        from asr.errors import CifstError
        from decoding.graph.compose import remove_input_epsilons

        n_eps = int(np.count_nonzero(a.ilabel == 0))
        log.info("%s: removing %d input-epsilon arcs (the search does not follow epsilons)", fst_path, n_eps)
        g = f.copy() if f.fst_type() == "vector" else fst.convert(f, "vector")
        try:
            a = fst_to_arrays(remove_input_epsilons(g))
        except CifstError as e:
            raise InputError(fst_path, None, f"cannot remove its input epsilons: {e}") from None
    if num_tokens is not None and a.num_arcs and int(a.ilabel.max()) > num_tokens:
        raise InputError(
            fst_path,
            None,
            f"input label {int(a.ilabel.max())} > number of tokens {num_tokens}: the graph does not use the "
            "'token id + 1' convention with this tokens.txt (disambiguation symbols left in it?)",
        )
    return CsrGraph.from_arrays(a.num_states, a.start, a.src, a.dst, a.ilabel, a.olabel, a.weight, a.final)


def load_graph(
    graph_dir: str | os.PathLike, device: str = "cpu"
) -> tuple[CsrGraph, SymbolTable, SymbolTable]:
    """Load ``GRAPH_DIR`` for the search.

    Args:
        graph_dir: Directory with ``tokens.txt``, ``words.txt`` and ``TLG.pt`` or ``TLG.fst``.
        device: Where to put the tensors.

    Returns:
        ``(graph, tokens, words)``.

    Raises:
        InputError: a missing or malformed file (named), a graph whose labels do not fit the tables.
    """
    d = Path(graph_dir)
    if not d.is_dir():
        raise InputError(d, None, "graph directory not found (make one with cifst graph build)")
    for name in ("tokens.txt", "words.txt"):
        if not (d / name).exists():
            raise InputError(d / name, None, "missing from the graph directory")
    tokens = SymbolTable.read(d / "tokens.txt", require_dense=True)
    words = SymbolTable.read(d / "words.txt")
    pt, fst_file = d / "TLG.pt", d / "TLG.fst"
    if pt.exists() and (not fst_file.exists() or pt.stat().st_mtime_ns >= fst_file.stat().st_mtime_ns):
        graph = CsrGraph.load(pt, device="cpu", upgrade=True)
    elif fst_file.exists():
        graph = convert_fst(fst_file, len(tokens))
        try:
            graph.save(pt)
            log.info(
                "converted %s to %s (%d states, %d arcs)", fst_file, pt, graph.num_states, graph.num_arcs
            )
        except OSError as e:  # a read-only graph directory still decodes
            log.warning("could not cache %s (%s); converting on every load", pt, e)
    else:
        raise InputError(d, None, "no TLG.pt or TLG.fst in the graph directory")
    if graph.num_arcs:
        if int(graph.ilabel.max()) > len(tokens):
            raise InputError(
                pt,
                None,
                f"input labels go up to {int(graph.ilabel.max())} but tokens.txt has "
                f"{len(tokens)} tokens (label = token id + 1)",
            )
        if int(graph.olabel.max()) > words.max_id:
            raise InputError(
                pt,
                None,
                f"output labels go up to {int(graph.olabel.max())} but words.txt ends at id {words.max_id}",
            )
    return graph.to(device), tokens, words
