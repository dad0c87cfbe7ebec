"""T o LG without a composition: LG arc arrays -> TLG arc arrays for the ``ctc``, ``ctc-compact`` and ``cif``
topologies, in numpy.

Input: LG as :class:`~decoding.graph.fst_arrays.FstArrays` (input = token id, never epsilon; output = word id) and
a :class:`~decoding.graph.topology.TopologyConfig`. Output: TLG arrays (input = token id + 1, 1 = blank), the same
machine ``compose_tlg(make_topology_fst(V), LG)`` builds with OpenFst (the tests check that), but in time and memory
linear in LG and independent of the vocabulary size V. OpenFst's composition with the standard CTC T walks all V
arcs of a T state for every TLG state; with V = 8404 (Paraformer's Chinese characters) T alone has 70M arcs.

The product T o LG has a state ``(0, q)`` ("after a blank", reused as LG state ``q``'s own id) for every LG state and
a state ``(t, q)`` for every distinct (token, destination) pair of LG's arcs ("just emitted t, now in q"):

- ``(0, q)``: blank self-loop; for each LG arc ``q -t:w/c-> q'`` an arc ``t+1:w/c`` to ``(t, q')``.
- ``(t, q)``: ``t+1:<eps>`` self-loop (the repeat), ``1:<eps>`` to ``(0, q)`` (a blank), and for each LG arc
  ``q -u:w/c-> q'`` the arc ``u+1:w/c`` to ``(u, q')`` when ``u != t`` (``ctc``) or for every ``u``
  (``ctc-compact``, which lets a token repeat without a blank: its epsilon arc back to the blank state, removed).
- final costs of both are LG's ``final(q)``.

``cif`` is LG with labels shifted by one and, with ``cif_skip``, a blank self-loop with the skip penalty on every
state. The construction follows the state space of k2's ``compose(ctc_topo, LG)`` (icefall ``compile_hlg.py``);
our own code.
"""

from __future__ import annotations

import numpy as np

from decoding.graph.fst_arrays import FstArrays
from decoding.graph.topology import TOPOLOGIES, TopologyConfig

__all__ = ["apply_topology"]


def _sorted_arcs(start: int, final, src, dst, il, ol, w) -> FstArrays:
    order = np.lexsort((il, src))
    return FstArrays(
        start=int(start),
        final=np.asarray(final, np.float32),
        src=src[order],
        dst=dst[order],
        ilabel=il[order].astype(np.int32),
        olabel=ol[order].astype(np.int32),
        weight=w[order].astype(np.float32),
    )


def apply_topology(lg: FstArrays, config: TopologyConfig) -> FstArrays:
    """Build TLG = T o LG directly from LG's arcs.

    Args:
        lg: LG arcs; input labels are token ids >= 1 (no epsilons), output labels word ids.
        config: The topology (``ctc``, ``ctc-compact`` or ``cif``).

    Returns:
        TLG arcs sorted by (source state, input label); the start state is LG's.

    Raises:
        ValueError: LG has input epsilons, or an unknown topology.
    """
    if config.kind not in TOPOLOGIES:
        raise ValueError(f"unknown topology {config.kind!r}; choose one of {', '.join(TOPOLOGIES)}")
    S = lg.num_states
    src, dst = lg.src.astype(np.int64), lg.dst.astype(np.int64)
    il, ol, w = lg.ilabel.astype(np.int64), lg.olabel.astype(np.int64), lg.weight.astype(np.float32)
    if np.any(il <= 0):
        raise ValueError("LG has input-epsilon arcs; remove them first (compose.remove_disambig)")
    if config.kind == "cif":
        parts_src, parts_dst, parts_il, parts_ol, parts_w = [src], [dst], [il + 1], [ol], [w]
        if config.cif_skip:
            states = np.arange(S, dtype=np.int64)
            parts_src.append(states)
            parts_dst.append(states)
            parts_il.append(np.ones(S, np.int64))
            parts_ol.append(np.zeros(S, np.int64))
            parts_w.append(np.full(S, config.cif_skip_penalty, np.float32))
        cat = np.concatenate
        return _sorted_arcs(
            lg.start, lg.final, cat(parts_src), cat(parts_dst), cat(parts_il), cat(parts_ol), cat(parts_w)
        )

    V = int(il.max()) + 1 if il.size else 1
    # token states (t, q): one per distinct (destination, token) of LG's arcs, numbered S, S+1, ... in key order
    keys = dst * V + il
    pair_keys = np.unique(keys)
    P = pair_keys.size
    pair_q = pair_keys // V
    pair_t = pair_keys % V
    target = S + np.searchsorted(pair_keys, keys)  # (t, q') each LG arc leads to
    # token states entering each LG state q: pair_keys are sorted by q, so they form one run per q
    in_cnt = np.bincount(pair_q, minlength=S)
    in_start = np.zeros(S, np.int64)
    np.cumsum(in_cnt[:-1], out=in_start[1:])
    # arcs from (0, q): the LG arcs themselves
    a_src, a_dst, a_il, a_ol, a_w = [src], [target], [il + 1], [ol], [w]
    # arcs from every (u, q) entering the arc's source q
    rep = in_cnt[src]
    arc_idx = np.repeat(np.arange(src.size, dtype=np.int64), rep)
    first = np.repeat(in_start[src] - np.concatenate([[0], np.cumsum(rep)[:-1]]), rep)
    pair_idx = first + np.arange(arc_idx.size, dtype=np.int64)
    if config.kind == "ctc":
        keep = pair_t[pair_idx] != il[arc_idx]
        arc_idx, pair_idx = arc_idx[keep], pair_idx[keep]
    a_src.append(S + pair_idx)
    a_dst.append(target[arc_idx])
    a_il.append(il[arc_idx] + 1)
    a_ol.append(ol[arc_idx])
    a_w.append(w[arc_idx])
    # blank loops on (0, q); repeat loops and blank arcs on (t, q)
    q = np.arange(S, dtype=np.int64)
    p = S + np.arange(P, dtype=np.int64)
    a_src += [q, p, p]
    a_dst += [q, p, pair_q]
    a_il += [np.ones(S, np.int64), pair_t + 1, np.ones(P, np.int64)]
    a_ol += [np.zeros(S, np.int64), np.zeros(P, np.int64), np.zeros(P, np.int64)]
    a_w += [np.zeros(S, np.float32), np.zeros(P, np.float32), np.zeros(P, np.float32)]
    final = np.concatenate([lg.final, lg.final[pair_q]])
    cat = np.concatenate
    return _sorted_arcs(lg.start, final, cat(a_src), cat(a_dst), cat(a_il), cat(a_ol), cat(a_w))
