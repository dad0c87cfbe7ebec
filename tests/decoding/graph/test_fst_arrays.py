"""fst_arrays: numpy <-> pywrapfst through the const layout, checked against pywrapfst's own arc iteration."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from asr.errors import InputError
from decoding.graph.csr import CsrGraph
from decoding.graph.fst_arrays import arrays_to_fst, fst_to_arrays


def _random_arrays(seed: int, S: int = 50, A: int = 300):
    rng = np.random.default_rng(seed)
    src = rng.integers(0, S, A)
    dst = rng.integers(0, S, A)
    il = rng.integers(0, 20, A)
    ol = rng.integers(0, 30, A)
    w = rng.normal(size=A).astype(np.float32)
    final = np.where(rng.random(S) < 0.3, rng.random(S), np.inf).astype(np.float32)
    return S, int(rng.integers(0, S)), src, dst, il, ol, w, final


def _walk(f):
    """The reference: every arc as pywrapfst iterates it."""
    arcs, finals = [], []
    for s in f.states():
        finals.append(float(f.final(s)))
        for a in f.arcs(s):  # pywrapfst prints weights with 9 digits: exact for float32
            arcs.append((s, a.nextstate, a.ilabel, a.olabel, float(np.float32(float(a.weight)))))
    return arcs, finals


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_arrays_to_fst_matches_arc_iteration(seed):
    S, start, src, dst, il, ol, w, final = _random_arrays(seed)
    f = arrays_to_fst(S, start, src, dst, il, ol, w, final)
    assert f.verify() and f.start() == start and f.num_states() == S
    arcs, finals = _walk(f)
    order = np.argsort(src, kind="stable")
    want = [(int(src[i]), int(dst[i]), int(il[i]), int(ol[i]), float(w[i])) for i in order]
    assert arcs == want
    np.testing.assert_array_equal(np.array(finals, np.float32), final)


def test_fst_to_arrays_roundtrip_and_symbol_tables():
    import pywrapfst as fst

    S, start, src, dst, il, ol, w, final = _random_arrays(3)
    f = arrays_to_fst(S, start, src, dst, il, ol, w, final)
    syms = fst.SymbolTable()
    for i in range(40):
        syms.add_symbol(f"s{i}", i)
    f.set_input_symbols(syms)
    f.set_output_symbols(syms)
    a = fst_to_arrays(f)
    arcs, finals = _walk(f)
    got = list(zip(a.src.tolist(), a.dst.tolist(), a.ilabel.tolist(), a.olabel.tolist(), a.weight.tolist()))
    assert got == arcs
    assert a.start == start and np.array_equal(a.final, np.array(finals, np.float32))
    assert f.input_symbols() is not None  # the caller's FST is not modified


def test_arrays_to_fst_rejects_bad_states():
    with pytest.raises(ValueError, match="state ids"):
        arrays_to_fst(
            2,
            0,
            np.array([0]),
            np.array([5]),
            np.array([1]),
            np.array([1]),
            np.array([0.0]),
            np.zeros(2, np.float32),
        )


def test_csr_graph_from_fst_to_fst_save_load(tmp_path):
    S, start, src, dst, il, ol, w, final = _random_arrays(4)
    f = arrays_to_fst(S, start, src, dst, il, ol, w, final)
    g = CsrGraph.from_fst(f)
    assert g.num_states == S and g.num_arcs == len(src) and g.start == start
    assert torch.all(g.src[1:] >= g.src[:-1])
    for s in range(S):
        lo, hi = int(g.row_ptr[s]), int(g.row_ptr[s + 1])
        assert [
            (int(d), int(i), int(o)) for d, i, o in zip(g.dst[lo:hi], g.ilabel[lo:hi], g.olabel[lo:hi])
        ] == [(a.nextstate, a.ilabel, a.olabel) for a in f.arcs(s)]
    back = g.to_fst()
    assert _walk(back) == _walk(f)
    g.save(tmp_path / "g.pt")
    h = CsrGraph.load(tmp_path / "g.pt")
    assert all(
        torch.equal(getattr(g, k), getattr(h, k)) for k in ("row_ptr", "src", "dst", "ilabel", "olabel")
    )
    assert torch.equal(g.weight, h.weight) and torch.equal(g.final, h.final) and h.start == g.start
    # memory-mapped by default on the CPU, copy-on-write: a change to a loaded tensor never reaches the file
    plain = CsrGraph.load(tmp_path / "g.pt", mmap=False)
    assert torch.equal(plain.dst, h.dst) and torch.equal(plain.weight, h.weight)
    h.weight.add_(1.0)
    assert torch.equal(CsrGraph.load(tmp_path / "g.pt").weight, g.weight)


def test_csr_graph_src_range_matches_row_ptr():
    # states 0, 3 and the last have no arcs, so chunks start and end inside, before and after empty rows
    src = np.array([1, 1, 1, 2, 4, 4, 5, 5, 5, 5, 6])
    n = len(src)
    g = CsrGraph.from_arrays(8, 0, src, np.zeros(n), np.ones(n), np.zeros(n), np.zeros(n), np.zeros(8))
    assert g.src.dtype == torch.int32 and g.src.tolist() == src.tolist()
    for lo in range(n + 1):
        for hi in range(lo, n + 1):
            assert g.src_range(lo, hi).tolist() == src[lo:hi].tolist(), (lo, hi)


def test_csr_graph_file_is_16_bytes_per_arc(tmp_path):
    S, start, src, dst, il, ol, w, final = _random_arrays(5, S=40, A=20000)
    g = CsrGraph.from_arrays(S, start, src, dst, il, ol, w, final)
    assert {t.dtype for t in (g.dst, g.ilabel, g.olabel)} == {torch.int32}
    g.save(tmp_path / "g.pt")
    raw = torch.load(tmp_path / "g.pt", weights_only=True)
    assert raw["format_version"] == 2 and "src" not in raw
    size = (tmp_path / "g.pt").stat().st_size
    assert 16 * len(src) < size < 16 * len(src) + 8 * (S + 1) + 4 * S + 4096
    with pytest.raises(ValueError, match="does not fit int32"):
        CsrGraph.from_arrays(S, start, src, dst, il, ol + 2**31, w, final)


def test_csr_graph_loads_format_1_and_upgrades(tmp_path, caplog):
    S, start, src, dst, il, ol, w, final = _random_arrays(6)
    g = CsrGraph.from_arrays(S, start, src, dst, il, ol, w, final)
    old = {k: getattr(g, k).to(torch.int64) for k in ("src", "dst", "ilabel", "olabel")}
    old.update(start=g.start, row_ptr=g.row_ptr, weight=g.weight, final=g.final, format_version=1)
    path = tmp_path / "TLG.pt"
    torch.save(old, path)

    def same(h):
        return h.start == g.start and all(
            torch.equal(getattr(h, k), getattr(g, k))
            for k in ("row_ptr", "src", "dst", "ilabel", "olabel", "weight", "final")
        )

    assert same(CsrGraph.load(path))  # converted in memory, the file left alone
    assert torch.load(path, weights_only=True)["format_version"] == 1
    with caplog.at_level("INFO"):
        assert same(CsrGraph.load(path, upgrade=True))
    assert "rewrote" in caplog.text
    raw = torch.load(path, weights_only=True)
    assert raw["format_version"] == 2 and "src" not in raw and raw["dst"].dtype == torch.int32
    assert same(CsrGraph.load(path))
    torch.save({**old, "format_version": 7}, path)
    with pytest.raises(InputError, match="graph format version 7 is not 2"):
        CsrGraph.load(path)
