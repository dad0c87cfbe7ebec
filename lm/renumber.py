"""Vocabulary -> lmplz ``--renumber`` word ids (monotone with each word's MurmurHash64A), and the ARPA line order
they give each order.

Input: the vocabulary (``vocab[0] == "<unk>"``) and, per order, each n-gram's first word and suffix index. Output:
``new_id`` int64 [V] (``<unk>`` stays 0, every other word is numbered by ascending 64-bit MurmurHash64A of its
UTF-8 bytes with seed 0) and, per order, the permutation that lists the n-grams in suffix order of the new ids
(the order lmplz prints them in with ``--renumber``, the order of kenlm's trie).

Reference: kenlm ``lm/vocab.cc`` (``SortedVocabulary::ComputeRenumbering``, ``detail::HashForVocab``) and Austin
Appleby's MurmurHash2 64-bit (``MurmurHash64A``, little-endian 8-byte blocks); our own code.
"""

from __future__ import annotations

import numba
import numpy as np

__all__ = ["murmur_hash64a", "renumbered_ids", "renumbered_order"]

_M = np.uint64(0xC6A4A7935BD1E995)
_R = np.uint64(47)


@numba.njit(cache=True, nogil=True)
def _murmur_all(buf, off, length, out):  # pragma: no cover - compiled
    m = np.uint64(0xC6A4A7935BD1E995)
    r = np.uint64(47)
    for w in range(len(off)):
        o = off[w]
        n = length[w]
        h = np.uint64(n) * m  # seed 0: h = seed ^ (len * m)
        nblocks = n // 8
        for b in range(nblocks):
            k = np.uint64(0)
            for j in range(8):
                k |= np.uint64(buf[o + b * 8 + j]) << np.uint64(8 * j)
            k *= m
            k ^= k >> r
            k *= m
            h ^= k
            h *= m
        tail = n & 7
        if tail:
            t0 = o + nblocks * 8
            for j in range(tail - 1, -1, -1):
                h ^= np.uint64(buf[t0 + j]) << np.uint64(8 * j)
            h *= m
        h ^= h >> r
        h *= m
        h ^= h >> r
        out[w] = h


def murmur_hash64a(words: list[str]) -> np.ndarray:
    """uint64 [len(words)] MurmurHash64A (seed 0) of each word's UTF-8 bytes, as kenlm's ``HashForVocab``."""
    enc = [w.encode("utf-8") for w in words]
    length = np.array([len(b) for b in enc], np.int64)
    off = np.cumsum(length) - length
    buf = np.frombuffer(b"".join(enc), np.uint8) if enc else np.zeros(0, np.uint8)
    out = np.empty(len(enc), np.uint64)
    _murmur_all(buf, off, length, out)
    return out


def renumbered_ids(vocab: list[str]) -> np.ndarray:
    """int64 [V] new id of each word: ``<unk>`` (id 0) stays 0, the rest are numbered 1.. by ascending hash."""
    h = murmur_hash64a(vocab[1:])
    new = np.zeros(len(vocab), np.int64)
    new[1 + np.argsort(h, kind="stable")] = np.arange(1, len(vocab))
    return new


def renumbered_order(
    new_pos_below: np.ndarray, first: np.ndarray, suffix: np.ndarray, new_id: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Suffix order of one order's n-grams under the new ids.

    Args:
        new_pos_below: int [m_{n-1}] position of each (n-1)-gram in its own new order (order 1: ``new_id``).
        first: int [m_n] first word (old id) of each n-gram.
        suffix: int [m_n] index of its suffix (words 2..n) in order n-1.
        new_id: int64 [V] from :func:`renumbered_ids`.

    Returns:
        (perm int64 [m_n]: the n-grams in the new order, new_pos int32/int64 [m_n]: position of each n-gram).
    """
    key = np.asarray(new_pos_below)[suffix].astype(np.uint64)
    key *= np.uint64(len(new_id))
    key += new_id[first].astype(np.uint64)
    perm = np.argsort(key)
    del key
    pos = np.empty(len(perm), np.int32 if len(perm) < 2**31 else np.int64)
    pos[perm] = np.arange(len(perm), dtype=pos.dtype)
    return perm, pos
