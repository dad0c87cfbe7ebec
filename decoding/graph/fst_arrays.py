"""Fast conversion between ``pywrapfst`` FSTs and numpy arc arrays, through OpenFst's ``const`` binary layout.

Input: a ``pywrapfst`` FST (``standard`` arc type: int32 labels, float32 tropical weights) or arc arrays. Output:
:class:`FstArrays` (arcs sorted by source state) or a ``pywrapfst.VectorFst``. Walking an FST arc by arc from Python
costs about a microsecond per arc; instead we let OpenFst serialise the graph as a ``ConstFst`` (a fixed-size
header, one 20-byte record per state, one 16-byte record per arc) and view those records with ``numpy.frombuffer``,
and for the other direction we lay the records out with numpy and let OpenFst read them. Millions of arcs take well
under a second either way.

Reference: OpenFst ``fst/const-fst.h`` (``ConstFstImpl::Read``/``WriteFst``) and ``fst/fst.h`` (``FstHeader``); the
layout is the one written by ``fstconvert --fst_type=const``. Our own code.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np

__all__ = ["FstArrays", "fst_to_arrays", "arrays_to_fst"]

_MAGIC = 2125659606
_HAS_ISYMBOLS, _HAS_OSYMBOLS, _IS_ALIGNED = 0x1, 0x2, 0x4
_CONST_VERSION = 2
_ALIGN = 16
_K_EXPANDED = 0x1  # the only property bit we claim; OpenFst computes the others when an algorithm asks
_STATE_DTYPE = np.dtype(
    [("final", "<f4"), ("pos", "<u4"), ("narcs", "<u4"), ("nieps", "<u4"), ("noeps", "<u4")]
)
_ARC_DTYPE = np.dtype([("ilabel", "<i4"), ("olabel", "<i4"), ("weight", "<f4"), ("nextstate", "<i4")])


@dataclass
class FstArrays:
    """An FST as flat arrays, arcs grouped by source state in state order.

    Attributes:
        start: Start state id (-1 for an empty FST).
        final: float32 [S] final cost per state, ``inf`` when not final.
        src: int64 [A] source state (non-decreasing).
        dst: int64 [A] destination state.
        ilabel: int32 [A] input label (0 = epsilon).
        olabel: int32 [A] output label (0 = epsilon).
        weight: float32 [A] arc cost.
    """

    start: int
    final: np.ndarray
    src: np.ndarray
    dst: np.ndarray
    ilabel: np.ndarray
    olabel: np.ndarray
    weight: np.ndarray

    @property
    def num_states(self) -> int:
        return int(self.final.shape[0])

    @property
    def num_arcs(self) -> int:
        return int(self.src.shape[0])


def _read_string(buf: bytes, pos: int) -> tuple[str, int]:
    (n,) = struct.unpack_from("<i", buf, pos)
    return buf[pos + 4 : pos + 4 + n].decode("ascii"), pos + 4 + n


def fst_to_arrays(f) -> FstArrays:
    """Read every state and arc of ``f`` into numpy arrays (arcs in OpenFst's per-state order).

    Args:
        f: A ``pywrapfst.Fst`` with the ``standard`` (tropical, float32) or ``log`` arc type.

    Returns:
        The arrays; ``src`` is non-decreasing.

    Raises:
        ValueError: An arc type other than ``standard``/``log`` (labels or weights of another width).
    """
    import pywrapfst as fst

    if f.arc_type() not in ("standard", "log"):
        raise ValueError(f"arc type {f.arc_type()!r} is not supported (need 'standard' or 'log')")
    if f.input_symbols() is not None or f.output_symbols() is not None:
        f = f.copy() if f.fst_type() == "vector" else fst.convert(f, "vector")
        f.set_input_symbols(None)
        f.set_output_symbols(None)
    c = f if f.fst_type() == "const" else fst.convert(f, "const")
    buf = c.write_to_string()
    (magic,) = struct.unpack_from("<i", buf, 0)
    if magic != _MAGIC:
        raise ValueError("OpenFst wrote an unexpected header (bad magic number)")
    fst_type, pos = _read_string(buf, 4)
    arc_type, pos = _read_string(buf, pos)
    version, flags, _props, start, nstates, narcs = struct.unpack_from("<iiQqqq", buf, pos)
    pos += struct.calcsize("<iiQqqq")
    if fst_type != "const" or version != _CONST_VERSION or flags & (_HAS_ISYMBOLS | _HAS_OSYMBOLS):
        raise ValueError(f"unexpected const FST header (type {fst_type}, version {version}, flags {flags})")
    if flags & _IS_ALIGNED:
        pos = -(-pos // _ALIGN) * _ALIGN
    states = np.frombuffer(buf, dtype=_STATE_DTYPE, count=nstates, offset=pos)
    pos += nstates * _STATE_DTYPE.itemsize
    if flags & _IS_ALIGNED:
        pos = -(-pos // _ALIGN) * _ALIGN
    arcs = np.frombuffer(buf, dtype=_ARC_DTYPE, count=narcs, offset=pos)
    counts = states["narcs"].astype(np.int64)
    src = np.repeat(np.arange(nstates, dtype=np.int64), counts)
    return FstArrays(
        start=int(start),
        final=states["final"].astype(np.float32),
        src=src,
        dst=arcs["nextstate"].astype(np.int64),
        ilabel=arcs["ilabel"].astype(np.int32),
        olabel=arcs["olabel"].astype(np.int32),
        weight=arcs["weight"].astype(np.float32),
    )


def arrays_to_fst(
    num_states: int,
    start: int,
    src: np.ndarray,
    dst: np.ndarray,
    ilabel: np.ndarray,
    olabel: np.ndarray,
    weight: np.ndarray,
    final: np.ndarray,
    mutable: bool = True,
):
    """Build a tropical ``pywrapfst`` FST from arc arrays in one pass through OpenFst's reader.

    Args:
        num_states: S, number of states (ids ``0..S-1``).
        start: Start state id.
        src, dst: int [A] source and destination state of each arc (any order; sorted stably by ``src``).
        ilabel, olabel: int [A] labels (0 = epsilon), must fit int32.
        weight: float [A] arc costs.
        final: float [S] final costs, ``inf`` for non-final states.
        mutable: Return a ``VectorFst`` (True) or the read-only ``ConstFst`` (False, saves a copy).

    Returns:
        ``pywrapfst.VectorFst`` (or ``Fst`` of type ``const``).

    Raises:
        ValueError: a state id out of range or a label that does not fit int32.
    """
    import pywrapfst as fst

    src = np.asarray(src, dtype=np.int64)
    dst = np.asarray(dst, dtype=np.int64)
    n = int(src.shape[0])
    if n and (src.min() < 0 or src.max() >= num_states or dst.min() < 0 or dst.max() >= num_states):
        raise ValueError(f"arc state ids must be in [0, {num_states})")
    if not 0 <= start < max(num_states, 1):
        raise ValueError(f"start state {start} is not in [0, {num_states})")
    for name, lab in (("ilabel", ilabel), ("olabel", olabel)):
        lab = np.asarray(lab)
        if n and (lab.min() < 0 or lab.max() > np.iinfo(np.int32).max):
            raise ValueError(f"{name} values must be in [0, 2^31)")
    order = np.argsort(src, kind="stable") if n and np.any(src[1:] < src[:-1]) else None
    arcs = np.empty(n, dtype=_ARC_DTYPE)
    pick = (lambda a: np.asarray(a)[order]) if order is not None else np.asarray
    arcs["ilabel"] = pick(ilabel)
    arcs["olabel"] = pick(olabel)
    arcs["weight"] = pick(weight)
    arcs["nextstate"] = pick(dst)
    counts = np.bincount(src, minlength=num_states).astype(np.int64)
    pos = np.zeros(num_states, dtype=np.int64)
    np.cumsum(counts[:-1], out=pos[1:])
    states = np.zeros(num_states, dtype=_STATE_DTYPE)
    states["final"] = np.asarray(final, dtype=np.float32)
    states["pos"] = pos
    states["narcs"] = counts
    eps_i = np.asarray(arcs["ilabel"] == 0, dtype=np.int64)
    eps_o = np.asarray(arcs["olabel"] == 0, dtype=np.int64)
    sorted_src = np.repeat(np.arange(num_states, dtype=np.int64), counts)
    states["nieps"] = np.bincount(sorted_src, weights=eps_i, minlength=num_states).astype(np.uint32)
    states["noeps"] = np.bincount(sorted_src, weights=eps_o, minlength=num_states).astype(np.uint32)
    header = (
        struct.pack("<i", _MAGIC)
        + struct.pack("<i", 5)
        + b"const"
        + struct.pack("<i", 8)
        + b"standard"
        + struct.pack("<iiQqqq", _CONST_VERSION, 0, _K_EXPANDED, start, num_states, n)
    )
    c = fst.Fst.read_from_string(header + states.tobytes() + arcs.tobytes())
    return fst.convert(c, "vector") if mutable else c
