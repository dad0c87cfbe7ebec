"""Token topologies T: how rows of posteriors map to tokens. Number of tokens -> T as a tropical ``VectorFst``.

Input: the number of tokens ``V`` of ``tokens.txt`` (id 0 = ``<blk>``). Output: T whose input labels are token id + 1
(0 = epsilon, 1 = blank: the TLG convention shared with Kaldi's CTC decodable, kaldi-decoder, icefall and sherpa)
and whose output labels are token ids (what L reads), output-label sorted for composition with LG.

- ``ctc`` (standard CTC, Graves et al. 2006; k2 ``ctc_topo(modified=False)``, WeNet ``ctc_token_fst``): a blank
  state and one state per token; a token's repeats collapse; the same token twice needs a blank in between. V^2 arcs,
  no epsilons.
- ``ctc-compact`` (k2 ``ctc_topo(modified=True)``, WeNet ``ctc_token_fst_compact``, Laptev et al. 2021 "CTC
  variations through new WFST topologies"): from a token state an epsilon arc returns to the blank state, so T has
  only ~3V arcs and a token may repeat without a blank. The epsilons vanish when TLG is epsilon-removed
  (:mod:`decoding.graph.compose`); the saving is in building T and T o LG, not in the final TLG.
- ``cif`` (token-synchronous, for Paraformer/CIF posteriors where each row is one token slot): a single state; each
  row emits exactly one token, no self-loop repeats (a doubled token is two rows); optionally a slot may be skipped
  (the CIF predictor over-counted) by a blank arc (input label 1) with cost ``skip_penalty``. The search adds the
  row's blank log-posterior to that arc like any other, so for a model without a trained blank column the searcher
  should treat the blank column of CIF rows as log 1 (DESIGN: ``row_type: cif``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["TopologyConfig", "TOPOLOGIES", "make_topology_fst"]

TOPOLOGIES = ("ctc", "ctc-compact", "cif")


@dataclass
class TopologyConfig:
    """Which T to build.

    Attributes:
        kind: ``ctc`` | ``ctc-compact`` | ``cif``.
        cif_skip: With ``cif``: add the skip (blank) arc that drops a token slot.
        cif_skip_penalty: Cost (natural log units, >= 0) of skipping one slot.
    """

    kind: str = "ctc"
    cif_skip: bool = True
    cif_skip_penalty: float = 10.0


def make_topology_fst(num_tokens: int, config: TopologyConfig):
    """Build T for tokens ``0..num_tokens-1`` (0 = blank).

    Args:
        num_tokens: V, the size of ``tokens.txt``.
        config: Which topology.

    Returns:
        Tropical ``pywrapfst.VectorFst``: input = token id + 1, output = token id (0 = epsilon), olabel-sorted.

    Raises:
        ValueError: unknown kind, ``num_tokens < 2`` or a negative skip penalty.
    """
    from decoding.graph.fst_arrays import arrays_to_fst

    V = int(num_tokens)
    if V < 2:
        raise ValueError(f"need at least the blank and one token, got {V} tokens")
    t = np.arange(1, V, dtype=np.int64)  # real tokens; in ctc/ctc-compact state s is "last emitted token s"
    zero, one = np.zeros_like(t), np.ones_like(t)
    blank_loop = (np.array([0]), np.array([0]), np.array([1]), np.array([0]))
    parts: list[tuple[np.ndarray, ...]] = []  # (src, dst, ilabel, olabel)
    weight = None
    if config.kind in ("ctc", "ctc-compact"):
        parts += [blank_loop, (zero, t, t + 1, t), (t, t, t + 1, zero)]  # blank loop, emit, repeat
        if config.kind == "ctc":
            a, b = np.meshgrid(t, t, indexing="ij")
            off = a != b
            parts += [
                (t, zero, one, zero),
                (a[off], b[off], b[off] + 1, b[off]),
            ]  # blank after, token -> token
            final = np.zeros(V, np.float32)
        else:
            parts += [(t, zero, zero, zero)]  # epsilon back to the blank state
            final = np.full(V, np.inf, np.float32)
            final[0] = 0.0
        num_states = V
    elif config.kind == "cif":
        if config.cif_skip_penalty < 0:
            raise ValueError(f"cif_skip_penalty must be >= 0, got {config.cif_skip_penalty}")
        parts += [(zero, zero, t + 1, t)]
        if config.cif_skip:
            parts += [blank_loop]
        num_states = 1
        final = np.zeros(1, np.float32)
        weight = np.zeros(V - 1 + int(config.cif_skip), np.float32)
        if config.cif_skip:
            weight[-1] = config.cif_skip_penalty
    else:
        raise ValueError(f"unknown topology {config.kind!r}; choose one of {', '.join(TOPOLOGIES)}")
    src, dst, il, ol = (np.concatenate([p[i] for p in parts]) for i in range(4))
    if weight is None:
        weight = np.zeros(len(src), np.float32)
    T = arrays_to_fst(num_states, 0, src, dst, il, ol, weight, final)
    T.arcsort(sort_type="olabel")
    return T
