"""A back-off n-gram model as flat numpy arrays, its fast ARPA writer and its loader from any ARPA file.

Input: per-order arrays from a builder (:mod:`lm.interpolate`, :mod:`lm.smoothing`) or an ARPA file. Output:
:class:`NgramModel`: for each order n, the n-grams in lmplz's suffix order as (first word id, index of the suffix in
order n-1), with log10 probability and log10 back-off; written as ARPA by vectorized byte assembly (no Python loop
per line), laid out and formatted exactly as lmplz writes it.

Reference: the ARPA format (SRILM ``ngram-format(5)``) and kenlm ``lm/common/print.cc`` (layout). Our own code.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np

from asr.errors import InputError
from lm.arpa import ArpaWriter, iter_arpa, read_arpa_header

__all__ = ["ModelOrder", "NgramModel", "write_model_arpa", "read_model_arpa", "float_bytes"]


@dataclass
class ModelOrder:
    """The n-grams of one order.

    Attributes:
        first: int64 [m] id of the first (oldest) word.
        suffix: int64 [m] index of words 2..n in the order n-1 arrays (-1 at order 1).
        logprob: float64 [m] log10 p(last word | the others).
        backoff: float64 [m] log10 back-off weight (0 where the n-gram is not a context; all 0 at the top order).
    """

    first: np.ndarray
    suffix: np.ndarray
    logprob: np.ndarray
    backoff: np.ndarray

    def __len__(self) -> int:
        return len(self.first)


@dataclass
class NgramModel:
    """A back-off n-gram LM.

    Attributes:
        vocab: Words by id (``<unk>``, ``<s>``, ``</s>`` first when built by us; the unigram order of an ARPA file
            when loaded).
        orders: ``orders[n-1]`` holds order n, sorted by ``(suffix, first)`` (lmplz's suffix order).
    """

    vocab: list[str]
    orders: list[ModelOrder]
    info: dict = field(default_factory=dict)

    @property
    def order(self) -> int:
        return len(self.orders)

    def counts(self) -> dict[int, int]:
        """``{n: number of n-grams}``, the ARPA header."""
        return {i + 1: len(o) for i, o in enumerate(self.orders)}

    def keys(self, n: int) -> np.ndarray:
        """uint64 [m] strictly increasing lookup keys of order n: ``suffix * V + first`` (order 1: the id)."""
        o = self.orders[n - 1]
        if n == 1:
            return o.first.astype(np.uint64)
        return o.suffix.astype(np.uint64) * np.uint64(len(self.vocab)) + o.first.astype(np.uint64)

    def columns(self, n: int, index: np.ndarray | None = None) -> np.ndarray:
        """int64 [r, n] word ids of order-n n-grams (all of them, or those at ``index``), oldest first."""
        idx = np.arange(len(self.orders[n - 1])) if index is None else np.asarray(index, np.int64)
        out = np.empty((len(idx), n), np.int64)
        for j in range(n):
            o = self.orders[n - 1 - j]
            out[:, j] = o.first[idx]
            if j < n - 1:
                idx = o.suffix[idx]
        return out

    def context_index(self, n: int) -> np.ndarray:
        """int64 [m]: for each order-n n-gram, the index of its context (words 1..n-1) in order n-1 (-1 if absent).

        Order 1 returns -1s.
        """
        o = self.orders[n - 1]
        if n == 1:
            return np.full(len(o), -1, np.int64)
        if n == 2:
            uni = self.orders[0].first
            pos = np.full(len(self.vocab), -1, np.int64)
            pos[uni] = np.arange(len(uni))
            return pos[o.first]
        sub = self.context_index(n - 1)[o.suffix]
        key = sub.astype(np.uint64) * np.uint64(len(self.vocab)) + o.first.astype(np.uint64)
        keys = self.keys(n - 1)
        order = np.argsort(key)
        sk = key[order]
        pos = np.searchsorted(keys, sk)
        pos_c = np.minimum(pos, len(keys) - 1)
        found = (pos < len(keys)) & (keys[pos_c] == sk) & (sub[order] >= 0)
        out = np.full(len(o), -1, np.int64)
        out[order] = np.where(found, pos_c, -1)
        return out


def float_bytes(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Format floats as kenlm does (shortest float32 round-trip, no trailing ``.0``, exponent only below 1e-6).

    Args:
        values: float [n].

    Returns:
        (uint8 [n, 16] zero-padded ASCII, int64 [n] lengths).
    """
    arr = np.asarray(values, np.float32)
    s = arr.astype("S16")
    buf = s.view(np.uint8).reshape(len(arr), 16).copy()
    lens = (buf != 0).sum(axis=1).astype(np.int64)
    # "-99.0" -> "-99": drop a trailing ".0"
    idx = np.arange(len(arr))
    tail_dot = (
        (lens >= 2) & (buf[idx, np.maximum(lens - 2, 0)] == ord(".")) & (buf[idx, lens - 1] == ord("0"))
    )
    lens[tail_dot] -= 2
    zero_neg = (lens == 2) & (buf[:, 0] == ord("-")) & (buf[:, 1] == ord("0"))
    buf[zero_neg, 0] = ord("0")
    lens[zero_neg] = 1
    has_e = (buf == ord("e")).any(axis=1)
    if has_e.any():
        from lm.arpa import format_floats

        for i in np.flatnonzero(has_e):
            t = format_floats(arr[i : i + 1])[0].encode()
            buf[i] = 0
            buf[i, : len(t)] = np.frombuffer(t, np.uint8)
            lens[i] = len(t)
    return buf, lens


def _copy_segments(out, dest, src, start, lens) -> None:
    total = int(lens.sum())
    if total == 0:
        return
    excl = np.cumsum(lens) - lens
    ramp = np.arange(total, dtype=np.int64)
    base = np.repeat(excl, lens)
    ramp -= base
    out[np.repeat(dest, lens) + ramp] = src[np.repeat(start, lens) + ramp]


def _encode_lines(cols, vocab_buf, vocab_off, vocab_len, prob, backoff) -> bytes:
    """ARPA lines ``prob \\t w1 w2 ... [\\t backoff] \\n`` for a block of n-grams, as one bytes object."""
    r, n = cols.shape
    pbuf, plen = prob
    wl = vocab_len[cols]  # [r, n]
    line_len = plen + 1 + wl.sum(axis=1) + (n - 1) + 1
    if backoff is not None:
        bbuf, blen = backoff
        line_len = line_len + 1 + blen
    line_start = np.cumsum(line_len) - line_len
    out = np.empty(int(line_len.sum()), np.uint8)
    out.fill(ord(" "))
    cur = line_start.copy()
    _copy_segments(out, cur, pbuf.reshape(-1), np.arange(r, dtype=np.int64) * pbuf.shape[1], plen)
    cur += plen
    out[cur] = ord("\t")
    cur += 1
    for j in range(n):
        _copy_segments(out, cur, vocab_buf, vocab_off[cols[:, j]], wl[:, j])
        cur += wl[:, j] + 1  # the space (already there) or, after the last word, the next separator
    cur -= 1
    if backoff is not None:
        out[cur] = ord("\t")
        cur += 1
        _copy_segments(out, cur, bbuf.reshape(-1), np.arange(r, dtype=np.int64) * bbuf.shape[1], blen)
        cur += blen
    out[cur] = ord("\n")
    return out.tobytes()


def write_model_arpa(
    model: NgramModel,
    path: str | os.PathLike | None,
    block: int = 200_000,
    progress=None,
    comments: list[str] | None = None,
) -> None:
    """Write a model as ARPA in lmplz's layout (atomic when ``path`` is a file; stdout when ``None``/``"-"``).

    Args:
        model: The model.
        path: Output path, or ``None``/``"-"`` for stdout.
        block: Lines assembled per vectorized block.
        progress: Optional tqdm-like object with ``update(n)``.
        comments: ``# ...`` lines before ``\\data\\``.
    """
    words = [w.encode("utf-8") for w in model.vocab]
    vocab_len = np.array([len(w) for w in words], np.int64)
    vocab_off = np.cumsum(vocab_len) - vocab_len
    vocab_buf = np.frombuffer(b"".join(words), np.uint8) if words else np.zeros(0, np.uint8)
    top = model.order
    with ArpaWriter(path, model.counts(), comments) as w:
        for n in range(1, top + 1):
            w.begin_order(n)
            o = model.orders[n - 1]
            for s in range(0, len(o), block):
                idx = np.arange(s, min(s + block, len(o)))
                cols = model.columns(n, idx)
                prob = float_bytes(np.minimum(o.logprob[idx].astype(np.float32), np.float32(0)))
                back = float_bytes(o.backoff[idx]) if n < top else None
                w.write_raw(_encode_lines(cols, vocab_buf, vocab_off, vocab_len, prob, back), len(idx))
                if progress is not None:
                    progress.update(len(idx))


def read_model_arpa(path: str | os.PathLike) -> NgramModel:
    """Load any ARPA file into an :class:`NgramModel` (n-grams re-sorted into suffix order).

    Args:
        path: ARPA file (plain or gzip).

    Returns:
        The model; word ids follow the order of the unigram section.

    Raises:
        InputError: Malformed file (from :func:`lm.arpa.iter_arpa`), an n-gram whose suffix or whose words are
            missing from the lower orders, or a duplicated n-gram.
    """
    counts = read_arpa_header(path)
    top = len(counts)
    vocab: dict[str, int] = {}
    lookup: list[dict[tuple[int, ...], int]] = []
    firsts: list[list[int]] = [[] for _ in range(top)]
    sufs: list[list[int]] = [[] for _ in range(top)]
    probs: list[list[float]] = [[] for _ in range(top)]
    backs: list[list[float]] = [[] for _ in range(top)]
    cur: dict[tuple[int, ...], int] = {}
    cur_order = 0
    for e in iter_arpa(path):
        if e.order != cur_order:
            if cur_order:
                lookup.append(cur)
            cur, cur_order = {}, e.order
        if e.order == 1:
            w = e.words[0]
            if w in vocab:
                raise InputError(path, None, f"unigram {w!r} appears twice")
            vocab[w] = len(vocab)
            ids: tuple[int, ...] = (vocab[w],)
            suf = -1
        else:
            try:
                ids = tuple(vocab[w] for w in e.words)
            except KeyError as k:
                raise InputError(
                    path, None, f"{e.order}-gram {' '.join(e.words)!r} uses {k} which has no unigram"
                ) from None
            suf = lookup[e.order - 2].get(ids[1:], -1)
            if suf < 0:
                raise InputError(
                    path,
                    None,
                    f"{e.order}-gram {' '.join(e.words)!r} has no {e.order - 1}-gram for its suffix",
                )
        if ids in cur:
            raise InputError(path, None, f"{e.order}-gram {' '.join(e.words)!r} appears twice")
        cur[ids] = len(firsts[e.order - 1])
        firsts[e.order - 1].append(ids[0])
        sufs[e.order - 1].append(suf)
        probs[e.order - 1].append(e.logprob)
        backs[e.order - 1].append(e.backoff)
    lookup.append(cur)
    # Sort each order into suffix order, remapping the next order's suffix pointers.
    orders: list[ModelOrder] = []
    remap = None
    vsize = len(vocab)
    for n in range(1, top + 1):
        first = np.asarray(firsts[n - 1], np.int64)
        suffix = np.asarray(sufs[n - 1], np.int64)
        if remap is not None:
            suffix = remap[suffix]
        key = (
            first.astype(np.uint64)
            if n == 1
            else suffix.astype(np.uint64) * np.uint64(vsize) + first.astype(np.uint64)
        )
        perm = np.argsort(key, kind="stable")
        remap = np.empty(len(perm), np.int64)
        remap[perm] = np.arange(len(perm))
        orders.append(
            ModelOrder(
                first[perm],
                suffix[perm],
                np.asarray(probs[n - 1], np.float64)[perm],
                np.asarray(backs[n - 1], np.float64)[perm],
            )
        )
    return NgramModel(vocab=list(vocab), orders=orders)
