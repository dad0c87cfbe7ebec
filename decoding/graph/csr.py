"""A decoding graph as torch tensors in CSR order (``TLG.pt``), the form the batched search walks.

Input: an epsilon-free OpenFst graph (``pywrapfst.Fst``, tropical semiring, weights = natural-log costs) whose input
labels are token id + 1 (0 = epsilon, 1 = blank) and output labels are word ids. Output: :class:`CsrGraph`, arcs
sorted by source state, saved with ``torch.save`` as a plain dict of tensors and ints, loaded with
``torch.load(weights_only=True)`` (no pickle of code).

Follows k2's ``Fsa`` arc arrays (``k2/python/k2/fsa.py``) with a separate ``final`` cost vector instead of
super-final arcs.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np
import torch

from asr.data.atomic import atomic_path
from asr.errors import InputError

__all__ = ["CsrGraph", "FORMAT_VERSION"]

FORMAT_VERSION = 1


@dataclass
class CsrGraph:
    """Arc arrays of a graph, sorted by source state.

    Attributes:
        start: Start state id.
        row_ptr: int64 [S+1]; arcs leaving state ``s`` are ``row_ptr[s]:row_ptr[s+1]``.
        src: int64 [A] source state of each arc (non-decreasing).
        dst: int64 [A] destination state.
        ilabel: int64 [A] input label = token id + 1; 0 is epsilon (a graph built for search has none).
        olabel: int64 [A] output label = word id; 0 is epsilon.
        weight: float32 [A] arc cost (natural log, lower is better, tropical semiring).
        final: float32 [S] final cost of each state; ``inf`` for non-final states.
    """

    start: int
    row_ptr: torch.Tensor
    src: torch.Tensor
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
        return int(self.src.numel())

    def to(self, device: str | torch.device) -> CsrGraph:
        """Return a copy with every tensor on ``device``."""
        kw = {f.name: getattr(self, f.name) for f in fields(self)}
        return CsrGraph(**{k: (v.to(device) if isinstance(v, torch.Tensor) else v) for k, v in kw.items()})

    @property
    def device(self) -> torch.device:
        return self.src.device

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
        """Build from unsorted arc arrays (any integer/float dtypes); sorts arcs by source state (stable)."""
        src = np.asarray(src, dtype=np.int64)
        order = np.argsort(src, kind="stable")
        counts = np.bincount(src, minlength=num_states)
        row_ptr = np.zeros(num_states + 1, dtype=np.int64)
        np.cumsum(counts, out=row_ptr[1:])

        def t(a, dtype):
            return torch.from_numpy(np.ascontiguousarray(np.asarray(a)[order], dtype=dtype))

        return cls(
            start=int(start),
            row_ptr=torch.from_numpy(row_ptr),
            src=torch.from_numpy(src[order]),
            dst=t(dst, np.int64),
            ilabel=t(ilabel, np.int64),
            olabel=t(olabel, np.int64),
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
    def load(cls, path: str | os.PathLike, device: str | torch.device = "cpu", mmap: bool = True) -> CsrGraph:
        """Read a file written by :meth:`save`. On the CPU the tensors are memory-mapped (``mmap``, copy-on-write):
        pages are read when the search first touches them, stay in the page cache shared by every process decoding
        with the same graph, and do not count as the process's own memory (a 145M-arc graph is 5.2 GB).

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
        if not isinstance(data, dict) or data.get("format_version") != FORMAT_VERSION:
            raise InputError(
                path,
                None,
                f"graph format version {data.get('format_version') if isinstance(data, dict) else '?'}"
                f" is not {FORMAT_VERSION}; delete it to convert TLG.fst again",
            )
        missing = [f.name for f in fields(cls) if f.name not in data]
        if missing:
            raise InputError(path, None, f"graph file lacks {missing}")
        return cls(**{f.name: data[f.name] for f in fields(cls)})
