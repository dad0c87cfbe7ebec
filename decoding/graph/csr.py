"""A decoding graph as torch tensors in CSR order (``TLG.pt``), the form the batched search walks.

Input: an epsilon-free OpenFst graph (``pywrapfst.Fst``, tropical semiring, weights = natural-log costs) whose input
labels are token id + 1 (0 = epsilon, 1 = blank) and output labels are word ids. Output: :class:`CsrGraph`, arcs
sorted by source state, saved with ``torch.save`` as a plain dict of tensors and ints, loaded with
``torch.load(weights_only=True)`` (no pickle of code).

Format version 2 stores 16 bytes per arc: ``dst``, ``ilabel``, ``olabel`` as int32 and ``weight`` as float32; the
source state of each arc is implied by ``row_ptr`` and computed when asked (:attr:`CsrGraph.src`,
:meth:`CsrGraph.src_range`). Version 1 files (int64 arrays and a stored ``src``, 36 bytes per arc) still load and
are converted in memory.

Follows k2's ``Fsa`` arc arrays (``k2/python/k2/fsa.py``) with a separate ``final`` cost vector instead of
super-final arcs.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np
import torch

from asr.data.atomic import atomic_path
from asr.errors import InputError

__all__ = ["CsrGraph", "FORMAT_VERSION"]

log = logging.getLogger(__name__)

FORMAT_VERSION = 2
_OLD_VERSIONS = (1,)
_I32_MAX = 2**31 - 1


@dataclass
class CsrGraph:
    """Arc arrays of a graph, sorted by source state.

    Attributes:
        start: Start state id.
        row_ptr: int64 [S+1]; arcs leaving state ``s`` are ``row_ptr[s]:row_ptr[s+1]``.
        dst: int32 [A] destination state.
        ilabel: int32 [A] input label = token id + 1; 0 is epsilon (a graph built for search has none).
        olabel: int32 [A] output label = word id; 0 is epsilon.
        weight: float32 [A] arc cost (natural log, lower is better, tropical semiring).
        final: float32 [S] final cost of each state; ``inf`` for non-final states.
    """

    start: int
    row_ptr: torch.Tensor
    dst: torch.Tensor
    ilabel: torch.Tensor
    olabel: torch.Tensor
    weight: torch.Tensor
    final: torch.Tensor

    @property
    def num_states(self) -> int:
        return int(self.final.numel())

    @property
    def num_arcs(self) -> int:
        return int(self.dst.numel())

    @property
    def src(self) -> torch.Tensor:
        """int32 [A] source state of each arc (non-decreasing), computed from ``row_ptr`` on every call (not kept:
        a search over a large graph reads it chunk by chunk with :meth:`src_range`)."""
        return self.src_range(0, self.num_arcs)

    def src_range(self, lo: int, hi: int) -> torch.Tensor:
        """int32 [hi - lo] source state of arcs ``lo..hi-1``, in O(hi - lo + states covered)."""
        dev = self.row_ptr.device
        if hi <= lo:
            return torch.zeros(0, dtype=torch.int32, device=dev)
        bounds = torch.tensor([lo, hi - 1], dtype=self.row_ptr.dtype, device=dev)
        s_lo, s_hi = (int(x) for x in torch.searchsorted(self.row_ptr, bounds, right=True) - 1)
        rows = self.row_ptr[s_lo : s_hi + 2].clamp(lo, hi)
        return torch.repeat_interleave(
            torch.arange(s_lo, s_hi + 1, dtype=torch.int32, device=dev), torch.diff(rows), output_size=hi - lo
        )

    def to(self, device: str | torch.device) -> CsrGraph:
        """Return a copy with every tensor on ``device``."""
        kw = {f.name: getattr(self, f.name) for f in fields(self)}
        return CsrGraph(**{k: (v.to(device) if isinstance(v, torch.Tensor) else v) for k, v in kw.items()})

    @property
    def device(self) -> torch.device:
        return self.dst.device

    @classmethod
    def from_arrays(
        cls,
        num_states: int,
        start: int,
        src: np.ndarray,
        dst: np.ndarray,
        ilabel: np.ndarray,
        olabel: np.ndarray,
        weight: np.ndarray,
        final: np.ndarray,
    ) -> CsrGraph:
        """Build from unsorted arc arrays (any integer/float dtypes); sorts arcs by source state (stable).

        Raises:
            ValueError: more than 2^31 - 1 states, or a label that does not fit int32.
        """
        if num_states > _I32_MAX:
            raise ValueError(f"{num_states} states do not fit the int32 state ids of the graph tensor format")
        src = np.asarray(src, dtype=np.int64)
        order = np.argsort(src, kind="stable")
        counts = np.bincount(src, minlength=num_states)
        row_ptr = np.zeros(num_states + 1, dtype=np.int64)
        np.cumsum(counts, out=row_ptr[1:])

        def t(a, dtype, name=""):
            a = np.asarray(a)
            if dtype == np.int32 and a.size and (int(a.max()) > _I32_MAX or int(a.min()) < 0):
                raise ValueError(f"{name} {int(a.max())} or {int(a.min())} does not fit int32")
            return torch.from_numpy(np.ascontiguousarray(a[order], dtype=dtype))

        return cls(
            start=int(start),
            row_ptr=torch.from_numpy(row_ptr),
            dst=t(dst, np.int32, "destination state"),
            ilabel=t(ilabel, np.int32, "input label"),
            olabel=t(olabel, np.int32, "output label"),
            weight=t(weight, np.float32),
            final=torch.from_numpy(np.asarray(final, dtype=np.float32).copy()),
        )

    @classmethod
    def from_fst(cls, fst) -> CsrGraph:
        """Convert a ``pywrapfst`` FST (tropical or log weights, read as costs), in C++ speed via
        :func:`decoding.graph.fst_arrays.fst_to_arrays` (millions of arcs per second).

        Raises:
            ValueError: the FST has no start state.
        """
        from decoding.graph.fst_arrays import fst_to_arrays

        if fst.start() < 0:
            raise ValueError("the FST has no start state (it is empty)")
        a = fst_to_arrays(fst)
        return cls.from_arrays(a.num_states, a.start, a.src, a.dst, a.ilabel, a.olabel, a.weight, a.final)

    def to_fst(self):
        """Convert back to a ``pywrapfst.VectorFst`` (tropical), e.g. to run OpenFst algorithms on it."""
        from decoding.graph.fst_arrays import arrays_to_fst

        return arrays_to_fst(
            self.num_states,
            self.start,
            self.src.cpu().numpy(),
            self.dst.cpu().numpy(),
            self.ilabel.cpu().numpy(),
            self.olabel.cpu().numpy(),
            self.weight.cpu().numpy(),
            self.final.cpu().numpy(),
        )

    def save(self, path: str | os.PathLike) -> None:
        """Write atomically as a dict of tensors (``torch.load(path, weights_only=True)`` reads it)."""
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data["format_version"] = FORMAT_VERSION
        with atomic_path(path) as tmp:
            torch.save(data, tmp)

    @classmethod
    def load(
        cls,
        path: str | os.PathLike,
        device: str | torch.device = "cpu",
        mmap: bool = True,
        upgrade: bool = False,
    ) -> CsrGraph:
        """Read a file written by :meth:`save`. On the CPU the tensors are memory-mapped (``mmap``, copy-on-write):
        pages are read when the search first touches them, stay in the page cache shared by every process decoding
        with the same graph, and do not count as the process's own memory (a 145M-arc graph is 2.3 GB).

        A file of an older format version is converted in memory; with ``upgrade`` it is also rewritten in the
        current format (atomically; a read-only directory just converts on every load) and mapped again.

        Raises:
            InputError: not a graph file of this format.
        """
        path = Path(path)
        try:
            mapped = mmap and torch.device(device).type == "cpu"
            data = torch.load(path, map_location=device, weights_only=True, mmap=mapped)
        except FileNotFoundError:
            raise
        except Exception as e:
            raise InputError(
                path,
                None,
                f"not a cifst graph tensor file ({type(e).__name__}: {e}); "
                "rebuild it with cifst graph build, or delete it to convert TLG.fst again",
            ) from None
        version = data.get("format_version") if isinstance(data, dict) else None
        if version != FORMAT_VERSION and version not in _OLD_VERSIONS:
            raise InputError(
                path,
                None,
                f"graph format version {version if version is not None else '?'} is not {FORMAT_VERSION}; "
                "delete it to convert TLG.fst again",
            )
        missing = [f.name for f in fields(cls) if f.name not in data]
        if missing:
            raise InputError(path, None, f"graph file lacks {missing}")
        kw = {f.name: data[f.name] for f in fields(cls)}
        if version == FORMAT_VERSION:
            return cls(**kw)
        # version 1: int64 arrays and a stored src
        kw.update({k: kw[k].to(torch.int32) for k in ("dst", "ilabel", "olabel")})
        graph = cls(**kw)
        if upgrade:
            try:
                graph.save(path)
            except OSError as e:
                log.warning("could not rewrite %s in graph format %d (%s)", path, FORMAT_VERSION, e)
            else:
                log.info("rewrote %s in graph format %d (16 bytes per arc)", path, FORMAT_VERSION)
                return cls.load(path, device, mmap)
        return graph
