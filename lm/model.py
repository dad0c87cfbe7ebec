"""A back-off n-gram model as flat numpy arrays, its fast ARPA writer and its loader from any ARPA file.

Input: per-order arrays from a builder (:mod:`lm.interpolate`, :mod:`lm.smoothing`) or an ARPA file. Output:
:class:`NgramModel`: for each order n, the n-grams in lmplz's suffix order as (first word id, index of the suffix in
order n-1), with log10 probability and log10 back-off; written as ARPA by vectorized byte assembly (no Python loop
per line, :mod:`lm.arpa_lines`), laid out and formatted exactly as lmplz writes it.

Reference: the ARPA format (SRILM ``ngram-format(5)``) and kenlm ``lm/common/print.cc`` (layout). Our own code.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np

from asr.errors import InputError
from lm.arpa import ArpaWriter, iter_arpa, read_arpa_header
from lm.arpa_lines import encode_lines

__all__ = ["ModelOrder", "NgramModel", "write_model_arpa", "read_model_arpa"]


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
                prob = np.minimum(o.logprob[idx].astype(np.float32), np.float32(0))
                back = o.backoff[idx] if n < top else None
                w.write_raw(encode_lines(cols, vocab_buf, vocab_off, vocab_len, prob, back), len(idx))
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
