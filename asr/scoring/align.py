"""Levenshtein alignment of token-id sequences: reference/hypothesis pairs (int32 ids in flat arrays) -> per-pair
edit operations (correct/substitution/deletion/insertion) and their counts, compiled with numba.

One dynamic program (unit costs for substitution, deletion and insertion), two tie-breaking policies for which of
several equally short paths is reported, because the S/D/I split (not the total) depends on it:

- ``"kaldi"`` (default): Kaldi's ``LevenshteinAlignment`` / kaldialign. Traced back from the end, the diagonal step is
  taken only when strictly cheaper than both others (so a match can lose a tie to a deletion); between deletion
  and insertion, deletion wins only when strictly cheaper. Counts equal ``kaldialign.edit_distance`` and Kaldi's ``compute-wer``.
- ``"jiwer"``: jiwer >= 3 (rapidfuzz ``Levenshtein.editops``): the common prefix and suffix are matched first, then
  the trace back prefers deletion, then insertion, then the diagonal. Counts equal ``jiwer.process_words``.

The total number of errors is the same under both policies (it is the edit distance); only the split differs.
References: V. I. Levenshtein (1966); Kaldi ``src/util/edit-distance-inl.h``; rapidfuzz ``levenshtein_impl.hpp``.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit

__all__ = [
    "OP_CORRECT",
    "OP_SUB",
    "OP_DEL",
    "OP_INS",
    "POLICIES",
    "BatchAlignment",
    "align_batch",
    "align_ids",
]

OP_CORRECT = 0
OP_SUB = 1
OP_DEL = 2
OP_INS = 3

POLICIES = {"kaldi": 0, "jiwer": 1}

# The DP table of the largest pair is held in memory (int32): refuse pairs above 1 GiB of table.
MAX_CELLS = 1 << 28


class BatchAlignment(NamedTuple):
    """Alignments of N pairs.

    Attributes:
        ops: int8 [total_ops], the edit operations of every pair, concatenated, in reference/hypothesis order
            (``OP_CORRECT``, ``OP_SUB``, ``OP_DEL``, ``OP_INS``).
        ops_offsets: int64 [N + 1]; pair ``i`` owns ``ops[ops_offsets[i]:ops_offsets[i + 1]]``.
        counts: int64 [N, 4], per pair the number of hits, substitutions, deletions, insertions (columns in the
            ``OP_*`` order).
    """

    ops: np.ndarray
    ops_offsets: np.ndarray
    counts: np.ndarray


@njit(cache=True, nogil=True)
def _fill(cost, ref, r0, m_len, hyp, h0, n_len):
    # cost is a (m_len + 1) x (n_len + 1) table stored row-major in a flat int32 buffer
    w = n_len + 1
    for n in range(w):
        cost[n] = n
    for m in range(1, m_len + 1):
        row = m * w
        prev = row - w
        cost[row] = m
        a = ref[r0 + m - 1]
        for n in range(1, w):
            best = cost[prev + n - 1] + (0 if a == hyp[h0 + n - 1] else 1)
            d = cost[prev + n] + 1
            if d < best:
                best = d
            i = cost[row + n - 1] + 1
            if i < best:
                best = i
            cost[row + n] = best


@njit(cache=True, nogil=True)
def _trace_kaldi(cost, ref, r0, m_len, hyp, h0, n_len, out, o0):
    """Write the reversed op sequence at ``out[o0:]``; return how many ops were written."""
    w = n_len + 1
    m = m_len
    n = n_len
    k = o0
    while m != 0 or n != 0:
        if m == 0:
            out[k] = OP_INS
            n -= 1
        elif n == 0:
            out[k] = OP_DEL
            m -= 1
        else:
            same = ref[r0 + m - 1] == hyp[h0 + n - 1]
            diag = cost[(m - 1) * w + n - 1] + (0 if same else 1)
            d = cost[(m - 1) * w + n] + 1
            i = cost[m * w + n - 1] + 1
            if diag < d and diag < i:
                out[k] = OP_CORRECT if same else OP_SUB
                m -= 1
                n -= 1
            elif d < i:
                out[k] = OP_DEL
                m -= 1
            else:
                out[k] = OP_INS
                n -= 1
        k += 1
    return k - o0


@njit(cache=True, nogil=True)
def _trace_jiwer(cost, ref, r0, m_len, hyp, h0, n_len, out, o0):
    """rapidfuzz's trace back on the affix-free middle (see module docstring); reversed ops at ``out[o0:]``."""
    w = n_len + 1
    i = m_len
    j = n_len
    k = o0
    while i > 0 and j > 0:
        if cost[i * w + j] - cost[(i - 1) * w + j] == 1:
            out[k] = OP_DEL
            i -= 1
        else:
            j -= 1
            if j > 0 and cost[i * w + j] - cost[(i - 1) * w + j] == -1:
                out[k] = OP_INS
            else:
                i -= 1
                out[k] = OP_CORRECT if ref[r0 + i] == hyp[h0 + j] else OP_SUB
        k += 1
    while i > 0:
        out[k] = OP_DEL
        i -= 1
        k += 1
    while j > 0:
        out[k] = OP_INS
        j -= 1
        k += 1
    return k - o0


@njit(cache=True, nogil=True)
def _align_batch(ref, ref_off, hyp, hyp_off, policy, ops, ops_off, counts):
    n_pairs = ref_off.shape[0] - 1
    max_cells = 1
    for p in range(n_pairs):
        cells = (ref_off[p + 1] - ref_off[p] + 1) * (hyp_off[p + 1] - hyp_off[p] + 1)
        if cells > max_cells:
            max_cells = cells
    cost = np.empty(max_cells, dtype=np.int32)
    k = 0
    for p in range(n_pairs):
        r0 = ref_off[p]
        m_len = ref_off[p + 1] - r0
        h0 = hyp_off[p]
        n_len = hyp_off[p + 1] - h0
        ops_off[p] = k
        prefix = 0
        suffix = 0
        if policy == 1:
            while prefix < m_len and prefix < n_len and ref[r0 + prefix] == hyp[h0 + prefix]:
                prefix += 1
            while (
                suffix < m_len - prefix
                and suffix < n_len - prefix
                and ref[r0 + m_len - 1 - suffix] == hyp[h0 + n_len - 1 - suffix]
            ):
                suffix += 1
        for _ in range(prefix):
            ops[k] = OP_CORRECT
            k += 1
        mr0 = r0 + prefix
        mm = m_len - prefix - suffix
        mh0 = h0 + prefix
        mn = n_len - prefix - suffix
        _fill(cost, ref, mr0, mm, hyp, mh0, mn)
        if policy == 1:
            written = _trace_jiwer(cost, ref, mr0, mm, hyp, mh0, mn, ops, k)
        else:
            written = _trace_kaldi(cost, ref, mr0, mm, hyp, mh0, mn, ops, k)
        # the trace back wrote the middle reversed: put it in order
        lo = k
        hi = k + written - 1
        while lo < hi:
            t = ops[lo]
            ops[lo] = ops[hi]
            ops[hi] = t
            lo += 1
            hi -= 1
        k += written
        for _ in range(suffix):
            ops[k] = OP_CORRECT
            k += 1
        for q in range(ops_off[p], k):
            counts[p, ops[q]] += 1
    ops_off[n_pairs] = k


def align_batch(
    ref: np.ndarray, ref_offsets: np.ndarray, hyp: np.ndarray, hyp_offsets: np.ndarray, policy: str = "kaldi"
) -> BatchAlignment:
    """Align N reference/hypothesis pairs given as flat id arrays, in one compiled call.

    Args:
        ref: int32 [sum of reference lengths], the reference token ids of all pairs concatenated.
        ref_offsets: int64 [N + 1], pair ``i``'s reference is ``ref[ref_offsets[i]:ref_offsets[i + 1]]``.
        hyp: int32 [sum of hypothesis lengths], likewise.
        hyp_offsets: int64 [N + 1].
        policy: ``"kaldi"`` or ``"jiwer"`` tie-breaking (module docstring).

    Returns:
        :class:`BatchAlignment` (ops int8, offsets int64 [N + 1], counts int64 [N, 4]).

    Raises:
        ValueError: unknown policy, offsets of different lengths, or a pair whose table would exceed
            ``MAX_CELLS`` (about 16k x 16k units).
    """
    if policy not in POLICIES:
        raise ValueError(f"unknown alignment policy '{policy}'; choose one of {sorted(POLICIES)}")
    ref = np.ascontiguousarray(ref, dtype=np.int32)
    hyp = np.ascontiguousarray(hyp, dtype=np.int32)
    ref_offsets = np.ascontiguousarray(ref_offsets, dtype=np.int64)
    hyp_offsets = np.ascontiguousarray(hyp_offsets, dtype=np.int64)
    if ref_offsets.shape != hyp_offsets.shape or ref_offsets.ndim != 1 or ref_offsets.shape[0] < 1:
        raise ValueError(
            f"offset arrays must both have shape [N + 1], got {ref_offsets.shape} and {hyp_offsets.shape}"
        )
    n = ref_offsets.shape[0] - 1
    if n > 0:
        cells = (np.diff(ref_offsets) + 1) * (np.diff(hyp_offsets) + 1)
        worst = int(np.argmax(cells))
        if cells[worst] > MAX_CELLS:
            raise ValueError(
                f"pair {worst} is too long to align ({ref_offsets[worst + 1] - ref_offsets[worst]} x "
                f"{hyp_offsets[worst + 1] - hyp_offsets[worst]} units, over {MAX_CELLS} table cells): "
                "split long recordings into segments before scoring"
            )
    ops = np.empty(int(ref.shape[0] + hyp.shape[0]), dtype=np.int8)
    ops_offsets = np.zeros(n + 1, dtype=np.int64)
    counts = np.zeros((n, 4), dtype=np.int64)
    _align_batch(ref, ref_offsets, hyp, hyp_offsets, POLICIES[policy], ops, ops_offsets, counts)
    return BatchAlignment(ops[: ops_offsets[n]], ops_offsets, counts)


def align_ids(ref: np.ndarray, hyp: np.ndarray, policy: str = "kaldi") -> tuple[np.ndarray, np.ndarray]:
    """Align one pair of id sequences.

    Args:
        ref: int [M] reference ids.
        hyp: int [N] hypothesis ids.
        policy: ``"kaldi"`` or ``"jiwer"``.

    Returns:
        ``(ops, counts)``: int8 [L] operations in order and int64 [4] hits/subs/dels/ins.
    """
    ref = np.asarray(ref, dtype=np.int32)
    hyp = np.asarray(hyp, dtype=np.int32)
    res = align_batch(
        ref, np.array([0, len(ref)], np.int64), hyp, np.array([0, len(hyp)], np.int64), policy=policy
    )
    return res.ops, res.counts[0]
